package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.OAuthAccountStore = (*OAuthAccountStore)(nil)

// OAuthAccountStore keeps the accounts at identity providers linked to
// users, in the oauth_accounts table. An account, (Provider, AccountID),
// is linked to one user at most (a UNIQUE constraint), and each belongs to
// a user: deleting the user deletes its accounts (ON DELETE CASCADE).
//
// The provider's tokens are opaque bytes, sealed by the caller, and come
// back exactly as given; an empty token is stored as an empty bytea, never
// NULL, and comes back empty.
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
		return fmt.Errorf("postgres: %s: zero id", op)
	}
	if a.Provider == "" || a.AccountID == "" {
		return fmt.Errorf("postgres: %s: empty provider or account id", op)
	}
	created := pgTime(a.CreatedAt)
	if a.CreatedAt.IsZero() {
		created = s.db.now()
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `INSERT INTO oauth_accounts (`+oauthAccountColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		uuid(a.ID), uuid(a.UserID), a.Provider, a.AccountID, a.AccountEmail,
		bytea(a.AccessToken), bytea(a.RefreshToken), nullTime(a.ExpiresAt), created); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindOAuthAccount implements gatehouse.OAuthAccountStore: an account not
// linked to any user is CodeNotFound.
func (s *OAuthAccountStore) FindOAuthAccount(ctx context.Context, provider, accountID string) (*gatehouse.OAuthAccount, error) {
	const op = "find oauth account"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	a, err := scanOAuthAccount(c.QueryRow(ctx, `SELECT `+oauthAccountColumns+` FROM oauth_accounts
		WHERE provider = $1 AND account_id = $2`, provider, accountID))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return a, nil
}

// ListOAuthAccounts implements gatehouse.OAuthAccountStore. Accounts
// linked at the same instant come in ascending id order, so the order is
// stable. No accounts is an empty, non-nil slice.
func (s *OAuthAccountStore) ListOAuthAccounts(ctx context.Context, userID gatehouse.ID) ([]gatehouse.OAuthAccount, error) {
	const op = "list oauth accounts"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, `SELECT `+oauthAccountColumns+` FROM oauth_accounts
		WHERE user_id = $1 ORDER BY created_at, id`, uuid(userID))
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
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `UPDATE oauth_accounts
		SET account_email = $1, access_token = $2, refresh_token = $3, expires_at = $4 WHERE id = $5`,
		email, bytea(access), bytea(refresh), nullTime(expires), uuid(id))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// DeleteOAuthAccount implements gatehouse.OAuthAccountStore: an account
// that is unknown, or linked to another user, is CodeNotFound and stays.
func (s *OAuthAccountStore) DeleteOAuthAccount(ctx context.Context, userID, id gatehouse.ID) error {
	const op = "delete oauth account"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM oauth_accounts WHERE id = $1 AND user_id = $2`, uuid(id), uuid(userID))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// bytea binds b as a bytea, never NULL: pgx sends a nil slice as NULL, so
// nil becomes an empty slice.
func bytea(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanOAuthAccount(row pgx.Row) (*gatehouse.OAuthAccount, error) {
	var (
		a          gatehouse.OAuthAccount
		id, userID pgtype.UUID
		expires    *time.Time
	)
	if err := row.Scan(&id, &userID, &a.Provider, &a.AccountID, &a.AccountEmail,
		&a.AccessToken, &a.RefreshToken, &expires, &a.CreatedAt); err != nil {
		return nil, err
	}
	a.ID, a.UserID = id.Bytes, userID.Bytes
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	a.CreatedAt = a.CreatedAt.UTC()
	if expires != nil {
		a.ExpiresAt = expires.UTC()
	}
	return &a, nil
}
