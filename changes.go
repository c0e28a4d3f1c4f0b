package gatehouse

import (
	"context"
	"errors"
	"strings"
)

// ChangeKind says what kind of stored thing a Change is about.
type ChangeKind string

// The kinds of Change. Key says which one changed.
const (
	ChangeUser       ChangeKind = "user"        // a user was updated or deleted; Key is its ID
	ChangeUserRoles  ChangeKind = "user-roles"  // a user's roles changed; Key is the user's ID
	ChangeRoles      ChangeKind = "roles"       // a role was updated or deleted: every user's roles may have changed; Key is empty
	ChangeRevocation ChangeKind = "revocation"  // a token id (a JWT's jti) was revoked; Key is the id
	ChangeSession    ChangeKind = "session"     // a session ended or moved; Key is its ID
	ChangeToken      ChangeKind = "token"       // an opaque token was deleted; Key is its hash
	ChangeUserTokens ChangeKind = "user-tokens" // every opaque token of a user was deleted; Key is the user's ID
	ChangeAPIKey     ChangeKind = "api-key"     // an API key was deleted; Key is its ID
)

// Change names something that changed in a shared store, so that every
// process holding a copy of it in memory drops that copy.
type Change struct {
	Kind ChangeKind
	Key  string
}

// String encodes c as "kind:key", the form feeds carry on the wire.
func (c Change) String() string { return string(c.Kind) + ":" + c.Key }

// ParseChange decodes the form String makes.
func ParseChange(s string) (Change, error) {
	kind, key, ok := strings.Cut(s, ":")
	if !ok || kind == "" {
		return Change{}, errors.New("gatehouse: malformed change")
	}
	return Change{Kind: ChangeKind(kind), Key: key}, nil
}

// ChangeFeed carries Changes between the processes that share the stores:
// Redis pub/sub, PostgreSQL LISTEN/NOTIFY, or one process's memory.
//
// A feed gives no delivery guarantee while it is down, which is why
// Listen reports when it is up: a cache may trust what it holds only while
// the feed it listens to has been up since the entry was read.
type ChangeFeed interface {
	// Publish sends changes to every listener, this process's included.
	// An error means some listeners may not have heard of them.
	Publish(ctx context.Context, changes ...Change) error
	// Listen delivers changes published by anyone to changed, and the
	// feed's state to up: up(true) once the subscription is in place (and
	// again after every reconnection), up(false) as soon as it is lost or
	// cannot be confirmed. Changes published while up was false may never
	// arrive. Listen calls both from one goroutine, blocks until ctx ends,
	// and then returns ctx's error.
	Listen(ctx context.Context, changed func(Change), up func(bool)) error
}
