package gatehouse

import (
	"context"
	"time"
)

// Role is a named set of permissions, such as "editor" with
// "articles:read" and "articles:write". Superusers hold every permission
// without a role.
type Role struct {
	Name        string
	Description string
	Permissions []string
}

// RoleUpdate changes a role; nil fields stay as they are.
type RoleUpdate struct {
	Description *string
	Permissions *[]string
}

// RoleStore keeps roles and who has them.
//
// Errors carry codes: CodeNotFound for an unknown role (or user),
// CodeConflict for a role name in use, CodeUnavailable when the store
// cannot be reached.
type RoleStore interface {
	CreateRole(ctx context.Context, r Role) error
	FindRole(ctx context.Context, name string) (*Role, error)
	// ListRoles returns every role, by name.
	ListRoles(ctx context.Context) ([]Role, error)
	UpdateRole(ctx context.Context, name string, upd RoleUpdate) (*Role, error)
	// DeleteRole removes a role, and so takes it from its users.
	DeleteRole(ctx context.Context, name string) error
	// SetUserRoles replaces a user's roles. An unknown role name is
	// CodeNotFound and changes nothing.
	SetUserRoles(ctx context.Context, userID ID, names []string) error
	// UserRoles returns a user's roles, by name.
	UserRoles(ctx context.Context, userID ID) ([]Role, error)
}

// APIKey is what an APIKeyStore keeps of a user's API key. The key itself
// is shown once, at creation, and never stored: Hash is the hex SHA-256 of
// it, Prefix its first characters, to tell keys apart in a list.
type APIKey struct {
	ID         ID
	UserID     ID
	Name       string
	Prefix     string
	Hash       string
	Scopes     []string // the permissions the key may use, at most its owner's
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
	ExpiresAt  time.Time // zero: never expires
}

// APIKeyStore keeps API keys by hash.
//
// Errors carry codes: CodeNotFound for a missing (or expired) key,
// CodeUnavailable when the store cannot be reached.
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k APIKey) error
	// FindAPIKey returns the live key with this hash: not expired at now.
	FindAPIKey(ctx context.Context, hash string, now time.Time) (*APIKey, error)
	// ListAPIKeys returns a user's keys, expired ones included, newest
	// first.
	ListAPIKeys(ctx context.Context, userID ID) ([]APIKey, error)
	// DeleteAPIKey removes one of a user's keys; another user's key is
	// CodeNotFound.
	DeleteAPIKey(ctx context.Context, userID, id ID) error
	TouchAPIKey(ctx context.Context, id ID, at time.Time) error
}
