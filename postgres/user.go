package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.UserStore = (*UserStore)(nil)

// UserStore keeps users in the users table. E-mails are unique ignoring
// case through a unique index on lower(email).
type UserStore struct {
	db *DB
}

// NewUserStore returns a UserStore on db.
func NewUserStore(db *DB) *UserStore { return &UserStore{db: db} }

// defaultLimit is the page size FindUsers uses when the filter gives none.
const defaultLimit = 50

const userColumns = `id, email, hashed_password, is_active, is_superuser, is_verified, created_at, updated_at, fields`

func uuid(id gatehouse.ID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

// CreateUser implements gatehouse.UserStore. A taken e-mail, in any case,
// is a CodeConflict error.
func (s *UserStore) CreateUser(ctx context.Context, u *gatehouse.User) error {
	const op = "create user"
	fields, err := encodeFields(u.Fields)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	id := u.ID
	if id.IsZero() {
		id = gatehouse.NewID()
	}
	now := s.db.now()
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	_, err = c.Exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)`,
		uuid(id), u.Email, u.HashedPassword, u.IsActive, u.IsSuperuser, u.IsVerified, now, now, fields)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	// Only a stored user gets its id and times, so a failed call leaves u
	// as it was.
	u.ID, u.CreatedAt, u.UpdatedAt = id, now, now
	return nil
}

// FindUserByID implements gatehouse.UserStore.
func (s *UserStore) FindUserByID(ctx context.Context, id gatehouse.ID) (*gatehouse.User, error) {
	return s.findOne(ctx, "find user", `SELECT `+userColumns+` FROM users WHERE id = $1`, uuid(id))
}

// FindUserByEmail implements gatehouse.UserStore. The comparison uses the
// same lower() as the unique index, so it finds exactly the user that
// blocks a registration.
func (s *UserStore) FindUserByEmail(ctx context.Context, email string) (*gatehouse.User, error) {
	return s.findOne(ctx, "find user by email", `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email)
}

func (s *UserStore) findOne(ctx context.Context, op, query string, arg any) (*gatehouse.User, error) {
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	u, err := scanUser(c.QueryRow(ctx, query, arg))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return u, nil
}

// FindUsers implements gatehouse.UserStore. A zero or negative Limit means
// 50. Users created at the same instant are ordered by id, so pages never
// overlap.
func (s *UserStore) FindUsers(ctx context.Context, f gatehouse.UserFilter) ([]*gatehouse.User, int, error) {
	const op = "find users"
	limit, offset := f.Limit, max(f.Offset, 0)
	if limit <= 0 {
		limit = defaultLimit
	}
	pattern := "%" + escapeLike(f.Email) + "%"
	const where = ` WHERE ($1::text = '' OR lower(email) LIKE lower($2::text) ESCAPE '\')`

	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, 0, err
	}
	defer c.Release()
	// One snapshot for the count and the page.
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var total int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`+where, f.Email, pattern).Scan(&total); err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users`+where+`
		ORDER BY created_at, id LIMIT $3 OFFSET $4`, f.Email, pattern, limit, offset)
	if err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	users := make([]*gatehouse.User, 0, min(limit, max(total-offset, 0)))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, s.db.fail(ctx, op, err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, 0, s.db.fail(ctx, op, err)
	}
	return users, total, nil
}

// UpdateUser implements gatehouse.UserStore. It always bumps UpdatedAt,
// even when upd changes nothing. Fields are merged by jsonb ||, which keeps
// keys set to null, in the same statement, so concurrent updates of
// different keys do not lose each other's.
func (s *UserStore) UpdateUser(ctx context.Context, id gatehouse.ID, upd gatehouse.UserUpdate) (*gatehouse.User, error) {
	const op = "update user"
	var fields *string
	if len(upd.Fields) > 0 {
		b, err := json.Marshal(upd.Fields)
		if err != nil {
			return nil, fmt.Errorf("postgres: %s: encode fields: %w", op, err)
		}
		str := string(b)
		fields = &str
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	u, err := scanUser(c.QueryRow(ctx, `UPDATE users SET
			email = coalesce($2::text, email),
			hashed_password = coalesce($3::text, hashed_password),
			is_active = coalesce($4::boolean, is_active),
			is_superuser = coalesce($5::boolean, is_superuser),
			is_verified = coalesce($6::boolean, is_verified),
			fields = fields || coalesce($7::jsonb, '{}'::jsonb),
			updated_at = $8
		WHERE id = $1
			AND ($9::text IS NULL OR hashed_password = $9::text)
			AND ($10::boolean IS NULL OR is_verified = $10::boolean)
		RETURNING `+userColumns,
		uuid(id), upd.Email, upd.HashedPassword, upd.IsActive, upd.IsSuperuser, upd.IsVerified,
		fields, s.db.now(), upd.IfHashedPassword, upd.IfVerified))
	if errors.Is(err, pgx.ErrNoRows) && (upd.IfHashedPassword != nil || upd.IfVerified != nil) {
		// No row: either no such user, or a precondition failed.
		var exists bool
		if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, uuid(id)).Scan(&exists); err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		if exists {
			return nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Reason: "the user changed meanwhile"}
		}
	}
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return u, nil
}

// DeleteUser implements gatehouse.UserStore. Rows of other tables that
// belong to the user go with it (ON DELETE CASCADE).
func (s *UserStore) DeleteUser(ctx context.Context, id gatehouse.ID) error {
	const op = "delete user"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM users WHERE id = $1`, uuid(id))
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

func scanUser(row pgx.Row) (*gatehouse.User, error) {
	var (
		u      gatehouse.User
		id     pgtype.UUID
		fields []byte
	)
	if err := row.Scan(&id, &u.Email, &u.HashedPassword, &u.IsActive, &u.IsSuperuser, &u.IsVerified,
		&u.CreatedAt, &u.UpdatedAt, &fields); err != nil {
		return nil, err
	}
	u.ID = id.Bytes
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	if err := json.Unmarshal(fields, &u.Fields); err != nil {
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

// escapeLike makes s match itself in a LIKE pattern with ESCAPE '\', so a
// filter of "_" finds underscores rather than every e-mail.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
