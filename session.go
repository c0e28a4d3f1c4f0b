package gatehouse

import (
	"context"
	"time"
)

// Session is one login: the family of refresh tokens it hands out, one
// after the other, and the access tokens they mint. Ending the session ends
// them all.
type Session struct {
	ID         ID
	UserID     ID
	Backend    string // the backend that logged in; only it may refresh
	CreatedAt  time.Time
	LastUsedAt time.Time // the last login or refresh
	// IdleExpiresAt moves forward with each refresh; ExpiresAt never does.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	UserAgent     string
	IP            string
}

// Rotation asks a SessionStore to trade a refresh token for its successor.
type Rotation struct {
	Hash     string // hash of the presented refresh token
	NextHash string // hash of its successor
	Backend  string // the backend asking; another backend's token is invalid
	Now      time.Time
	// Grace is how long after a token was rotated it may be presented again
	// (two tabs refreshing at once) and yield the same successor; 0 makes
	// any second use a reuse.
	Grace   time.Duration
	IdleTTL time.Duration // the session's new idle expiry is Now+IdleTTL
}

// SessionStore keeps sessions and their refresh tokens (by hash only).
// Several server processes share one store, so Rotate must be atomic in the
// store itself (row locks, a Lua script), never by a lock in one process.
//
// Errors carry codes: CodeNotFound for a missing or ended session,
// CodeRefreshTokenInvalid and CodeRefreshTokenReused from Rotate,
// CodeUnavailable when the store cannot be reached.
type SessionStore interface {
	// CreateSession stores s (ID, times and client filled in by the
	// caller) with its first refresh token.
	CreateSession(ctx context.Context, s Session, refreshHash string) error
	// Rotate trades the token named by r.Hash for r.NextHash, in one atomic
	// step, deciding in this order:
	//   - unknown token, another backend's session, or a session expired
	//     at r.Now (idle or absolute): CodeRefreshTokenInvalid;
	//   - a token not yet rotated: its successor is stored, the session's
	//     LastUsedAt and IdleExpiresAt move (never past ExpiresAt), and the
	//     session is returned, unless the session has ended
	//     (CodeRefreshTokenInvalid);
	//   - a token rotated less than r.Grace ago, in a live session, whose
	//     successor equals r.NextHash and has not been rotated itself: the
	//     session is returned and nothing changes (the caller hands out the
	//     same successor);
	//   - any other rotated token: the session is ended if it was not yet,
	//     and the answer is CodeRefreshTokenReused, also after the session
	//     ended, so that every reuse is reported as one.
	Rotate(ctx context.Context, r Rotation) (*Session, error)
	// FindSession returns a live session (not ended, not expired at now).
	FindSession(ctx context.Context, id ID, now time.Time) (*Session, error)
	// ListSessions returns a user's live sessions, newest first.
	ListSessions(ctx context.Context, userID ID, now time.Time) ([]Session, error)
	// EndSession ends a session and its refresh tokens; ending one that is
	// gone is no error.
	EndSession(ctx context.Context, id ID) error
	// EndUserSessions ends every session of a user but except (the zero ID
	// ends all) and returns the ids it ended.
	EndUserSessions(ctx context.Context, userID, except ID) ([]ID, error)
}
