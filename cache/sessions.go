package cache

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// sessions caches FindSession, found or not.
type sessions struct {
	c     *Cache
	store gatehouse.SessionStore
	*table[sessionAnswer]
}

// sessionAnswer is a FindSession answer and the now it was asked for.
type sessionAnswer struct {
	s     gatehouse.Session // zero when not found
	asked time.Time
}

var _ gatehouse.SessionStore = (*sessions)(nil)

// Sessions wraps store. FindSession answers are kept: a live session
// until the TTL ends or the session expires (idle or absolute), and is
// still checked against the now of each call; a CodeNotFound answer for
// any later now, since an ended or expired session never comes back.
// ListSessions goes to the store.
//
// EndSession and EndUserSessions write to the store, then publish a
// gatehouse.ChangeSession for each session ended; if that fails after a
// successful write they return a CodeUnavailable error, since other
// instances may accept the sessions' tokens until their TTL ends. Rotate
// publishes the session it moved; a reuse ends a session whose ID the
// store does not give back, so then it publishes a ChangeSession with an
// empty key, on which every Cache drops all the sessions it holds. Rotate
// only logs a failed publish, to keep the store's answer (a new token, or
// the news of a reuse).
func (c *Cache) Sessions(store gatehouse.SessionStore) gatehouse.SessionStore {
	s := &sessions{c: c, store: store, table: newTable[sessionAnswer](c)}
	c.register(s)
	return s
}

func sessionChange(id gatehouse.ID) gatehouse.Change {
	return gatehouse.Change{Kind: gatehouse.ChangeSession, Key: id.String()}
}

// allSessions asks every Cache to drop all the sessions it holds.
var allSessions = gatehouse.Change{Kind: gatehouse.ChangeSession}

func (s *sessions) CreateSession(ctx context.Context, sess gatehouse.Session, refreshHash string) error {
	err := s.store.CreateSession(ctx, sess, refreshHash)
	// A "not found" for this ID can only be held here, by a caller who
	// asked before creating: session IDs are random, and nobody else knows
	// them yet.
	s.drop(sess.ID.String())
	return err
}

func (s *sessions) Rotate(ctx context.Context, r gatehouse.Rotation) (*gatehouse.Session, error) {
	sess, err := s.store.Rotate(ctx, r)
	switch {
	case err == nil && sess != nil:
		_ = s.c.publish(ctx, sessionChange(sess.ID)) // logged by publish; see Sessions
	case gatehouse.ErrorCode(err) == gatehouse.CodeRefreshTokenInvalid:
		// Nothing changed.
	default:
		// A reuse ended some session, and any other failure may have
		// done so too.
		_ = s.c.publish(ctx, allSessions) // logged by publish; see Sessions
	}
	return sess, err
}

func (s *sessions) FindSession(ctx context.Context, id gatehouse.ID, now time.Time) (*gatehouse.Session, error) {
	key := id.String()
	if e, ok := s.get(key); ok {
		switch {
		case e.notFound && !now.Before(e.val.asked):
			s.c.hit()
			return nil, notFound()
		case !e.notFound && live(&e.val.s, now):
			s.c.hit()
			sess := e.val.s
			return &sess, nil
		}
		// Asked for another instant than the answer held holds for: the
		// store decides.
	}
	s.c.miss()
	epoch := s.begin()
	got, err := s.store.FindSession(ctx, id, now)
	switch {
	case err == nil && got != nil:
		limit := got.ExpiresAt
		if got.IdleExpiresAt.Before(limit) {
			limit = got.IdleExpiresAt
		}
		s.put(key, entry[sessionAnswer]{val: sessionAnswer{s: *got, asked: now}, expires: s.c.expiry(limit), owner: got.UserID}, epoch)
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		s.put(key, entry[sessionAnswer]{val: sessionAnswer{asked: now}, notFound: true, expires: s.c.expiry(time.Time{})}, epoch)
	}
	return got, err
}

// live reports whether sess has not expired at now, idle or absolute.
func live(sess *gatehouse.Session, now time.Time) bool {
	return now.Before(sess.IdleExpiresAt) && now.Before(sess.ExpiresAt)
}

func (s *sessions) ListSessions(ctx context.Context, userID gatehouse.ID, now time.Time) ([]gatehouse.Session, error) {
	return s.store.ListSessions(ctx, userID, now)
}

func (s *sessions) EndSession(ctx context.Context, id gatehouse.ID) error {
	err := s.store.EndSession(ctx, id)
	return s.c.wrote(ctx, err, nil, sessionChange(id))
}

func (s *sessions) EndUserSessions(ctx context.Context, userID, except gatehouse.ID) ([]gatehouse.ID, error) {
	ended, err := s.store.EndUserSessions(ctx, userID, except)
	if err != nil {
		// Some sessions may have ended, which ones is unknown.
		return ended, s.c.wrote(ctx, err, []gatehouse.Code{gatehouse.CodeNotFound}, allSessions)
	}
	changes := make([]gatehouse.Change, len(ended))
	for i, id := range ended {
		changes[i] = sessionChange(id)
	}
	return ended, s.c.publish(ctx, changes...)
}

func (s *sessions) changed(ch gatehouse.Change) {
	switch ch.Kind {
	case gatehouse.ChangeSession:
		if ch.Key == "" {
			s.reset()
			return
		}
		id, ok := changeID(ch)
		if !ok {
			s.reset()
			return
		}
		s.drop(id.String())
	case gatehouse.ChangeUser:
		id, ok := changeID(ch)
		if !ok {
			s.reset()
			return
		}
		s.dropOwner(id)
	}
}
