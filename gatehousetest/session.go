package gatehousetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestSessionStore checks that a gatehouse.SessionStore gives back the
// sessions it was given (times in UTC, truncated to microseconds), lists a
// user's live sessions newest first, ends sessions idempotently, and that
// Rotate decides as gatehouse.SessionStore documents, atomically, even
// when 50 callers present one token at once. Rotate's decisions are
// checked in this order:
//
//   - an unknown token, a session of another backend, or one expired at
//     r.Now (idle or absolute) is CodeRefreshTokenInvalid and changes
//     nothing;
//   - a token not yet rotated is rotated, unless its session has ended
//     (CodeRefreshTokenInvalid);
//   - a rotated token whose session is live, rotated less than r.Grace
//     before r.Now, whose successor is r.NextHash and has not been rotated
//     itself, returns the session unchanged (the grace case);
//   - any other rotated token is a reuse: its session is ended if it was
//     not already, and the answer is CodeRefreshTokenReused. A rotated
//     token stays a reuse after its session has ended, so that of many
//     callers presenting one token at once without grace, all but the
//     first hear of the reuse.
//
// open must return a new, empty store. The suite makes up user ids; a store
// whose sessions reference users (a foreign key) must be wrapped by open so
// that CreateSession first creates the user it names. Rotate, FindSession
// and ListSessions are given explicit instants; the sessions start at the
// real time, though, since a store may set TTLs from its own clock.
func TestSessionStore(t *testing.T, open func(t *testing.T) gatehouse.SessionStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s gatehouse.SessionStore)
	}{
		{"CreateFind", testSessionCreateFind},
		{"Duplicate", testSessionDuplicate},
		{"List", testSessionList},
		{"RotateChain", testSessionRotateChain},
		{"Reuse", testSessionReuse},
		{"Grace", testSessionGrace},
		{"IdleExpiry", testSessionIdleExpiry},
		{"AbsoluteExpiry", testSessionAbsoluteExpiry},
		{"OtherBackend", testSessionOtherBackend},
		{"UnknownToken", testSessionUnknownToken},
		{"End", testSessionEnd},
		{"EndUserSessions", testSessionEndUser},
		{"ConcurrentRotateGrace", testSessionConcurrentGrace},
		{"ConcurrentRotateNoGrace", testSessionConcurrentNoGrace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open(t))
		})
	}
}

// Lifetimes of the suite's sessions, as a server might configure them.
const (
	sessionBackend = "jwt"
	sessionIdle    = 24 * time.Hour
	sessionLife    = 30 * 24 * time.Hour
	sessionGrace   = 10 * time.Second
)

// sessionStart is when the suite's sessions begin: the real time, as a
// store may count TTLs from its clock, in a zone other than UTC and with
// nanoseconds a store cannot keep.
func sessionStart() time.Time {
	return time.Now().Truncate(time.Second).Add(123456789).In(time.FixedZone("UTC-5", -5*60*60))
}

// newSession is a complete session of user that logged in at.
func newSession(user gatehouse.ID, at time.Time) gatehouse.Session {
	return gatehouse.Session{
		ID:            gatehouse.NewID(),
		UserID:        user,
		Backend:       sessionBackend,
		CreatedAt:     at,
		LastUsedAt:    at,
		IdleExpiresAt: at.Add(sessionIdle),
		ExpiresAt:     at.Add(sessionLife),
		UserAgent:     "Mozilla/5.0 (gatehousetest) «ünïcödé»",
		IP:            "2001:db8::1",
	}
}

// rot trades the refresh token named from for the one named to, the way
// the suite's backend would at now.
func rot(from, to string, now time.Time) gatehouse.Rotation {
	return gatehouse.Rotation{
		Hash:     tokenHash(from),
		NextHash: tokenHash(to),
		Backend:  sessionBackend,
		Now:      now,
		Grace:    sessionGrace,
		IdleTTL:  sessionIdle,
	}
}

// refreshed is sess as a rotation at now leaves it.
func refreshed(sess gatehouse.Session, now time.Time) gatehouse.Session {
	sess.LastUsedAt = now
	sess.IdleExpiresAt = now.Add(sessionIdle)
	if sess.IdleExpiresAt.After(sess.ExpiresAt) {
		sess.IdleExpiresAt = sess.ExpiresAt
	}
	return sess
}

func createSession(t *testing.T, s gatehouse.SessionStore, sess gatehouse.Session, token string) {
	t.Helper()
	if err := s.CreateSession(t.Context(), sess, tokenHash(token)); err != nil {
		t.Fatalf("CreateSession(%v, %q): %v", sess.ID, token, err)
	}
}

func rotate(t *testing.T, s gatehouse.SessionStore, r gatehouse.Rotation) *gatehouse.Session {
	t.Helper()
	got, err := s.Rotate(t.Context(), r)
	if err != nil {
		t.Fatalf("Rotate(%.8s… -> %.8s…) at %v: %v", r.Hash, r.NextHash, r.Now, err)
	}
	return got
}

func wantRotateError(t *testing.T, s gatehouse.SessionStore, r gatehouse.Rotation, want gatehouse.Code) {
	t.Helper()
	got, err := s.Rotate(t.Context(), r)
	if code(err) != want {
		t.Errorf("Rotate(%.8s… -> %.8s…) at %v = %+v, %v; want a %q error", r.Hash, r.NextHash, r.Now, got, err, want)
	}
}

func wantSession(t *testing.T, s gatehouse.SessionStore, want gatehouse.Session, now time.Time) {
	t.Helper()
	got, err := s.FindSession(t.Context(), want.ID, now)
	if err != nil {
		t.Fatalf("FindSession(%v) at %v: %v", want.ID, now, err)
	}
	if d := diffSession(*got, want); d != "" {
		t.Errorf("FindSession(%v) at %v: %s", want.ID, now, d)
	}
}

func wantNoSession(t *testing.T, s gatehouse.SessionStore, id gatehouse.ID, now time.Time) {
	t.Helper()
	got, err := s.FindSession(t.Context(), id, now)
	if code(err) != gatehouse.CodeNotFound {
		t.Errorf("FindSession(%v) at %v = %+v, %v; want a %q error", id, now, got, err, gatehouse.CodeNotFound)
	}
}

// wantSessions checks that ListSessions gives want, in that order.
func wantSessions(t *testing.T, s gatehouse.SessionStore, user gatehouse.ID, now time.Time, want ...gatehouse.Session) {
	t.Helper()
	got, err := s.ListSessions(t.Context(), user, now)
	if err != nil {
		t.Fatalf("ListSessions(%v) at %v: %v", user, now, err)
	}
	ids := func(ss []gatehouse.Session) []gatehouse.ID {
		var ids []gatehouse.ID
		for _, s := range ss {
			ids = append(ids, s.ID)
		}
		return ids
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Errorf("ListSessions(%v) at %v = %v, want %v", user, now, ids(got), ids(want))
		return
	}
	for i := range got {
		// #nosec G602 -- got and want have the same length: their IDs compared equal above.
		if d := diffSession(got[i], want[i]); d != "" {
			t.Errorf("ListSessions(%v) at %v, session %v: %s", user, now, got[i].ID, d)
		}
	}
}

func endUserSessions(t *testing.T, s gatehouse.SessionStore, user, except gatehouse.ID) []gatehouse.ID {
	t.Helper()
	ids, err := s.EndUserSessions(t.Context(), user, except)
	if err != nil {
		t.Fatalf("EndUserSessions(%v, %v): %v", user, except, err)
	}
	slices.SortFunc(ids, func(a, b gatehouse.ID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// sortedIDs returns the ids of ss in byte order, as endUserSessions does.
func sortedIDs(ss ...gatehouse.Session) []gatehouse.ID {
	var ids []gatehouse.ID
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	slices.SortFunc(ids, func(a, b gatehouse.ID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// diffSession lists how got differs from want, times compared as stored.
func diffSession(got, want gatehouse.Session) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID, want.UserID)
	}
	if got.Backend != want.Backend {
		add("Backend", got.Backend, want.Backend)
	}
	for _, f := range []struct {
		name      string
		got, want time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
		{"IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
	} {
		if !sameTime(f.got, f.want) {
			add(f.name, f.got, stored(f.want))
		}
	}
	if got.UserAgent != want.UserAgent {
		add("UserAgent", fmt.Sprintf("%q", got.UserAgent), fmt.Sprintf("%q", want.UserAgent))
	}
	if got.IP != want.IP {
		add("IP", got.IP, want.IP)
	}
	return strings.Join(d, "; ")
}

func testSessionCreateFind(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")
	wantSession(t, s, sess, start)
	wantSession(t, s, sess, sess.IdleExpiresAt.Add(-time.Microsecond))
	wantNoSession(t, s, sess.ID, sess.IdleExpiresAt)
	wantNoSession(t, s, gatehouse.NewID(), start)

	// The absolute expiry counts even where the idle one has not come.
	short := newSession(sess.UserID, start)
	short.ExpiresAt = start.Add(time.Hour)
	short.IdleExpiresAt = start.Add(2 * time.Hour)
	createSession(t, s, short, "short")
	wantSession(t, s, short, short.ExpiresAt.Add(-time.Microsecond))
	wantNoSession(t, s, short.ID, short.ExpiresAt)
}

func testSessionDuplicate(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")

	other := newSession(gatehouse.NewID(), start)
	if err := s.CreateSession(t.Context(), other, tokenHash("rt1")); code(err) != gatehouse.CodeConflict {
		t.Errorf("CreateSession with a refresh token in use: %v, want a %q error", err, gatehouse.CodeConflict)
	}
	same := sess
	same.UserAgent = "impostor"
	if err := s.CreateSession(t.Context(), same, tokenHash("rt-other")); code(err) != gatehouse.CodeConflict {
		t.Errorf("CreateSession with an id in use: %v, want a %q error", err, gatehouse.CodeConflict)
	}
	wantSession(t, s, sess, start)
	wantRotateError(t, s, rot("rt-other", "rt2", start.Add(time.Minute)), gatehouse.CodeRefreshTokenInvalid)
	got := rotate(t, s, rot("rt1", "rt2", start.Add(time.Minute)))
	if got.ID != sess.ID {
		t.Errorf("Rotate(rt1) gave session %v, want %v", got.ID, sess.ID)
	}
}

func testSessionList(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	user, other := gatehouse.NewID(), gatehouse.NewID()
	first := newSession(user, start)
	second := newSession(user, start.Add(time.Minute))
	ended := newSession(user, start.Add(2*time.Minute))
	expired := newSession(user, start.Add(3*time.Minute))
	expired.ExpiresAt = start.Add(time.Hour)
	idle := newSession(user, start.Add(4*time.Minute))
	idle.IdleExpiresAt = start.Add(time.Hour)
	others := newSession(other, start.Add(5*time.Minute))
	for i, sess := range []gatehouse.Session{first, second, ended, expired, idle, others} {
		createSession(t, s, sess, fmt.Sprint("rt", i))
	}
	if err := s.EndSession(t.Context(), ended.ID); err != nil {
		t.Fatalf("EndSession: %v", err)
	}

	wantSessions(t, s, user, start.Add(30*time.Minute), idle, expired, second, first)
	later := start.Add(2 * time.Hour)
	wantSessions(t, s, user, later, second, first)
	wantSessions(t, s, other, later, others)
	wantSessions(t, s, gatehouse.NewID(), later)

	// A refresh shows in the list.
	got := rotate(t, s, rot("rt0", "rt0b", later))
	wantSessions(t, s, user, later, second, *got)
}

func testSessionRotateChain(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")

	want := sess
	for i, at := range []time.Time{start.Add(time.Hour), start.Add(2 * time.Hour), start.Add(25 * time.Hour)} {
		got := rotate(t, s, rot(fmt.Sprint("rt", i+1), fmt.Sprint("rt", i+2), at))
		want = refreshed(want, at)
		if d := diffSession(*got, want); d != "" {
			t.Errorf("rotation %d at %v returned: %s", i+1, at, d)
		}
		wantSession(t, s, want, at)
	}
	wantSessions(t, s, sess.UserID, start.Add(25*time.Hour), want)
}

func testSessionReuse(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")
	rotate(t, s, rot("rt1", "rt2", start.Add(time.Hour)))
	rotate(t, s, rot("rt2", "rt3", start.Add(2*time.Hour)))

	at := start.Add(3 * time.Hour)
	wantRotateError(t, s, rot("rt1", "stolen", at), gatehouse.CodeRefreshTokenReused)
	wantNoSession(t, s, sess.ID, at)
	wantSessions(t, s, sess.UserID, at)
	// The newest token dies with its session; the rotated ones stay
	// reuses.
	wantRotateError(t, s, rot("rt3", "rt4", at), gatehouse.CodeRefreshTokenInvalid)
	wantRotateError(t, s, rot("rt1", "stolen-again", at), gatehouse.CodeRefreshTokenReused)
	wantRotateError(t, s, rot("rt2", "rt3", at), gatehouse.CodeRefreshTokenReused)
	wantRotateError(t, s, rot("stolen", "x", at), gatehouse.CodeRefreshTokenInvalid)
}

func testSessionGrace(t *testing.T, s gatehouse.SessionStore) {
	tests := []struct {
		name string
		// after runs after rt1 -> rt2 at t1 and before the retry.
		after func(t *testing.T, s gatehouse.SessionStore, sess gatehouse.Session, t1 time.Time, name func(string) string)
		// retry changes rt1 -> rt2 at t1+5s.
		retry func(r *gatehouse.Rotation, t1 time.Time)
		want  gatehouse.Code
	}{
		{name: "SameSuccessor"},
		{name: "SameInstant", retry: func(r *gatehouse.Rotation, t1 time.Time) { r.Now = t1 }},
		{name: "JustInTime", retry: func(r *gatehouse.Rotation, t1 time.Time) { r.Now = t1.Add(sessionGrace - time.Microsecond) }},
		{name: "OtherSuccessor", retry: func(r *gatehouse.Rotation, _ time.Time) { r.NextHash = tokenHash("other") }, want: gatehouse.CodeRefreshTokenReused},
		{name: "GraceOver", retry: func(r *gatehouse.Rotation, t1 time.Time) { r.Now = t1.Add(sessionGrace) }, want: gatehouse.CodeRefreshTokenReused},
		{name: "NoGrace", retry: func(r *gatehouse.Rotation, t1 time.Time) { r.Now, r.Grace = t1, 0 }, want: gatehouse.CodeRefreshTokenReused},
		{
			name: "SuccessorRotated",
			after: func(t *testing.T, s gatehouse.SessionStore, _ gatehouse.Session, t1 time.Time, name func(string) string) {
				rotate(t, s, rot(name("rt2"), name("rt3"), t1.Add(time.Second)))
			},
			want: gatehouse.CodeRefreshTokenReused,
		},
		{
			name: "SessionEnded",
			after: func(t *testing.T, s gatehouse.SessionStore, sess gatehouse.Session, _ time.Time, _ func(string) string) {
				if err := s.EndSession(t.Context(), sess.ID); err != nil {
					t.Fatalf("EndSession: %v", err)
				}
			},
			want: gatehouse.CodeRefreshTokenReused,
		},
		{
			name:  "OtherBackend",
			retry: func(r *gatehouse.Rotation, _ time.Time) { r.Backend = "cookie" },
			want:  gatehouse.CodeRefreshTokenInvalid,
		},
	}
	start := sessionStart()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case has a session and token names of its own in the
			// one store.
			name := func(token string) string { return tt.name + "/" + token }
			sess := newSession(gatehouse.NewID(), start)
			createSession(t, s, sess, name("rt1"))
			t1 := start.Add(time.Hour)
			first := rotate(t, s, rot(name("rt1"), name("rt2"), t1))
			if tt.after != nil {
				tt.after(t, s, sess, t1, name)
			}
			r := rot(name("rt1"), name("rt2"), t1.Add(5*time.Second))
			if tt.retry != nil {
				tt.retry(&r, t1)
			}
			check := t1.Add(time.Minute)
			if tt.want != "" {
				wantRotateError(t, s, r, tt.want)
				if tt.want == gatehouse.CodeRefreshTokenReused {
					wantNoSession(t, s, sess.ID, check)
				} else {
					wantSession(t, s, *first, check) // nothing changed
				}
				return
			}
			// The grace case: the same session, unchanged, and still one
			// successor, which rotates as usual.
			got := rotate(t, s, r)
			if d := diffSession(*got, *first); d != "" {
				t.Errorf("retry within the grace period returned: %s", d)
			}
			wantSession(t, s, *first, check)
			next := rotate(t, s, rot(name("rt2"), name("rt3"), check))
			if d := diffSession(*next, refreshed(*first, check)); d != "" {
				t.Errorf("rotating the successor returned: %s", d)
			}
		})
	}
}

func testSessionIdleExpiry(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")
	wantRotateError(t, s, rot("rt1", "rt2", sess.IdleExpiresAt), gatehouse.CodeRefreshTokenInvalid)
	wantNoSession(t, s, sess.ID, sess.IdleExpiresAt)
	// The failed attempt changed nothing.
	wantSession(t, s, sess, start.Add(time.Hour))
	at := sess.IdleExpiresAt.Add(-time.Microsecond)
	if got := rotate(t, s, rot("rt1", "rt2", at)); !sameTime(got.IdleExpiresAt, at.Add(sessionIdle)) {
		t.Errorf("IdleExpiresAt = %v after a refresh at %v, want %v", got.IdleExpiresAt, at, stored(at.Add(sessionIdle)))
	}
}

func testSessionAbsoluteExpiry(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	sess.ExpiresAt = start.Add(72 * time.Hour)
	createSession(t, s, sess, "rt0")
	want := sess
	for i, h := range []time.Duration{20, 40, 60, 70} {
		at := start.Add(h * time.Hour)
		got := rotate(t, s, rot(fmt.Sprint("rt", i), fmt.Sprint("rt", i+1), at))
		want = refreshed(want, at) // capped at ExpiresAt from 48 h on
		if d := diffSession(*got, want); d != "" {
			t.Errorf("refresh at +%dh: %s", h, d)
		}
	}
	if !want.IdleExpiresAt.Equal(sess.ExpiresAt) {
		t.Fatalf("test bug: IdleExpiresAt %v not capped", want.IdleExpiresAt)
	}
	// Refreshed an hour ago, yet over.
	wantRotateError(t, s, rot("rt4", "rt5", sess.ExpiresAt), gatehouse.CodeRefreshTokenInvalid)
	wantNoSession(t, s, sess.ID, sess.ExpiresAt)
	wantSession(t, s, want, sess.ExpiresAt.Add(-time.Microsecond))
}

func testSessionOtherBackend(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")
	r := rot("rt1", "rt2", start.Add(time.Hour))
	r.Backend = "cookie"
	wantRotateError(t, s, r, gatehouse.CodeRefreshTokenInvalid)
	wantSession(t, s, sess, start.Add(time.Hour))

	got := rotate(t, s, rot("rt1", "rt2", start.Add(time.Hour)))
	// Another backend presenting a rotated token is no reuse: it could
	// not have been given that token.
	r = rot("rt1", "rt3", start.Add(2*time.Hour))
	r.Backend = "cookie"
	wantRotateError(t, s, r, gatehouse.CodeRefreshTokenInvalid)
	wantSession(t, s, *got, start.Add(2*time.Hour))
}

func testSessionUnknownToken(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	wantRotateError(t, s, rot("nobody", "rt2", start), gatehouse.CodeRefreshTokenInvalid)
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")
	wantRotateError(t, s, rot("nobody", "rt2", start.Add(time.Hour)), gatehouse.CodeRefreshTokenInvalid)
	wantSession(t, s, sess, start.Add(time.Hour))
}

func testSessionEnd(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	user := gatehouse.NewID()
	sess := newSession(user, start)
	kept := newSession(user, start.Add(time.Minute))
	createSession(t, s, sess, "rt1")
	createSession(t, s, kept, "kept")
	for i, id := range []gatehouse.ID{sess.ID, sess.ID, gatehouse.NewID()} {
		if err := s.EndSession(t.Context(), id); err != nil {
			t.Errorf("EndSession #%d: %v", i+1, err)
		}
	}
	at := start.Add(time.Hour)
	wantNoSession(t, s, sess.ID, at)
	wantSession(t, s, kept, at)
	wantSessions(t, s, user, at, kept)
	wantRotateError(t, s, rot("rt1", "rt2", at), gatehouse.CodeRefreshTokenInvalid)
	rotate(t, s, rot("kept", "kept2", at))
}

func testSessionEndUser(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	user, other := gatehouse.NewID(), gatehouse.NewID()
	var mine []gatehouse.Session
	for i := range 4 {
		sess := newSession(user, start.Add(time.Duration(i)*time.Minute))
		createSession(t, s, sess, fmt.Sprint("rt", i))
		mine = append(mine, sess)
	}
	theirs := newSession(other, start)
	createSession(t, s, theirs, "theirs")
	if err := s.EndSession(t.Context(), mine[3].ID); err != nil {
		t.Fatalf("EndSession: %v", err)
	}

	at := start.Add(time.Hour)
	if got, want := endUserSessions(t, s, user, mine[1].ID), sortedIDs(mine[0], mine[2]); !slices.Equal(got, want) {
		t.Errorf("EndUserSessions(user, except #1) = %v, want %v", got, want)
	}
	wantSessions(t, s, user, at, mine[1])
	wantSessions(t, s, other, at, theirs)
	wantRotateError(t, s, rot("rt0", "rt0b", at), gatehouse.CodeRefreshTokenInvalid)
	rotate(t, s, rot("rt1", "rt1b", at))

	if got, want := endUserSessions(t, s, user, gatehouse.ID{}), sortedIDs(mine[1]); !slices.Equal(got, want) {
		t.Errorf("EndUserSessions(user, none) = %v, want %v", got, want)
	}
	wantSessions(t, s, user, at)
	wantRotateError(t, s, rot("rt1b", "rt1c", at), gatehouse.CodeRefreshTokenInvalid)
	if got := endUserSessions(t, s, user, gatehouse.ID{}); len(got) != 0 {
		t.Errorf("EndUserSessions again = %v, want none", got)
	}
	if got := endUserSessions(t, s, gatehouse.NewID(), gatehouse.ID{}); len(got) != 0 {
		t.Errorf("EndUserSessions(unknown user) = %v, want none", got)
	}
	wantSessions(t, s, other, at, theirs)
}

// concurrency is how many callers present one refresh token at once.
const concurrency = 50

func testSessionConcurrentGrace(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")
	at := start.Add(time.Hour)
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Go(func() {
			got, err := s.Rotate(t.Context(), rot("rt1", "rt2", at))
			if err != nil {
				t.Errorf("Rotate #%d: %v", i, err)
				return
			}
			if d := diffSession(*got, refreshed(sess, at)); d != "" {
				t.Errorf("Rotate #%d: %s", i, d)
			}
		})
	}
	wg.Wait()
	// One successor, which rotates once more.
	later := at.Add(time.Minute)
	rotate(t, s, rot("rt2", "rt3", later))
	wantSession(t, s, refreshed(sess, later), later)
	wantRotateError(t, s, rot("rt2", "rt3", later.Add(time.Minute)), gatehouse.CodeRefreshTokenReused)
}

func testSessionConcurrentNoGrace(t *testing.T, s gatehouse.SessionStore) {
	start := sessionStart()
	sess := newSession(gatehouse.NewID(), start)
	createSession(t, s, sess, "rt1")
	at := start.Add(time.Hour)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		winner = -1
		wins   int
	)
	for i := range concurrency {
		wg.Go(func() {
			r := rot("rt1", fmt.Sprint("rt2-", i), at)
			r.Grace = 0
			got, err := s.Rotate(t.Context(), r)
			switch code(err) {
			case "":
				if got.ID != sess.ID {
					t.Errorf("Rotate #%d gave session %v, want %v", i, got.ID, sess.ID)
				}
				mu.Lock()
				winner, wins = i, wins+1
				mu.Unlock()
			case gatehouse.CodeRefreshTokenReused:
			default:
				t.Errorf("Rotate #%d: %v, want nil or a %q error", i, err, gatehouse.CodeRefreshTokenReused)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of %d concurrent rotations of one token succeeded, want 1", wins, concurrency)
	}
	wantNoSession(t, s, sess.ID, at)
	wantRotateError(t, s, rot(fmt.Sprint("rt2-", winner), "rt3", at), gatehouse.CodeRefreshTokenInvalid)
}
