package gatehouse

import (
	"context"
	"time"
)

// User is an account. Wire schemas (what JSON a client sees) live in httpapi
// and SQL in the stores: this struct is neither.
type User struct {
	ID             ID
	Email          string
	HashedPassword string
	IsActive       bool
	IsSuperuser    bool
	IsVerified     bool
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// Fields holds the app-defined custom fields (see Field). Values are
	// JSON-compatible: string, float64, bool, nil, or what encoding/json
	// decodes into any.
	Fields map[string]any

	// Roles and Permissions are filled in when a token is issued with role
	// based access control on, so that strategies can put them in the
	// token for other services. UserStores neither read nor write them.
	Roles       []string
	Permissions []string
}

// UserUpdate changes a user. Only non-nil fields are applied; Fields sets the
// listed keys (a nil value stores null) and leaves the others alone.
type UserUpdate struct {
	Email          *string
	HashedPassword *string
	IsActive       *bool
	IsSuperuser    *bool
	IsVerified     *bool
	Fields         map[string]any

	// IfHashedPassword and IfVerified make the update conditional: it
	// applies only while the stored values still equal them, and otherwise
	// fails with CodeConflict, changing nothing. Flows that check a value
	// and then write (a reset token bound to the old hash, a verification)
	// use them, so that of two concurrent requests exactly one wins.
	IfHashedPassword *string
	IfVerified       *bool
}

// UserFilter selects users for UserStore.FindUsers.
type UserFilter struct {
	// Email, when set, keeps users whose e-mail contains it, ignoring case.
	Email  string
	Limit  int // at most this many; 0 means the store's default
	Offset int
}

// UserStore keeps users. E-mails are unique ignoring case, enforced by the
// store itself (a unique index), so concurrent writers cannot both win.
//
// Errors carry codes: CodeNotFound when no user matches, CodeConflict when an
// e-mail is taken, CodeUnavailable when the store cannot be reached.
type UserStore interface {
	// CreateUser stores u. A zero u.ID is replaced by NewID(); CreatedAt and
	// UpdatedAt are set from the store's clock.
	CreateUser(ctx context.Context, u *User) error
	FindUserByID(ctx context.Context, id ID) (*User, error)
	// FindUserByEmail matches e-mails ignoring case.
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// FindUsers returns a page of users ordered by creation time, oldest
	// first, and how many match the filter in all.
	FindUsers(ctx context.Context, f UserFilter) ([]*User, int, error)
	UpdateUser(ctx context.Context, id ID, upd UserUpdate) (*User, error)
	// DeleteUser removes the user and everything that belongs to it.
	DeleteUser(ctx context.Context, id ID) error
}

// FieldType is the JSON type of a custom field.
type FieldType int

// Custom field types.
const (
	FieldString FieldType = iota + 1
	FieldNumber
	FieldInteger
	FieldBoolean
	// FieldTime is an RFC 3339 timestamp, stored and shown in UTC.
	FieldTime
)

// Field declares an app-defined user field, such as "first_name". Fields
// are read and written by every user route and stored by every UserStore.
type Field struct {
	Name     string
	Type     FieldType
	Nullable bool // null is accepted (and is the default when not Required)
	Required bool // must be given at registration
	// Validate, if set, checks a non-null value and returns a message for
	// the client when it is not acceptable.
	Validate func(v any) string
}
