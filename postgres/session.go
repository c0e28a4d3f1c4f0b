package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.SessionStore = (*SessionStore)(nil)

// SessionStore keeps sessions in the sessions table and their refresh
// tokens, by hash, in refresh_tokens. Deleting a user deletes its sessions,
// and those their tokens (ON DELETE CASCADE).
//
// Rotate runs in one transaction that locks the session's row and then the
// token's (SELECT … FOR UPDATE), always in that order; every other writer
// of refresh_tokens (Rotate itself, the cascades from users and sessions)
// holds the session's row first too, so rotations never deadlock, and
// concurrent rotations of one token, from any number of servers, take
// turns and see each other's outcome. Its decisions use the Rotation's Now
// only, never the DB's clock or the server's.
//
// An ended session keeps its row, and its tokens theirs, until Sweep
// deletes it after it expires: a rotated token presented after the end is
// then still known as a reuse.
type SessionStore struct {
	db *DB
}

// NewSessionStore returns a SessionStore on db.
func NewSessionStore(db *DB) *SessionStore { return &SessionStore{db: db} }

const sessionColumns = `id, user_id, backend, created_at, last_used_at, idle_expires_at, expires_at, user_agent, ip`

// CreateSession implements gatehouse.SessionStore, storing s as given. An id
// or refresh hash in use is a CodeConflict error, a user that does not
// exist a CodeNotFound one.
func (s *SessionStore) CreateSession(ctx context.Context, sess gatehouse.Session, refreshHash string) error {
	const op = "create session"
	if refreshHash == "" {
		return fmt.Errorf("postgres: %s: empty refresh hash", op)
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		uuid(sess.ID), uuid(sess.UserID), sess.Backend, pgTime(sess.CreatedAt), pgTime(sess.LastUsedAt),
		pgTime(sess.IdleExpiresAt), pgTime(sess.ExpiresAt), sess.UserAgent, sess.IP); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)`,
		refreshHash, uuid(sess.ID), pgTime(sess.CreatedAt)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// Rotate implements gatehouse.SessionStore in one transaction. A reuse ends
// the session and commits that before answering CodeRefreshTokenReused;
// every other failure rolls back, so the presented token is not consumed
// (a server that loses the database mid-way answers CodeUnavailable and
// the client may retry). A rotated token stays a reuse after its session
// has ended. A NextHash in use is a CodeConflict error.
func (s *SessionStore) Rotate(ctx context.Context, r gatehouse.Rotation) (*gatehouse.Session, error) {
	const op = "rotate"
	if r.Hash == "" || r.NextHash == "" {
		return nil, fmt.Errorf("postgres: %s: empty refresh hash", op)
	}
	now := pgTime(r.Now)
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// The token names its session, which never changes; lock the session,
	// then the token.
	var sessionID pgtype.UUID
	err = tx.QueryRow(ctx, `SELECT session_id FROM refresh_tokens WHERE hash = $1`, r.Hash).Scan(&sessionID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, invalidToken(op, "unknown token")
	}
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	var (
		p     presented
		ended *time.Time
	)
	sess, err := scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+`, ended_at FROM sessions WHERE id = $1 FOR UPDATE`,
		sessionID), &ended)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, invalidToken(op, "session deleted") // with its user, since the first read
	}
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	p.session, p.ended = *sess, ended != nil
	var (
		rotatedAt *time.Time
		nextHash  *string
	)
	err = tx.QueryRow(ctx, `SELECT t.rotated_at, t.next_hash,
			EXISTS (SELECT 1 FROM refresh_tokens n WHERE n.hash = t.next_hash AND n.rotated_at IS NOT NULL)
		FROM refresh_tokens t WHERE t.hash = $1 FOR UPDATE OF t`, r.Hash).
		Scan(&rotatedAt, &nextHash, &p.nextRotated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, invalidToken(op, "token deleted")
	}
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if rotatedAt != nil {
		p.rotated, p.rotatedAt = true, rotatedAt.UTC()
	}
	if nextHash != nil {
		p.nextHash = *nextHash
	}

	v, reason := decide(r, now, &p)
	switch v {
	case verdictInvalid:
		return nil, invalidToken(op, reason)
	case verdictGrace:
		return sess, nil
	case verdictReuse:
		if !p.ended {
			if _, err := tx.Exec(ctx, `UPDATE sessions SET ended_at = $1 WHERE id = $2`, now, sessionID); err != nil {
				return nil, s.db.fail(ctx, op, err)
			}
			if err := tx.Commit(ctx); err != nil {
				return nil, s.db.fail(ctx, op, err)
			}
		}
		return nil, &gatehouse.Error{Code: gatehouse.CodeRefreshTokenReused,
			Err: fmt.Errorf("postgres: %s: session %s: %s", op, sess.ID, reason)}
	}

	idle := idleExpiry(r, now, sess.ExpiresAt)
	if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)`,
		r.NextHash, sessionID, now); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET rotated_at = $1, next_hash = $2 WHERE hash = $3`,
		now, r.NextHash, r.Hash); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE sessions SET last_used_at = $1, idle_expires_at = $2 WHERE id = $3`,
		now, idle, sessionID); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	sess.LastUsedAt, sess.IdleExpiresAt = now, idle
	return sess, nil
}

// FindSession implements gatehouse.SessionStore: a session that is unknown,
// ended, or expired at now (idle or absolute) is CodeNotFound.
func (s *SessionStore) FindSession(ctx context.Context, id gatehouse.ID, now time.Time) (*gatehouse.Session, error) {
	const op = "find session"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	sess, err := scanSession(c.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = $1 AND ended_at IS NULL AND idle_expires_at > $2 AND expires_at > $2`, uuid(id), pgTime(now)))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return sess, nil
}

// ListSessions implements gatehouse.SessionStore: the user's sessions that
// are live at now, newest (by CreatedAt) first.
func (s *SessionStore) ListSessions(ctx context.Context, userID gatehouse.ID, now time.Time) ([]gatehouse.Session, error) {
	const op = "list sessions"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND ended_at IS NULL AND idle_expires_at > $2 AND expires_at > $2
		ORDER BY created_at DESC, id DESC`, uuid(userID), pgTime(now))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	var list []gatehouse.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		list = append(list, *sess)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return list, nil
}

// EndSession implements gatehouse.SessionStore. The end is stamped with the
// DB's clock.
func (s *SessionStore) EndSession(ctx context.Context, id gatehouse.ID) error {
	const op = "end session"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL`,
		s.db.now(), uuid(id)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// EndUserSessions implements gatehouse.SessionStore. It returns the ids of
// every session it ended, expired ones included: access tokens minted
// just before a session expired may still be live. It locks the rows in id
// order, so two calls for one user cannot deadlock.
func (s *SessionStore) EndUserSessions(ctx context.Context, userID, except gatehouse.ID) ([]gatehouse.ID, error) {
	const op = "end user sessions"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return nil, err
	}
	defer c.Release()
	rows, err := c.Query(ctx, `WITH doomed AS (
			SELECT id FROM sessions WHERE user_id = $2 AND ended_at IS NULL AND id <> $3 ORDER BY id FOR UPDATE
		)
		UPDATE sessions SET ended_at = $1 FROM doomed
		WHERE sessions.id = doomed.id AND sessions.ended_at IS NULL
		RETURNING sessions.id`,
		s.db.now(), uuid(userID), uuid(except))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	var ids []gatehouse.ID
	for rows.Next() {
		var id pgtype.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		ids = append(ids, id.Bytes)
	}
	if err := rows.Err(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return ids, nil
}

// Sweep deletes the sessions that have expired by the DB's clock, ended or
// not, with their refresh tokens, and returns how many sessions it
// deleted. Servers call it now and then; nothing depends on it for
// correctness.
func (s *SessionStore) Sweep(ctx context.Context) (int64, error) {
	const op = "sweep sessions"
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	tag, err := c.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, s.db.now())
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return tag.RowsAffected(), nil
}

// scanSession reads sessionColumns, then into extra any further columns.
func scanSession(row pgx.Row, extra ...any) (*gatehouse.Session, error) {
	var (
		sess       gatehouse.Session
		id, userID pgtype.UUID
	)
	dest := append([]any{&id, &userID, &sess.Backend, &sess.CreatedAt, &sess.LastUsedAt, &sess.IdleExpiresAt,
		&sess.ExpiresAt, &sess.UserAgent, &sess.IP}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	sess.ID, sess.UserID = id.Bytes, userID.Bytes
	// pgx gives timestamptz in the local zone; the stores speak UTC.
	sess.CreatedAt, sess.LastUsedAt = sess.CreatedAt.UTC(), sess.LastUsedAt.UTC()
	sess.IdleExpiresAt, sess.ExpiresAt = sess.IdleExpiresAt.UTC(), sess.ExpiresAt.UTC()
	return &sess, nil
}

// pgTime is t as timestamptz keeps it: UTC, whole microseconds.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// presented is what the store knows of a refresh token Rotate is given.
type presented struct {
	session     gatehouse.Session
	ended       bool      // the session has ended
	rotated     bool      // the token has a successor
	rotatedAt   time.Time // when it got it
	nextHash    string    // the successor
	nextRotated bool      // the successor has a successor
}

// verdict is what Rotate makes of a presented token.
type verdict int

const (
	verdictInvalid verdict = iota // CodeRefreshTokenInvalid; nothing changes
	verdictRotate                 // store the successor, refresh the session
	verdictGrace                  // return the session; nothing changes
	verdictReuse                  // end the session; CodeRefreshTokenReused
)

// decide applies gatehouse.SessionStore's rules for Rotate at now, in the
// order gatehousetest.TestSessionStore states them, and gives the reason
// of a refusal for the log. The grace window is [rotated, rotated+Grace).
// The SQLite store decides alike.
func decide(r gatehouse.Rotation, now time.Time, p *presented) (verdict, string) {
	switch {
	case p.session.Backend != r.Backend:
		return verdictInvalid, "the session belongs to backend " + p.session.Backend
	case !now.Before(p.session.ExpiresAt):
		return verdictInvalid, "session expired"
	case !now.Before(p.session.IdleExpiresAt):
		return verdictInvalid, "session idle for too long"
	case !p.rotated && p.ended:
		return verdictInvalid, "session ended"
	case !p.rotated:
		return verdictRotate, ""
	case !p.ended && r.Grace > 0 && now.Sub(p.rotatedAt) < r.Grace && p.nextHash == r.NextHash && !p.nextRotated:
		return verdictGrace, ""
	}
	return verdictReuse, fmt.Sprintf("refresh token rotated at %s presented again", p.rotatedAt.Format(time.RFC3339Nano))
}

// idleExpiry is the session's idle expiry after a refresh at now: now plus
// the idle TTL, never past the absolute expiry.
func idleExpiry(r gatehouse.Rotation, now, expires time.Time) time.Time {
	idle := now.Add(r.IdleTTL).Truncate(time.Microsecond)
	if idle.After(expires) {
		return expires
	}
	return idle
}

// invalidToken is the CodeRefreshTokenInvalid error of op, with the reason
// for the log only: clients see the code, whatever the reason.
func invalidToken(op, reason string) error {
	return &gatehouse.Error{Code: gatehouse.CodeRefreshTokenInvalid, Err: fmt.Errorf("postgres: %s: %s", op, reason)}
}
