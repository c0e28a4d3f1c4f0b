package gatehouse

import (
	"context"
	"time"
)

// TokenRecord is what a TokenStore keeps of an opaque token (the database
// and Redis strategies). The token itself is never stored: Hash is the
// hex-encoded SHA-256 of the token's random bytes, so a leaked store yields
// no usable token.
type TokenRecord struct {
	Hash       string
	UserID     ID
	SessionID  ID // zero when the token has no session
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
	UserAgent  string
	IP         string
}

// TokenStore keeps opaque tokens by hash.
//
// Errors carry codes: CodeNotFound when no live token has the hash,
// CodeUnavailable when the store cannot be reached.
type TokenStore interface {
	CreateToken(ctx context.Context, t TokenRecord) error
	// FindToken returns the token with the given hash. An expired token
	// (ExpiresAt not after the store's clock) is not found.
	FindToken(ctx context.Context, hash string) (*TokenRecord, error)
	// TouchToken records a use of the token.
	TouchToken(ctx context.Context, hash string, at time.Time) error
	// DeleteToken removes a token; removing one that is gone is no error.
	DeleteToken(ctx context.Context, hash string) error
	// DeleteUserTokens removes every token of a user ("log out
	// everywhere") and reports how many there were.
	DeleteUserTokens(ctx context.Context, id ID) (int, error)
}

// UserTokenRevoker is implemented by strategies that can end every token of
// a user at once. The server calls it when a user is deleted.
type UserTokenRevoker interface {
	RevokeUser(ctx context.Context, id ID) error
}

// Client describes who sent a request, for the records a login leaves.
type Client struct {
	UserAgent string
	IP        string
}

type clientKey struct{}

// WithClient returns a copy of ctx that carries c.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the Client stored by WithClient, or the zero Client.
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}
