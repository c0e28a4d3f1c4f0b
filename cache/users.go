package cache

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
)

// users caches FindUserByID, found or not.
type users struct {
	c     *Cache
	store gatehouse.UserStore
	*table[*gatehouse.User]
}

var _ gatehouse.UserStore = (*users)(nil)

// Users wraps store. FindUserByID answers are kept, CodeNotFound ones
// included; the other reads go to the store, as they are not made per
// request. Every answer is a copy, so a caller changing the *User it got
// changes nothing held.
//
// UpdateUser and DeleteUser write to the store, then publish a
// gatehouse.ChangeUser, on which every Cache also drops the user's
// sessions, tokens, roles and API keys (DeleteUser removes them with the
// user). If
// that publish fails after a successful write, they return a
// CodeUnavailable error: the write happened, but other instances may trust
// the old user until their TTL ends. CreateUser publishes too, in case a
// "not found" for a caller-chosen ID is held somewhere, but only logs a
// failure: it would be wrong to report a registration that happened as
// failed.
func (c *Cache) Users(store gatehouse.UserStore) gatehouse.UserStore {
	u := &users{c: c, store: store, table: newTable[*gatehouse.User](c)}
	c.register(u)
	return u
}

func (u *users) CreateUser(ctx context.Context, usr *gatehouse.User) error {
	if err := u.store.CreateUser(ctx, usr); err != nil {
		return err
	}
	_ = u.c.publish(ctx, gatehouse.Change{Kind: gatehouse.ChangeUser, Key: usr.ID.String()}) // logged by publish; see Users
	return nil
}

func (u *users) FindUserByID(ctx context.Context, id gatehouse.ID) (*gatehouse.User, error) {
	key := id.String()
	if e, ok := u.get(key); ok {
		u.c.hit()
		if e.notFound {
			return nil, notFound()
		}
		return copyUser(e.val), nil
	}
	u.c.miss()
	epoch := u.begin()
	got, err := u.store.FindUserByID(ctx, id)
	switch {
	case err == nil && got != nil:
		u.put(key, entry[*gatehouse.User]{val: copyUser(got), expires: u.c.expiry(time.Time{})}, epoch)
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		u.put(key, entry[*gatehouse.User]{notFound: true, expires: u.c.expiry(time.Time{})}, epoch)
	}
	return got, err
}

func (u *users) FindUserByEmail(ctx context.Context, email string) (*gatehouse.User, error) {
	return u.store.FindUserByEmail(ctx, email)
}

func (u *users) FindUsers(ctx context.Context, f gatehouse.UserFilter) ([]*gatehouse.User, int, error) {
	return u.store.FindUsers(ctx, f)
}

// unchangedUser are the codes of a UserStore write that changed nothing:
// no such user, an e-mail taken, a condition not met.
var unchangedUser = []gatehouse.Code{gatehouse.CodeNotFound, gatehouse.CodeConflict}

func (u *users) UpdateUser(ctx context.Context, id gatehouse.ID, upd gatehouse.UserUpdate) (*gatehouse.User, error) {
	got, err := u.store.UpdateUser(ctx, id, upd)
	if err := u.c.wrote(ctx, err, unchangedUser, gatehouse.Change{Kind: gatehouse.ChangeUser, Key: id.String()}); err != nil {
		return nil, err
	}
	return got, nil
}

func (u *users) DeleteUser(ctx context.Context, id gatehouse.ID) error {
	err := u.store.DeleteUser(ctx, id)
	return u.c.wrote(ctx, err, unchangedUser, gatehouse.Change{Kind: gatehouse.ChangeUser, Key: id.String()})
}

func (u *users) changed(ch gatehouse.Change) {
	if ch.Kind != gatehouse.ChangeUser {
		return
	}
	id, ok := changeID(ch)
	if !ok {
		u.reset()
		return
	}
	u.drop(id.String())
}

// copyUser copies what a caller could change through the pointer: the
// struct, its slices and its Fields, nested maps and slices included.
func copyUser(u *gatehouse.User) *gatehouse.User {
	if u == nil {
		return nil
	}
	c := *u
	c.Fields = copyFields(u.Fields)
	c.Roles = slices.Clone(u.Roles)
	c.Permissions = slices.Clone(u.Permissions)
	return &c
}

func copyFields(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := maps.Clone(m)
	for k, v := range c {
		c[k] = copyValue(v)
	}
	return c
}

// copyValue copies the JSON values that are references; the others
// (string, float64, bool, nil, json.Number) are immutable.
func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return copyFields(v)
	case []any:
		c := slices.Clone(v)
		for i := range c {
			c[i] = copyValue(c[i])
		}
		return c
	case []string:
		return slices.Clone(v)
	}
	return v
}
