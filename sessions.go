package gatehouse

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"

	"strings"
	"time"
)

// refreshPrefix marks refresh tokens, so that one is never mistaken for an
// access token or the reverse: neither parses as the other.
const refreshPrefix = "ghr_"

// Defaults of Sessions.
const (
	DefaultIdleTTL     = 14 * 24 * time.Hour
	DefaultAbsoluteTTL = 90 * 24 * time.Hour
)

// Sessions runs sessions: a login starts one with a refresh token, each
// refresh trades the token for its successor, and presenting a token that
// was already traded ends the session, since only a thief or a replay would.
//
// A successor is derived from its parent with an HMAC under Key rather than
// drawn at random. Two tabs refreshing with the same token at once (within
// Grace) thus get the same successor, while nothing but hashes is stored.
type Sessions struct {
	Store SessionStore
	// Key derives successors; at least 32 bytes. Changing it makes every
	// refresh inside the grace window a reuse, nothing worse.
	Key         []byte
	IdleTTL     time.Duration // default DefaultIdleTTL
	AbsoluteTTL time.Duration // default DefaultAbsoluteTTL
	Grace       time.Duration // 0: any second use of a token is a reuse
	Now         func() time.Time
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sessions) ttls() (idle, absolute time.Duration) {
	idle, absolute = s.IdleTTL, s.AbsoluteTTL
	if idle <= 0 {
		idle = DefaultIdleTTL
	}
	if absolute <= 0 {
		absolute = DefaultAbsoluteTTL
	}
	return idle, absolute
}

// Start begins a session for u, logged in through backend, and returns it
// with its first refresh token.
func (s *Sessions) Start(ctx context.Context, u *User, backend string) (*Session, string, error) {
	if len(s.Key) < 32 {
		return nil, "", errors.New("gatehouse: Sessions.Key needs at least 32 bytes")
	}
	var raw [32]byte
	rand.Read(raw[:]) // never fails: crypto/rand panics instead
	token := refreshPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	idle, absolute := s.ttls()
	client := ClientFrom(ctx)
	sess := Session{
		ID:            NewID(),
		UserID:        u.ID,
		Backend:       backend,
		CreatedAt:     now,
		LastUsedAt:    now,
		IdleExpiresAt: minTime(now.Add(idle), now.Add(absolute)),
		ExpiresAt:     now.Add(absolute),
		UserAgent:     truncate(client.UserAgent, 512),
		IP:            client.IP,
	}
	if err := s.Store.CreateSession(ctx, sess, hashRefresh(token)); err != nil {
		return nil, "", err
	}
	return &sess, token, nil
}

// Refresh trades a refresh token, presented to backend, for its successor.
// Errors: CodeRefreshTokenInvalid (malformed, unknown, expired, ended,
// another backend's), CodeRefreshTokenReused (the session is now ended).
func (s *Sessions) Refresh(ctx context.Context, token, backend string) (*Session, string, error) {
	if !wellFormed(token) {
		return nil, "", &Error{Code: CodeRefreshTokenInvalid}
	}
	if len(s.Key) < 32 {
		return nil, "", errors.New("gatehouse: Sessions.Key needs at least 32 bytes")
	}
	next := s.successor(token)
	idle, _ := s.ttls()
	sess, err := s.Store.Rotate(ctx, Rotation{
		Hash:     hashRefresh(token),
		NextHash: hashRefresh(next),
		Backend:  backend,
		Now:      s.now(),
		Grace:    s.Grace,
		IdleTTL:  idle,
	})
	if err != nil {
		return nil, "", err
	}
	return sess, next, nil
}

// Live reports whether a session is still going. Authenticators ask it for
// every token that names a session, so an ended session's access tokens are
// refused at once, by every process sharing the store.
func (s *Sessions) Live(ctx context.Context, id ID) (bool, error) {
	_, err := s.Store.FindSession(ctx, id, s.now())
	switch ErrorCode(err) {
	case "":
		return true, nil
	case CodeNotFound:
		return false, nil
	}
	return false, err
}

// List returns a user's live sessions, newest first.
func (s *Sessions) List(ctx context.Context, userID ID) ([]Session, error) {
	return s.Store.ListSessions(ctx, userID, s.now())
}

// Find returns a live session.
func (s *Sessions) Find(ctx context.Context, id ID) (*Session, error) {
	return s.Store.FindSession(ctx, id, s.now())
}

// End ends a session (logout).
func (s *Sessions) End(ctx context.Context, id ID) error {
	return s.Store.EndSession(ctx, id)
}

// EndUser ends every session of a user but except (the zero ID for all):
// "log out everywhere", a password change, a deactivation.
func (s *Sessions) EndUser(ctx context.Context, userID, except ID) error {
	_, err := s.Store.EndUserSessions(ctx, userID, except)
	return err
}

func (s *Sessions) successor(token string) string {
	mac := hmac.New(sha256.New, s.Key)
	mac.Write([]byte(token))
	return refreshPrefix + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// wellFormed checks a refresh token's shape, so that malformed input never
// reaches the store: the prefix, then exactly 32 bytes in canonical
// unpadded base64url.
func wellFormed(token string) bool {
	body, ok := strings.CutPrefix(token, refreshPrefix)
	if !ok || len(body) != 43 {
		return false
	}
	var raw [32]byte
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(body))
	return err == nil && n == 32
}

func hashRefresh(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
