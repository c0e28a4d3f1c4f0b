package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.UserStore = (*UserStore)(nil)

// UserStore keeps users in the users table. E-mails are unique ignoring
// ASCII case through a unique index on lower(email): SQLite's lower() does
// not fold other letters.
type UserStore struct {
	db *DB
}

// NewUserStore returns a UserStore on db.
func NewUserStore(db *DB) *UserStore { return &UserStore{db: db} }

// defaultLimit is the page size FindUsers uses when the filter gives none.
const defaultLimit = 50

const userColumns = `id, email, hashed_password, is_active, is_superuser, is_verified, created_at, updated_at, fields`

// CreateUser implements gatehouse.UserStore. A taken e-mail, in any case,
// is a CodeConflict error.
func (s *UserStore) CreateUser(ctx context.Context, u *gatehouse.User) error {
	fields, err := encodeFields(u.Fields)
	if err != nil {
		return fmt.Errorf("sqlite: create user: %w", err)
	}
	id := u.ID
	if id.IsZero() {
		id = gatehouse.NewID()
	}
	now := s.db.now()
	_, err = s.db.write.ExecContext(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id.String(), u.Email, u.HashedPassword, u.IsActive, u.IsSuperuser, u.IsVerified,
		micros(now), micros(now), fields)
	if err != nil {
		return s.db.fail(ctx, "create user", err)
	}
	// Only a stored user gets its id and times, so a failed call leaves u
	// as it was.
	u.ID, u.CreatedAt, u.UpdatedAt = id, now, now
	return nil
}

// FindUserByID implements gatehouse.UserStore.
func (s *UserStore) FindUserByID(ctx context.Context, id gatehouse.ID) (*gatehouse.User, error) {
	row := s.db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id.String())
	u, err := scanUser(row)
	if err != nil {
		return nil, s.db.fail(ctx, "find user", err)
	}
	return u, nil
}

// FindUserByEmail implements gatehouse.UserStore. The comparison uses the
// same lower() as the unique index, so it finds exactly the user that
// blocks a registration.
func (s *UserStore) FindUserByEmail(ctx context.Context, email string) (*gatehouse.User, error) {
	row := s.db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower(?)`, email)
	u, err := scanUser(row)
	if err != nil {
		return nil, s.db.fail(ctx, "find user by email", err)
	}
	return u, nil
}

// FindUsers implements gatehouse.UserStore. A zero or negative Limit means
// 50. Users created at the same instant are ordered by id, so pages never
// overlap.
func (s *UserStore) FindUsers(ctx context.Context, f gatehouse.UserFilter) ([]*gatehouse.User, int, error) {
	limit, offset := f.Limit, max(f.Offset, 0)
	if limit <= 0 {
		limit = defaultLimit
	}
	pattern := "%" + escapeLike(f.Email) + "%"
	const where = ` WHERE (? = '' OR lower(email) LIKE lower(?) ESCAPE '\')`

	// One read transaction, so the count and the page see the same
	// snapshot.
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, s.db.fail(ctx, "find users", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`+where, f.Email, pattern).Scan(&total); err != nil {
		return nil, 0, s.db.fail(ctx, "find users", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+userColumns+` FROM users`+where+`
		ORDER BY created_at, id LIMIT ? OFFSET ?`, f.Email, pattern, limit, offset)
	if err != nil {
		return nil, 0, s.db.fail(ctx, "find users", err)
	}
	defer rows.Close()
	users := make([]*gatehouse.User, 0, min(limit, max(total-offset, 0)))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, s.db.fail(ctx, "find users", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.db.fail(ctx, "find users", err)
	}
	return users, total, nil
}

// UpdateUser implements gatehouse.UserStore. It always bumps UpdatedAt,
// even when upd changes nothing.
func (s *UserStore) UpdateUser(ctx context.Context, id gatehouse.ID, upd gatehouse.UserUpdate) (*gatehouse.User, error) {
	const op = "update user"
	// SQLite has no JSON merge that keeps nulls (json_patch deletes keys
	// set to null), so Fields are merged here, inside the write
	// transaction: no other write can slip in between read and write.
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer tx.Rollback()
	var stored string
	if err := tx.QueryRowContext(ctx, `SELECT fields FROM users WHERE id = ?`, id.String()).Scan(&stored); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	fields, err := mergeFields(stored, upd.Fields)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	row := tx.QueryRowContext(ctx, `UPDATE users SET
			email = coalesce(?, email),
			hashed_password = coalesce(?, hashed_password),
			is_active = coalesce(?, is_active),
			is_superuser = coalesce(?, is_superuser),
			is_verified = coalesce(?, is_verified),
			fields = ?,
			updated_at = ?
		WHERE id = ?
			AND (? IS NULL OR hashed_password = ?)
			AND (? IS NULL OR is_verified = ?)
		RETURNING `+userColumns,
		upd.Email, upd.HashedPassword, upd.IsActive, upd.IsSuperuser, upd.IsVerified,
		fields, micros(s.db.now()), id.String(),
		upd.IfHashedPassword, upd.IfHashedPassword, upd.IfVerified, upd.IfVerified)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		// The user exists (its fields were just read in this
		// transaction): a precondition failed.
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Reason: "the user changed meanwhile"}
	}
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return u, nil
}

// DeleteUser implements gatehouse.UserStore. Rows of other tables that
// belong to the user go with it (ON DELETE CASCADE).
func (s *UserStore) DeleteUser(ctx context.Context, id gatehouse.ID) error {
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id.String())
	if err != nil {
		return s.db.fail(ctx, "delete user", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.db.fail(ctx, "delete user", err)
	}
	if n == 0 {
		return s.db.fail(ctx, "delete user", sql.ErrNoRows)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanUser(sc scanner) (*gatehouse.User, error) {
	var (
		u                gatehouse.User
		id, fields       string
		created, updated int64
	)
	if err := sc.Scan(&id, &u.Email, &u.HashedPassword, &u.IsActive, &u.IsSuperuser, &u.IsVerified,
		&created, &updated, &fields); err != nil {
		return nil, err
	}
	var err error
	if u.ID, err = gatehouse.ParseID(id); err != nil {
		return nil, fmt.Errorf("stored id %q: %w", id, err)
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal([]byte(fields), &u.Fields); err != nil {
		return nil, fmt.Errorf("stored fields: %w", err)
	}
	if u.Fields == nil {
		u.Fields = map[string]any{}
	}
	return &u, nil
}

// encodeFields gives the JSON object stored for fields; nil stores {}.
func encodeFields(fields map[string]any) (string, error) {
	if fields == nil {
		return "{}", nil
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return "", fmt.Errorf("encode fields: %w", err)
	}
	return string(b), nil
}

// mergeFields sets the keys of upd in the stored JSON object. Untouched
// values stay as raw JSON, so a number is not rounded through float64.
func mergeFields(stored string, upd map[string]any) (string, error) {
	if len(upd) == 0 {
		return stored, nil
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(stored), &m); err != nil {
		return "", fmt.Errorf("stored fields: %w", err)
	}
	if m == nil { // stored "null"; the CHECK and encodeFields rule it out
		m = map[string]json.RawMessage{}
	}
	for k, v := range upd {
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("encode field %q: %w", k, err)
		}
		m[k] = b
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode fields: %w", err)
	}
	return string(b), nil
}

// escapeLike makes s match itself in a LIKE pattern with ESCAPE '\', so a
// filter of "_" finds underscores rather than every e-mail.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
