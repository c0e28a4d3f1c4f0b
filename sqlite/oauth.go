package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.OAuthAccountStore = (*OAuthAccountStore)(nil)

// OAuthAccountStore keeps the accounts at identity providers linked to
// users, in the oauth_accounts table. An account, (Provider, AccountID),
// is linked to one user at most (a UNIQUE constraint), and each belongs to
// a user: deleting the user deletes its accounts (ON DELETE CASCADE).
//
// The provider's tokens are opaque bytes, sealed by the caller, and come
// back exactly as given; an empty token is stored as an empty BLOB and
// comes back empty.
type OAuthAccountStore struct {
	db *DB
}

// NewOAuthAccountStore returns an OAuthAccountStore on db.
func NewOAuthAccountStore(db *DB) *OAuthAccountStore { return &OAuthAccountStore{db: db} }

const oauthAccountColumns = `id, user_id, provider, account_id, account_email, access_token, refresh_token, expires_at, created_at`

// CreateOAuthAccount implements gatehouse.OAuthAccountStore, storing a as
// given: the caller chooses the id. A zero CreatedAt is set from the DB's
// clock; a zero ExpiresAt stays zero. An id in use, or an account linked
// already (to this user or another), is a CodeConflict error; a user that
// does not exist a CodeNotFound one.
func (s *OAuthAccountStore) CreateOAuthAccount(ctx context.Context, a gatehouse.OAuthAccount) error {
	const op = "create oauth account"
	if a.ID.IsZero() {
		return fmt.Errorf("sqlite: %s: zero id", op)
	}
	if a.Provider == "" || a.AccountID == "" {
		return fmt.Errorf("sqlite: %s: empty provider or account id", op)
	}
	created := a.CreatedAt
	if created.IsZero() {
		created = s.db.now()
	}
	if _, err := s.db.write.ExecContext(ctx, `INSERT INTO oauth_accounts (`+oauthAccountColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID.String(), a.UserID.String(), a.Provider, a.AccountID, a.AccountEmail,
		blob(a.AccessToken), blob(a.RefreshToken), nullMicros(a.ExpiresAt),
		micros(created.UTC().Truncate(time.Microsecond))); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindOAuthAccount implements gatehouse.OAuthAccountStore: an account not
// linked to any user is CodeNotFound.
func (s *OAuthAccountStore) FindOAuthAccount(ctx context.Context, provider, accountID string) (*gatehouse.OAuthAccount, error) {
	a, err := scanOAuthAccount(s.db.read.QueryRowContext(ctx, `SELECT `+oauthAccountColumns+` FROM oauth_accounts
		WHERE provider = ? AND account_id = ?`, provider, accountID))
	if err != nil {
		return nil, s.db.fail(ctx, "find oauth account", err)
	}
	return a, nil
}

// ListOAuthAccounts implements gatehouse.OAuthAccountStore. Accounts
// linked at the same instant come in ascending id order, so the order is
// stable. No accounts is an empty, non-nil slice.
func (s *OAuthAccountStore) ListOAuthAccounts(ctx context.Context, userID gatehouse.ID) ([]gatehouse.OAuthAccount, error) {
	const op = "list oauth accounts"
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+oauthAccountColumns+` FROM oauth_accounts
		WHERE user_id = ? ORDER BY created_at, id`, userID.String())
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	accounts := []gatehouse.OAuthAccount{}
	for rows.Next() {
		a, err := scanOAuthAccount(rows)
		if err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		accounts = append(accounts, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return accounts, nil
}

// UpdateOAuthTokens implements gatehouse.OAuthAccountStore, replacing the
// e-mail, both tokens and the expiry (a zero expires clears it). An
// unknown id is CodeNotFound.
func (s *OAuthAccountStore) UpdateOAuthTokens(ctx context.Context, id gatehouse.ID, email string, access, refresh []byte, expires time.Time) error {
	const op = "update oauth tokens"
	return s.db.execOne(ctx, op, `UPDATE oauth_accounts
		SET account_email = ?, access_token = ?, refresh_token = ?, expires_at = ? WHERE id = ?`,
		email, blob(access), blob(refresh), nullMicros(expires), id.String())
}

// DeleteOAuthAccount implements gatehouse.OAuthAccountStore: an account
// that is unknown, or linked to another user, is CodeNotFound and stays.
func (s *OAuthAccountStore) DeleteOAuthAccount(ctx context.Context, userID, id gatehouse.ID) error {
	const op = "delete oauth account"
	return s.db.execOne(ctx, op, `DELETE FROM oauth_accounts WHERE id = ? AND user_id = ?`,
		id.String(), userID.String())
}

// blob binds b as a BLOB, never NULL: a nil slice is an empty BLOB.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanOAuthAccount(sc scanner) (*gatehouse.OAuthAccount, error) {
	var (
		a          gatehouse.OAuthAccount
		id, userID string
		expires    sql.NullInt64
		created    int64
	)
	if err := sc.Scan(&id, &userID, &a.Provider, &a.AccountID, &a.AccountEmail,
		&a.AccessToken, &a.RefreshToken, &expires, &created); err != nil {
		return nil, err
	}
	var err error
	if a.ID, err = gatehouse.ParseID(id); err != nil {
		return nil, fmt.Errorf("stored id %q: %w", id, err)
	}
	if a.UserID, err = gatehouse.ParseID(userID); err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", userID, err)
	}
	if expires.Valid {
		a.ExpiresAt = fromMicros(expires.Int64)
	}
	a.CreatedAt = fromMicros(created)
	return &a, nil
}
