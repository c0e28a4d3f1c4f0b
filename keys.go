package gatehouse

import (
	"context"
	"time"
)

// SigningKey is a private key that signs access tokens, as a KeyStore keeps
// it. Private is opaque to the store: the server seals it before storing.
type SigningKey struct {
	ID        string // the JWT "kid"
	Algorithm string // "EdDSA", "ES256" or "RS256"
	Private   []byte
	CreatedAt time.Time
	RetiredAt time.Time // zero while the key may still sign
}

// KeyStore keeps signing keys so that every instance of a server signs and
// verifies with the same ones.
type KeyStore interface {
	// SigningKeys returns every key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	AddSigningKey(ctx context.Context, k SigningKey) error
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
}
