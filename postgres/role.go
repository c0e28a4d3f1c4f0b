package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.RoleStore = (*RoleStore)(nil)

// RoleStore keeps roles in the roles table and who has them in
// user_roles. Deleting a role takes it from its users, and deleting a user
// takes its roles (ON DELETE CASCADE).
//
// A role's permissions come back exactly as given, order and duplicates
// included; nil is stored as an empty array and comes back as an empty,
// non-nil slice. Lists of roles are sorted by name, byte by byte (COLLATE
// "C", as Go's sort.Strings and the SQLite store), whatever the database's
// collation. Role names are not checked here: any string is a name.
//
// SetUserRoles locks the user's row first, then the roles it gives, and
// only then touches user_roles, so concurrent calls for one user take
// turns, and a role deleted meanwhile is either kept from the user or
// given and then taken with the role, never a deadlock.
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
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `INSERT INTO roles (`+roleColumns+`, created_at) VALUES ($1, $2, $3, $4)`,
		r.Name, r.Description, list(r.Permissions), s.db.now()); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// FindRole implements gatehouse.RoleStore.
func (s *RoleStore) FindRole(ctx context.Context, name string) (*gatehouse.Role, error) {
	const op = "find role"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	r, err := scanRole(c.QueryRow(ctx, `SELECT `+roleColumns+` FROM roles WHERE name = $1`, name))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return r, nil
}

// ListRoles implements gatehouse.RoleStore. No roles is an empty, non-nil
// slice.
func (s *RoleStore) ListRoles(ctx context.Context) ([]gatehouse.Role, error) {
	return s.list(ctx, "list roles", `SELECT `+roleColumns+` FROM roles ORDER BY name COLLATE "C"`)
}

// UpdateRole implements gatehouse.RoleStore and returns the role as
// updated. A non-nil Permissions replaces the list, and a pointer to an
// empty (or nil) list clears it. An unknown name is CodeNotFound.
func (s *RoleStore) UpdateRole(ctx context.Context, name string, upd gatehouse.RoleUpdate) (*gatehouse.Role, error) {
	const op = "update role"
	var perms []string // nil binds as NULL: unchanged
	if upd.Permissions != nil {
		perms = list(*upd.Permissions)
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	r, err := scanRole(c.QueryRow(ctx, `UPDATE roles SET
			description = coalesce($2, description),
			permissions = coalesce($3, permissions)
		WHERE name = $1
		RETURNING `+roleColumns, name, upd.Description, perms))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return r, nil
}

// DeleteRole implements gatehouse.RoleStore. An unknown name is
// CodeNotFound.
func (s *RoleStore) DeleteRole(ctx context.Context, name string) error {
	const op = "delete role"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM roles WHERE name = $1`, name)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if tag.RowsAffected() == 0 {
		return s.db.fail(ctx, op, pgx.ErrNoRows)
	}
	return nil
}

// SetUserRoles implements gatehouse.RoleStore in one transaction: a user
// or a role that does not exist is CodeNotFound, naming it, and leaves the
// user's roles as they were. A name given twice counts once.
func (s *RoleStore) SetUserRoles(ctx context.Context, userID gatehouse.ID, names []string) error {
	const op = "set user roles"
	names = unique(names)
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// FOR NO KEY UPDATE makes concurrent calls for the user take turns
	// without blocking rows that merely reference the user (sessions,
	// tokens), whose foreign key checks take FOR KEY SHARE.
	var one int
	err = tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, uuid(userID)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return gatehouse.Errorf(gatehouse.CodeNotFound, "postgres: %s: user %s not found", op, userID)
	}
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	// Lock the roles against deletion before touching user_roles, whose
	// rows a concurrent DeleteRole deletes after locking its role.
	rows, err := tx.Query(ctx, `SELECT name FROM roles WHERE name = ANY($1) ORDER BY name COLLATE "C" FOR KEY SHARE`, names)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	for _, name := range names {
		if !slices.Contains(found, name) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "postgres: %s: role %q not found", op, name)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM user_roles WHERE user_id = $1`, uuid(userID)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO user_roles (user_id, role_name) SELECT $1::uuid, unnest($2::text[])`,
		uuid(userID), names); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// UserRoles implements gatehouse.RoleStore. A user without roles, or one
// that does not exist, has none: an empty, non-nil slice.
func (s *RoleStore) UserRoles(ctx context.Context, userID gatehouse.ID) ([]gatehouse.Role, error) {
	return s.list(ctx, "user roles", `SELECT r.name, r.description, r.permissions
		FROM user_roles u JOIN roles r ON r.name = u.role_name
		WHERE u.user_id = $1 ORDER BY r.name COLLATE "C"`, uuid(userID))
}

func (s *RoleStore) list(ctx context.Context, op, query string, args ...any) ([]gatehouse.Role, error) {
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, query, args...)
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

func scanRole(row pgx.Row) (*gatehouse.Role, error) {
	var r gatehouse.Role
	if err := row.Scan(&r.Name, &r.Description, &r.Permissions); err != nil {
		return nil, err
	}
	r.Permissions = list(r.Permissions)
	return &r, nil
}

// list is l, or an empty list for nil: pgx binds a nil slice as NULL,
// and a key given no scopes may do nothing rather than everything.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// unique returns names without repeats, in their first order; never nil.
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
