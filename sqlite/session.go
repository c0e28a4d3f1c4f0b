package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.SessionStore = (*SessionStore)(nil)

// SessionStore keeps sessions in the sessions table and their refresh
// tokens, by hash, in refresh_tokens. Deleting a user deletes its sessions,
// and those their tokens (ON DELETE CASCADE).
//
// Rotate reads and writes in one transaction on the writer connection,
// which begins IMMEDIATE: it holds SQLite's write lock from the first read,
// so concurrent rotations of one token, in this process or another on the
// same file, take turns and see each other's outcome. Its decisions use
// the Rotation's Now only, never the DB's clock.
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
		return fmt.Errorf("sqlite: %s: empty refresh hash", op)
	}
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID.String(), sess.UserID.String(), sess.Backend, micros(sess.CreatedAt), micros(sess.LastUsedAt),
		micros(sess.IdleExpiresAt), micros(sess.ExpiresAt), sess.UserAgent, sess.IP); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`,
		refreshHash, sess.ID.String(), micros(sess.CreatedAt)); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// Rotate implements gatehouse.SessionStore in one IMMEDIATE transaction. A
// reuse ends the session and commits that before answering
// CodeRefreshTokenReused; every other failure rolls back, so the presented
// token is not consumed. A rotated token stays a reuse after its session
// has ended. A NextHash in use is a CodeConflict error.
func (s *SessionStore) Rotate(ctx context.Context, r gatehouse.Rotation) (*gatehouse.Session, error) {
	const op = "rotate"
	if r.Hash == "" || r.NextHash == "" {
		return nil, fmt.Errorf("sqlite: %s: empty refresh hash", op)
	}
	now := r.Now.UTC().Truncate(time.Microsecond)
	tx, err := s.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer tx.Rollback()

	var (
		p         presented
		sessionID string
		rotatedAt sql.NullInt64
		nextHash  sql.NullString
	)
	err = tx.QueryRowContext(ctx, `SELECT t.session_id, t.rotated_at, t.next_hash,
			EXISTS (SELECT 1 FROM refresh_tokens n WHERE n.hash = t.next_hash AND n.rotated_at IS NOT NULL)
		FROM refresh_tokens t WHERE t.hash = ?`, r.Hash).
		Scan(&sessionID, &rotatedAt, &nextHash, &p.nextRotated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, invalidToken(op, "unknown token")
	}
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	p.rotated, p.nextHash = rotatedAt.Valid, nextHash.String
	if p.rotated {
		p.rotatedAt = fromMicros(rotatedAt.Int64)
	}
	var ended sql.NullInt64
	sess, err := scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+`, ended_at FROM sessions WHERE id = ?`, sessionID), &ended)
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	p.session, p.ended = *sess, ended.Valid

	v, reason := decide(r, now, &p)
	switch v {
	case verdictInvalid:
		return nil, invalidToken(op, reason)
	case verdictGrace:
		return sess, nil
	case verdictReuse:
		if !p.ended {
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_at = ? WHERE id = ?`, micros(now), sessionID); err != nil {
				return nil, s.db.fail(ctx, op, err)
			}
			if err := tx.Commit(); err != nil {
				return nil, s.db.fail(ctx, op, err)
			}
		}
		return nil, &gatehouse.Error{Code: gatehouse.CodeRefreshTokenReused,
			Err: fmt.Errorf("sqlite: %s: session %s: %s", op, sessionID, reason)}
	}

	idle := idleExpiry(r, now, sess.ExpiresAt)
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES (?, ?, ?)`,
		r.NextHash, sessionID, micros(now)); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET rotated_at = ?, next_hash = ? WHERE hash = ?`,
		micros(now), r.NextHash, r.Hash); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_used_at = ?, idle_expires_at = ? WHERE id = ?`,
		micros(now), micros(idle), sessionID); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	sess.LastUsedAt, sess.IdleExpiresAt = now, idle
	return sess, nil
}

// FindSession implements gatehouse.SessionStore: a session that is unknown,
// ended, or expired at now (idle or absolute) is CodeNotFound.
func (s *SessionStore) FindSession(ctx context.Context, id gatehouse.ID, now time.Time) (*gatehouse.Session, error) {
	const op = "find session"
	at := micros(now.UTC().Truncate(time.Microsecond))
	sess, err := scanSession(s.db.read.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = ? AND ended_at IS NULL AND idle_expires_at > ? AND expires_at > ?`, id.String(), at, at))
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	return sess, nil
}

// ListSessions implements gatehouse.SessionStore: the user's sessions that
// are live at now, newest (by CreatedAt) first.
func (s *SessionStore) ListSessions(ctx context.Context, userID gatehouse.ID, now time.Time) ([]gatehouse.Session, error) {
	const op = "list sessions"
	at := micros(now.UTC().Truncate(time.Microsecond))
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ? AND ended_at IS NULL AND idle_expires_at > ? AND expires_at > ?
		ORDER BY created_at DESC, id DESC`, userID.String(), at, at)
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
	if _, err := s.db.write.ExecContext(ctx, `UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL`,
		micros(s.db.now()), id.String()); err != nil {
		return s.db.fail(ctx, "end session", err)
	}
	return nil
}

// EndUserSessions implements gatehouse.SessionStore. It returns the ids of
// every session it ended, expired ones included: access tokens minted
// just before a session expired may still be live.
func (s *SessionStore) EndUserSessions(ctx context.Context, userID, except gatehouse.ID) ([]gatehouse.ID, error) {
	const op = "end user sessions"
	rows, err := s.db.write.QueryContext(ctx, `UPDATE sessions SET ended_at = ?
		WHERE user_id = ? AND ended_at IS NULL AND id <> ? RETURNING id`,
		micros(s.db.now()), userID.String(), except.String())
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	defer rows.Close()
	var ids []gatehouse.ID
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
		id, err := gatehouse.ParseID(text)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s: stored id %q: %w", op, text, err)
		}
		ids = append(ids, id)
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
	res, err := s.db.write.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, micros(s.db.now()))
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	return n, nil
}

// scanSession reads sessionColumns, then into extra any further columns.
func scanSession(sc scanner, extra ...any) (*gatehouse.Session, error) {
	var (
		sess                               gatehouse.Session
		id, userID                         string
		created, lastUsed, idle, expiresAt int64
	)
	dest := append([]any{&id, &userID, &sess.Backend, &created, &lastUsed, &idle, &expiresAt, &sess.UserAgent, &sess.IP}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	var err error
	if sess.ID, err = gatehouse.ParseID(id); err != nil {
		return nil, fmt.Errorf("stored id %q: %w", id, err)
	}
	if sess.UserID, err = gatehouse.ParseID(userID); err != nil {
		return nil, fmt.Errorf("stored user id %q: %w", userID, err)
	}
	sess.CreatedAt, sess.LastUsedAt = fromMicros(created), fromMicros(lastUsed)
	sess.IdleExpiresAt, sess.ExpiresAt = fromMicros(idle), fromMicros(expiresAt)
	return &sess, nil
}

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
// The PostgreSQL store decides alike.
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
	return &gatehouse.Error{Code: gatehouse.CodeRefreshTokenInvalid, Err: fmt.Errorf("sqlite: %s: %s", op, reason)}
}
