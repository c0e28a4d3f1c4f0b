package cache

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
)

// roles caches UserRoles, found or not.
type roles struct {
	c     *Cache
	store gatehouse.RoleStore
	*table[[]gatehouse.Role]
}

var _ gatehouse.RoleStore = (*roles)(nil)

// Roles wraps store. UserRoles answers are kept, CodeNotFound ones
// included, each returned as a copy; the other reads go to the store.
//
// SetUserRoles publishes a gatehouse.ChangeUserRoles, UpdateRole and
// DeleteRole a gatehouse.ChangeRoles, on which every Cache drops all the
// users' roles it holds; if that fails after a successful write they return
// a CodeUnavailable error, since other instances may grant the old
// permissions until their TTL ends. CreateRole publishes nothing: a new
// role has no holders.
func (c *Cache) Roles(store gatehouse.RoleStore) gatehouse.RoleStore {
	r := &roles{c: c, store: store, table: newTable[[]gatehouse.Role](c)}
	c.register(r)
	return r
}

// unchangedRoles are the codes of a RoleStore write that changed nothing.
var unchangedRoles = []gatehouse.Code{gatehouse.CodeNotFound, gatehouse.CodeRoleNotFound, gatehouse.CodeConflict, gatehouse.CodeRoleAlreadyExists}

var allRoles = gatehouse.Change{Kind: gatehouse.ChangeRoles}

func (r *roles) CreateRole(ctx context.Context, role gatehouse.Role) error {
	return r.store.CreateRole(ctx, role)
}

func (r *roles) FindRole(ctx context.Context, name string) (*gatehouse.Role, error) {
	return r.store.FindRole(ctx, name)
}

func (r *roles) ListRoles(ctx context.Context) ([]gatehouse.Role, error) {
	return r.store.ListRoles(ctx)
}

func (r *roles) UpdateRole(ctx context.Context, name string, upd gatehouse.RoleUpdate) (*gatehouse.Role, error) {
	got, err := r.store.UpdateRole(ctx, name, upd)
	if err := r.c.wrote(ctx, err, unchangedRoles, allRoles); err != nil {
		return nil, err
	}
	return got, nil
}

func (r *roles) DeleteRole(ctx context.Context, name string) error {
	err := r.store.DeleteRole(ctx, name)
	return r.c.wrote(ctx, err, unchangedRoles, allRoles)
}

func (r *roles) SetUserRoles(ctx context.Context, userID gatehouse.ID, names []string) error {
	err := r.store.SetUserRoles(ctx, userID, names)
	return r.c.wrote(ctx, err, unchangedRoles, gatehouse.Change{Kind: gatehouse.ChangeUserRoles, Key: userID.String()})
}

func (r *roles) UserRoles(ctx context.Context, userID gatehouse.ID) ([]gatehouse.Role, error) {
	key := userID.String()
	if e, ok := r.get(key); ok {
		r.c.hit()
		if e.notFound {
			return nil, notFound()
		}
		return copyRoles(e.val), nil
	}
	r.c.miss()
	epoch := r.begin()
	got, err := r.store.UserRoles(ctx, userID)
	switch gatehouse.ErrorCode(err) {
	case "":
		r.put(key, entry[[]gatehouse.Role]{val: copyRoles(got), expires: r.c.expiry(time.Time{})}, epoch)
	case gatehouse.CodeNotFound:
		r.put(key, entry[[]gatehouse.Role]{notFound: true, expires: r.c.expiry(time.Time{})}, epoch)
	}
	return got, err
}

func (r *roles) changed(ch gatehouse.Change) {
	switch ch.Kind {
	case gatehouse.ChangeRoles:
		r.reset()
	case gatehouse.ChangeUserRoles, gatehouse.ChangeUser:
		id, ok := changeID(ch)
		if !ok {
			r.reset()
			return
		}
		r.drop(id.String())
	}
}

// copyRoles copies roles and their permissions, keeping nil as nil.
func copyRoles(rs []gatehouse.Role) []gatehouse.Role {
	c := slices.Clone(rs)
	for i := range c {
		c[i].Permissions = slices.Clone(c[i].Permissions)
	}
	return c
}
