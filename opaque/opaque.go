// Package opaque is the token strategy of random, server-side tokens: the
// database and Redis strategies of Gatehouse, which differ only in the
// gatehouse.TokenStore they keep tokens in.
//
// A token is 32 bytes from crypto/rand, base64url-encoded without padding
// (43 characters). Only its SHA-256 is stored, so whoever reads the store
// learns no usable token; a token is found by its hash, so no secret is
// ever compared. Unlike a JWT, an opaque token dies the moment its record
// is deleted: logout, "log out everywhere" and user deletion take effect at
// once.
package opaque

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse"
)

const (
	tokenBytes = 32
	// tokenLen is the length of an encoded token; anything else is refused
	// before the store is asked.
	tokenLen = 43

	defaultLifetime = time.Hour
	// touchEvery limits how often a use is written back: recording every
	// request would turn each authenticated read into a write.
	touchEvery = time.Minute
	// maxUserAgent bounds what a client can make us store.
	maxUserAgent = 512
)

// Config configures a Strategy. Store is required.
type Config struct {
	Store    gatehouse.TokenStore
	Lifetime time.Duration    // how long a token lives; default 1h
	Now      func() time.Time // default time.Now
}

// Strategy issues and checks opaque tokens. It implements
// gatehouse.Strategy and gatehouse.UserTokenRevoker.
type Strategy struct {
	store    gatehouse.TokenStore
	lifetime time.Duration
	now      func() time.Time
}

var (
	_ gatehouse.Strategy         = (*Strategy)(nil)
	_ gatehouse.UserTokenRevoker = (*Strategy)(nil)
)

// New returns a Strategy for cfg.
func New(cfg Config) (*Strategy, error) {
	if cfg.Store == nil {
		return nil, errors.New("opaque: Config.Store is missing")
	}
	s := &Strategy{store: cfg.Store, lifetime: cfg.Lifetime, now: cfg.Now}
	if s.lifetime <= 0 {
		s.lifetime = defaultLifetime
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Write issues a token for u and stores its hash with the client that asked
// (see gatehouse.WithClient).
func (s *Strategy) Write(ctx context.Context, u *gatehouse.User, session gatehouse.ID) (gatehouse.Token, error) {
	if u == nil || u.ID.IsZero() {
		return gatehouse.Token{}, errors.New("opaque: Write: user without an id")
	}
	var raw [tokenBytes]byte
	rand.Read(raw[:]) // never fails: crypto/rand panics instead
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	client := gatehouse.ClientFrom(ctx)
	if len(client.UserAgent) > maxUserAgent {
		client.UserAgent = client.UserAgent[:maxUserAgent]
	}
	rec := gatehouse.TokenRecord{
		Hash:       hash(raw[:]),
		UserID:     u.ID,
		SessionID:  session,
		CreatedAt:  now,
		ExpiresAt:  now.Add(s.lifetime),
		LastUsedAt: now,
		UserAgent:  client.UserAgent,
		IP:         client.IP,
	}
	if err := s.store.CreateToken(ctx, rec); err != nil {
		return gatehouse.Token{}, err
	}
	return gatehouse.Token{AccessToken: token, Expiry: rec.ExpiresAt}, nil
}

// Read checks a token: well-formed, stored, not expired. A malformed token
// never reaches the store.
func (s *Strategy) Read(ctx context.Context, token string) (gatehouse.Principal, error) {
	h, ok := parse(token)
	if !ok {
		return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	}
	rec, err := s.store.FindToken(ctx, h)
	switch gatehouse.ErrorCode(err) {
	case "":
	case gatehouse.CodeNotFound:
		return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	default:
		return gatehouse.Principal{}, err
	}
	now := s.now()
	// The store checks expiry by its own clock; checking again by ours
	// keeps a store with a lagging clock from stretching a token's life.
	if !now.Before(rec.ExpiresAt) {
		return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	}
	if now.Sub(rec.LastUsedAt) >= touchEvery {
		// Best effort: the token was just found valid, and a failed
		// bookkeeping write must not refuse the request.
		_ = s.store.TouchToken(ctx, h, now)
	}
	return gatehouse.Principal{UserID: rec.UserID, SessionID: rec.SessionID, TokenID: h, Expiry: rec.ExpiresAt}, nil
}

// Destroy deletes a token (log out). A malformed or unknown token is
// already unusable, so destroying it succeeds.
func (s *Strategy) Destroy(ctx context.Context, token string) error {
	h, ok := parse(token)
	if !ok {
		return nil
	}
	return s.store.DeleteToken(ctx, h)
}

// RevokeUser deletes every token of a user.
func (s *Strategy) RevokeUser(ctx context.Context, id gatehouse.ID) error {
	_, err := s.store.DeleteUserTokens(ctx, id)
	return err
}

// parse checks a token's form and returns its hash. Only the canonical
// encoding of 32 bytes is accepted, so one token has one spelling.
func parse(token string) (string, bool) {
	if len(token) != tokenLen {
		return "", false
	}
	var raw [tokenBytes]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(token))
	if err != nil || n != tokenBytes {
		return "", false
	}
	return hash(raw[:]), true
}

func hash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
