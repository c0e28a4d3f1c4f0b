package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.RoleStore = (*RoleStore)(nil)

// RoleStore keeps roles in the roles table and who has them in
// user_roles. Deleting a role takes it from its users, and deleting a user
// takes its roles (ON DELETE CASCADE).
//
// A role's permissions come back exactly as given, order and duplicates
// included; nil is stored as an empty list and comes back as an empty,
// non-nil slice. Lists of roles are sorted by name, byte by byte (as Go's
// sort.Strings). Role names are not checked here: any string is a name.
type RoleStore struct {
	db *DB
}

// NewRoleStore returns a RoleStore on db.
func NewRoleStore(db *DB) *RoleStore { return &RoleStore{db: db} }

const roleColumns = `name, description, permissions`

// CreateRole implements gatehouse.RoleStore. A name in use is a
// CodeConflict error.
func (s *RoleStore) CreateRole(ctx context.Context, r gatehouse.Role) error {
	const op = "create role"
	perms, err := encodeList(r.Permissions)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if _, err := s.db.write.ExecContext(ctx, `INSERT INTO roles (`+roleColumns+`, created_at) VALUES (?, ?, ?, ?)`,
		r.Name, r.Description, perms, micros(s.db.now())); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindRole implements gatehouse.RoleStore.
func (s *RoleStore) FindRole(ctx context.Context, name string) (*gatehouse.Role, error) {
	r, err := scanRole(s.db.read.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM roles WHERE name = ?`, name))
	if err != nil {
		return nil, s.db.fail(ctx, "find role", err)
	}
	return r, nil
}

// ListRoles implements gatehouse.RoleStore. No roles is an empty, non-nil
// slice.
func (s *RoleStore) ListRoles(ctx context.Context) ([]gatehouse.Role, error) {
	return s.list(ctx, "list roles", `SELECT `+roleColumns+` FROM roles ORDER BY name`)
}

// UpdateRole implements gatehouse.RoleStore and returns the role as
// updated. A non-nil Permissions replaces the list, and a pointer to an
// empty (or nil) list clears it. An unknown name is CodeNotFound.
func (s *RoleStore) UpdateRole(ctx context.Context, name string, upd gatehouse.RoleUpdate) (*gatehouse.Role, error) {
	const op = "update role"
	var perms sql.NullString
	if upd.Permissions != nil {
		enc, err := encodeList(*upd.Permissions)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: %w", op, err)
		}
		perms = sql.NullString{String: enc, Valid: true}
	}
	r, err := scanRole(s.db.write.QueryRowContext(ctx, `UPDATE roles SET
			description = coalesce(?, description),
			permissions = coalesce(?, permissions)
		WHERE name = ?
		RETURNING `+roleColumns, upd.Description, perms, name))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return r, nil
}

// DeleteRole implements gatehouse.RoleStore. An unknown name is
// CodeNotFound.
func (s *RoleStore) DeleteRole(ctx context.Context, name string) error {
	const op = "delete role"
	return s.db.execOne(ctx, op, `DELETE FROM roles WHERE name = ?`, name)
}

// SetUserRoles implements gatehouse.RoleStore in one transaction: a user
// or a role that does not exist is CodeNotFound, naming it, and leaves the
// user's roles as they were. A name given twice counts once.
func (s *RoleStore) SetUserRoles(ctx context.Context, userID gatehouse.ID, names []string) error {
	const op = "set user roles"
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, userID.String()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return gatehouse.Errorf(gatehouse.CodeNotFound, "sqlite: %s: user %s not found", op, userID)
	}
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	names = unique(names)
	for _, name := range names {
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM roles WHERE name = ?`, name).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "sqlite: %s: role %q not found", op, name)
		}
		if err != nil {
			return s.db.fail(ctx, op, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = ?`, userID.String()); err != nil {
		return s.db.fail(ctx, op, err)
	}
	for _, name := range names {
		if _, err := tx.ExecContext(ctx, `INSERT INTO user_roles (user_id, role_name) VALUES (?, ?)`,
			userID.String(), name); err != nil {
			return s.db.fail(ctx, op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// UserRoles implements gatehouse.RoleStore. A user without roles, or one
// that does not exist, has none: an empty, non-nil slice.
func (s *RoleStore) UserRoles(ctx context.Context, userID gatehouse.ID) ([]gatehouse.Role, error) {
	return s.list(ctx, "user roles", `SELECT r.name, r.description, r.permissions
		FROM user_roles u JOIN roles r ON r.name = u.role_name
		WHERE u.user_id = ? ORDER BY r.name`, userID.String())
}

func (s *RoleStore) list(ctx context.Context, op, query string, args ...any) ([]gatehouse.Role, error) {
	rows, err := s.db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	roles := []gatehouse.Role{}
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		roles = append(roles, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return roles, nil
}

func scanRole(sc scanner) (*gatehouse.Role, error) {
	var (
		r     gatehouse.Role
		perms string
	)
	if err := sc.Scan(&r.Name, &r.Description, &perms); err != nil {
		return nil, err
	}
	var err error
	if r.Permissions, err = decodeList(perms); err != nil {
		return nil, fmt.Errorf("role %q: stored permissions: %w", r.Name, err)
	}
	return &r, nil
}

// encodeList gives the JSON array stored for a list of strings; nil
// stores [], so that a key given no scopes may do nothing rather than
// everything.
func encodeList(list []string) (string, error) {
	if list == nil {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeList reads a stored JSON array of strings, never returning nil.
func decodeList(stored string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(stored), &list); err != nil {
		return nil, err
	}
	if list == nil {
		list = []string{}
	}
	return list, nil
}

// unique returns names without repeats, in their first order.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
