package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.SessionStore = (*SessionStore)(nil)

// SessionStore keeps sessions and their refresh tokens (by hash) in Redis:
//
//	<prefix>session:{<session id>}                 hash of the session's fields
//	<prefix>session:{<session id>}:refresh:<hash>  hash of one refresh token: created, rotated, next
//	<prefix>refresh:<hash>                         the session id of a refresh token
//	<prefix>sessions:<user id>                     sorted set of the user's session ids, scored by expiry
//
// Every key lives until the session's ExpiresAt (its TTL counted from
// [DB.Now]); the user's set as long as the longest-lived session. An ended
// session keeps its keys until then, so that a rotated refresh token
// presented after the end is still known as a reuse.
//
// Rotate first reads the token's session id from <prefix>refresh:<hash>,
// then decides and writes in one Lua script over the session's keys. Those
// share the hash tag {<session id>}, so on a Redis Cluster they live in one
// slot and the script runs there atomically, as it does on a single server
// or behind Sentinel; concurrent rotations of one token, from any number
// of servers, take turns. The script checks everything again, so a stale
// or forged pointer cannot pass. The pointer of the successor is written
// before the script, so a failure never leaves a rotated token without a
// findable successor; a pointer written for a rotation that did not
// happen names no token of the session and expires with it. On a Cluster
// the Prefix must not contain '{', or the hash tag would be another one.
//
// Decisions use the Rotation's Now, or the now FindSession and ListSessions
// are given, never Redis' clock: a key Redis has not evicted yet is never
// taken for a live session.
type SessionStore struct {
	db *DB
}

// NewSessionStore returns a SessionStore on db.
func NewSessionStore(db *DB) *SessionStore { return &SessionStore{db: db} }

// Fields of a session's hash. A session that has not ended has no "ended".
const (
	sessionUser     = "user"
	sessionBackend  = "backend"
	sessionCreated  = "created"
	sessionLastUsed = "last_used"
	sessionIdle     = "idle_expires"
	sessionExpires  = "expires"
	sessionUA       = "ua"
	sessionIP       = "ip"
	sessionEnded    = "ended"
)

// Verdicts of rotateScript.
const (
	verdictInvalid  = 0 // CodeRefreshTokenInvalid; nothing changed
	verdictSession  = 1 // rotated, or the grace case: the session follows
	verdictReuse    = 2 // the session is ended (now or before); CodeRefreshTokenReused
	verdictConflict = 3 // the successor's hash is a token of the session already
)

// createSessionScript writes a session and its first refresh token unless
// the session exists. KEYS[1] session, KEYS[2] token record; ARGV the
// session's fields, then the TTL in milliseconds. Returns 1 when written,
// 0 when the session existed.
var createSessionScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
	return 0
end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'backend', ARGV[2], 'created', ARGV[3], 'last_used', ARGV[4],
	'idle_expires', ARGV[5], 'expires', ARGV[6], 'ua', ARGV[7], 'ip', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('HSET', KEYS[2], 'created', ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
return 1
`)

// rotateScript is Rotate's decision, in the order of the SQL stores (see
// gatehousetest.TestSessionStore). Times are unix microseconds, which a
// Lua number holds exactly; values are written as the strings they came
// in, as Redis would format a large Lua number with an exponent.
//
// KEYS[1] session, KEYS[2] presented token's record, KEYS[3] successor's
// record. ARGV[1] backend, ARGV[2] now, ARGV[3] grace (0: none), ARGV[4]
// the successor's hash, ARGV[5] now plus the idle TTL.
//
// Returns {verdict, reason} for verdictInvalid and verdictConflict,
// {verdictSession, HGETALL of the session}, or {verdictReuse, rotated at,
// user id}.
var rotateScript = goredis.NewScript(`
local s = redis.call('HMGET', KEYS[1], 'backend', 'idle_expires', 'expires', 'ended', 'user')
if not s[1] then
	return {0, 'session gone'}
end
local t = redis.call('HMGET', KEYS[2], 'created', 'rotated', 'next')
if not t[1] then
	return {0, 'unknown token'}
end
local now = tonumber(ARGV[2])
if s[1] ~= ARGV[1] then
	return {0, 'the session belongs to backend ' .. s[1]}
end
if now >= tonumber(s[3]) then
	return {0, 'session expired'}
end
if now >= tonumber(s[2]) then
	return {0, 'session idle for too long'}
end
if not t[2] then
	if s[4] then
		return {0, 'session ended'}
	end
	if redis.call('EXISTS', KEYS[3]) == 1 then
		return {3, 'the successor is a token of the session already'}
	end
	local idle = ARGV[5]
	if tonumber(idle) > tonumber(s[3]) then
		idle = s[3]
	end
	redis.call('HSET', KEYS[2], 'rotated', ARGV[2], 'next', ARGV[4])
	redis.call('HSET', KEYS[3], 'created', ARGV[2])
	local ttl = redis.call('PTTL', KEYS[1])
	if ttl > 0 then
		redis.call('PEXPIRE', KEYS[3], ttl)
	end
	redis.call('HSET', KEYS[1], 'last_used', ARGV[2], 'idle_expires', idle)
	return {1, redis.call('HGETALL', KEYS[1])}
end
local grace = tonumber(ARGV[3])
if not s[4] and grace > 0 and now - tonumber(t[2]) < grace and t[3] == ARGV[4]
		and not redis.call('HGET', KEYS[3], 'rotated') then
	return {1, redis.call('HGETALL', KEYS[1])}
end
if not s[4] then
	redis.call('HSET', KEYS[1], 'ended', ARGV[2])
end
return {2, t[2], s[5]}
`)

// endScript ends the session at KEYS[1] at ARGV[1] unless it has ended,
// or belongs to another user than ARGV[2] (when not empty). It never
// creates the key. Returns {1, user id} when it ended the session, {0,
// user id} when it did not, {0, ""} when the session is gone.
var endScript = goredis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'user')
if not u then
	return {0, ''}
end
if (ARGV[2] ~= '' and u ~= ARGV[2]) or redis.call('HEXISTS', KEYS[1], 'ended') == 1 then
	return {0, u}
end
redis.call('HSET', KEYS[1], 'ended', ARGV[1])
return {1, u}
`)

func (s *SessionStore) sessionKey(id string) string { return s.db.Prefix + "session:{" + id + "}" }

func (s *SessionStore) recordKey(id, hash string) string {
	return s.db.Prefix + "session:{" + id + "}:refresh:" + hash
}

func (s *SessionStore) pointerKey(hash string) string { return s.db.key("refresh", hash) }

func (s *SessionStore) userKey(id gatehouse.ID) string { return s.db.key("sessions", id.String()) }

// CreateSession implements gatehouse.SessionStore, storing s as given. An id
// or refresh hash in use is a CodeConflict error. A session that has
// expired already by the DB's clock is not stored: it could never be
// found.
func (s *SessionStore) CreateSession(ctx context.Context, sess gatehouse.Session, refreshHash string) error {
	const op = "create session"
	if refreshHash == "" {
		return fmt.Errorf("redis: %s: empty refresh hash", op)
	}
	ttl := s.db.ttl(sess.ExpiresAt)
	if ttl <= 0 {
		return nil
	}
	id, userKey, pointer := sess.ID.String(), s.userKey(sess.UserID), s.pointerKey(refreshHash)

	// The user's set first, so that EndUserSessions never misses a
	// session: add the id, drop members that have expired, and make the
	// set live at least as long as this session (NX gives a new set its
	// first TTL, GT extends and never shortens an existing one). With
	// it, claim the hash.
	setTTL := (ttl + userSetSlack).Milliseconds()
	var claim *goredis.BoolCmd
	if _, err := s.db.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZRemRangeByScore(ctx, userKey, "-inf", strconv.FormatInt(micros(s.db.now()), 10))
		p.ZAdd(ctx, userKey, goredis.Z{Score: float64(micros(sess.ExpiresAt)), Member: id})
		p.Do(ctx, "PEXPIRE", userKey, setTTL, "NX")
		p.Do(ctx, "PEXPIRE", userKey, setTTL, "GT")
		claim = p.SetNX(ctx, pointer, id, ttl)
		return nil
	}); err != nil {
		return s.db.fail(ctx, op, err)
	}
	if !claim.Val() {
		return &gatehouse.Error{Code: gatehouse.CodeConflict, Err: fmt.Errorf("redis: %s: refresh hash in use", op)}
	}

	written, err := createSessionScript.Run(ctx, s.db.client, []string{s.sessionKey(id), s.recordKey(id, refreshHash)},
		sess.UserID.String(), sess.Backend, micros(sess.CreatedAt), micros(sess.LastUsedAt),
		micros(sess.IdleExpiresAt), micros(sess.ExpiresAt), sess.UserAgent, sess.IP, ttl.Milliseconds()).Int()
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if written == 0 {
		// The hash was claimed for this call; give it back. The id stays
		// in this user's set, where it names another user's session:
		// ListSessions and EndUserSessions check whose it is.
		s.db.client.Del(ctx, pointer)
		return &gatehouse.Error{Code: gatehouse.CodeConflict, Err: fmt.Errorf("redis: %s: session id in use", op)}
	}
	return nil
}

// Rotate implements gatehouse.SessionStore: one read of the token's
// session id, a write of the successor's, then one Lua script that decides
// and writes atomically. A reuse ends the session before the answer
// CodeRefreshTokenReused; every other failure changes nothing, so the
// presented token is not consumed. A rotated token stays a reuse after its
// session has ended. A NextHash in use is a CodeConflict error.
func (s *SessionStore) Rotate(ctx context.Context, r gatehouse.Rotation) (*gatehouse.Session, error) {
	const op = "rotate"
	if r.Hash == "" || r.NextHash == "" {
		return nil, fmt.Errorf("redis: %s: empty refresh hash", op)
	}
	now := r.Now.UTC().Truncate(time.Microsecond)

	var (
		get  *goredis.StringCmd
		pttl *goredis.DurationCmd
	)
	pointer := s.pointerKey(r.Hash)
	if _, err := s.db.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, pointer)
		pttl = p.PTTL(ctx, pointer)
		return nil
	}); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, s.db.fail(ctx, op, err)
	}
	stored, err := get.Result()
	if errors.Is(err, goredis.Nil) {
		return nil, invalidToken(op, "unknown token")
	}
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	sessionID, err := gatehouse.ParseID(stored)
	if err != nil {
		return nil, invalidToken(op, "malformed session id")
	}
	ttl := pttl.Val()
	if ttl <= 0 {
		// Expiring this very moment, or (never written so) without a TTL.
		return nil, invalidToken(op, "token without a TTL")
	}
	id := sessionID.String()

	// Claim the successor's hash for this session, for as long as the
	// presented token lives. Its value is read back: several callers in
	// the grace window claim it for the same session.
	prev, err := s.db.client.Do(ctx, "SET", s.pointerKey(r.NextHash), id, "PX", ttl.Milliseconds(), "NX", "GET").Text()
	switch {
	case errors.Is(err, goredis.Nil): // claimed
	case err != nil:
		return nil, s.db.fail(ctx, op, err)
	case prev != id:
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Err: fmt.Errorf("redis: %s: next hash in use", op)}
	}

	grace := int64(0)
	if r.Grace > 0 {
		// Rounded up: for whole microseconds d, d < Grace exactly when
		// d < ceil(Grace).
		grace = int64((r.Grace + time.Microsecond - 1) / time.Microsecond)
	}
	res, err := rotateScript.Run(ctx, s.db.client,
		[]string{s.sessionKey(id), s.recordKey(id, r.Hash), s.recordKey(id, r.NextHash)},
		r.Backend, micros(now), grace, r.NextHash, micros(now.Add(r.IdleTTL))).Slice()
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if len(res) < 2 {
		return nil, fmt.Errorf("redis: %s: unexpected reply %v", op, res)
	}
	verdict, _ := res[0].(int64)
	switch verdict {
	case verdictInvalid:
		reason, _ := res[1].(string)
		return nil, invalidToken(op, reason)
	case verdictConflict:
		reason, _ := res[1].(string)
		return nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Err: fmt.Errorf("redis: %s: %s", op, reason)}
	case verdictReuse:
		rotated, _ := res[1].(string)
		if len(res) > 2 {
			// Best effort: ListSessions skips an ended session anyway.
			if user, err := gatehouse.ParseID(fmt.Sprint(res[2])); err == nil {
				s.db.client.ZRem(ctx, s.userKey(user), id)
			}
		}
		return nil, &gatehouse.Error{Code: gatehouse.CodeRefreshTokenReused,
			Err: fmt.Errorf("redis: %s: session %s: refresh token rotated at %s presented again", op, id, rotated)}
	case verdictSession:
		fields, _ := res[1].([]any)
		sess, _, err := decodeSession(id, pairs(fields))
		if err != nil {
			return nil, fmt.Errorf("redis: %s: %w", op, err)
		}
		return sess, nil
	}
	return nil, fmt.Errorf("redis: %s: unexpected reply %v", op, res)
}

// FindSession implements gatehouse.SessionStore: a session that is unknown,
// ended, or expired at now (idle or absolute) is CodeNotFound.
func (s *SessionStore) FindSession(ctx context.Context, id gatehouse.ID, now time.Time) (*gatehouse.Session, error) {
	const op = "find session"
	m, err := s.db.client.HGetAll(ctx, s.sessionKey(id.String())).Result()
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if len(m) == 0 {
		return nil, s.db.fail(ctx, op, goredis.Nil)
	}
	sess, ended, err := decodeSession(id.String(), m)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if ended || !live(sess, now) {
		return nil, s.db.fail(ctx, op, goredis.Nil)
	}
	return sess, nil
}

// ListSessions implements gatehouse.SessionStore: the user's sessions that
// are live at now, newest (by CreatedAt) first.
func (s *SessionStore) ListSessions(ctx context.Context, userID gatehouse.ID, now time.Time) ([]gatehouse.Session, error) {
	const op = "list sessions"
	ids, err := s.db.client.ZRange(ctx, s.userKey(userID), 0, -1).Result()
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	if _, err := s.db.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.sessionKey(id))
		}
		return nil
	}); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	var list []gatehouse.Session
	for i, cmd := range cmds {
		m := cmd.Val()
		if len(m) == 0 {
			continue // expired and evicted
		}
		sess, ended, err := decodeSession(ids[i], m)
		if err != nil {
			return nil, fmt.Errorf("redis: %s: %w", op, err)
		}
		if sess.UserID == userID && !ended && live(sess, now) {
			list = append(list, *sess)
		}
	}
	slices.SortFunc(list, func(a, b gatehouse.Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	return list, nil
}

// EndSession implements gatehouse.SessionStore. The end is stamped with the
// DB's clock; the session leaves its user's set.
func (s *SessionStore) EndSession(ctx context.Context, id gatehouse.ID) error {
	const op = "end session"
	res, err := endScript.Run(ctx, s.db.client, []string{s.sessionKey(id.String())}, micros(s.db.now()), "").Slice()
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if len(res) == 2 {
		if user, err := gatehouse.ParseID(fmt.Sprint(res[1])); err == nil {
			if err := s.db.client.ZRem(ctx, s.userKey(user), id.String()).Err(); err != nil {
				return s.db.fail(ctx, op, err)
			}
		}
	}
	return nil
}

// EndUserSessions implements gatehouse.SessionStore. It returns the ids of
// every session it ended, expired ones Redis still holds included: access
// tokens minted just before a session expired may still be live. Sessions
// created while it runs survive, as with the SQL stores.
func (s *SessionStore) EndUserSessions(ctx context.Context, userID, except gatehouse.ID) ([]gatehouse.ID, error) {
	const op = "end user sessions"
	userKey := s.userKey(userID)
	members, err := s.db.client.ZRange(ctx, userKey, 0, -1).Result()
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	members = slices.DeleteFunc(members, func(m string) bool { return m == except.String() })
	if len(members) == 0 {
		return nil, nil
	}
	ended := micros(s.db.now())
	cmds := make([]*goredis.Cmd, len(members))
	// A pipeline, not a transaction: on a Cluster the sessions live in
	// different slots. Eval rather than EvalSha: a pipeline cannot load a
	// missing script on the way.
	if _, err := s.db.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, m := range members {
			cmds[i] = endScript.Eval(ctx, p, []string{s.sessionKey(m)}, ended, userID.String())
		}
		return nil
	}); err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	var (
		ids  []gatehouse.ID
		gone []any // members to drop from the set: all but except
	)
	for i, cmd := range cmds {
		gone = append(gone, members[i])
		res, err := cmd.Slice()
		if err != nil || len(res) != 2 {
			continue // unreachable: Pipelined reported the first error
		}
		// A session of another user is one whose creation lost an id
		// conflict; endScript left it alone.
		if n, _ := res[0].(int64); n == 1 {
			if id, err := gatehouse.ParseID(members[i]); err == nil {
				ids = append(ids, id)
			}
		}
	}
	if len(gone) > 0 {
		if err := s.db.client.ZRem(ctx, userKey, gone...).Err(); err != nil {
			return nil, s.db.fail(ctx, op, err)
		}
	}
	return ids, nil
}

// live reports whether sess has not expired at now, idle or absolute.
func live(sess *gatehouse.Session, now time.Time) bool {
	return now.Before(sess.IdleExpiresAt) && now.Before(sess.ExpiresAt)
}

// pairs turns the flat reply of HGETALL inside a script into a map.
func pairs(flat []any) map[string]string {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		m[fmt.Sprint(flat[i])] = fmt.Sprint(flat[i+1])
	}
	return m
}

// decodeSession reads a session's hash, and whether the session has ended.
func decodeSession(id string, m map[string]string) (*gatehouse.Session, bool, error) {
	sess := &gatehouse.Session{Backend: m[sessionBackend], UserAgent: m[sessionUA], IP: m[sessionIP]}
	var err error
	if sess.ID, err = gatehouse.ParseID(id); err != nil {
		return nil, false, fmt.Errorf("session id: %w", err)
	}
	if sess.UserID, err = gatehouse.ParseID(m[sessionUser]); err != nil {
		return nil, false, fmt.Errorf("stored user id: %w", err)
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{
		{sessionCreated, &sess.CreatedAt},
		{sessionLastUsed, &sess.LastUsedAt},
		{sessionIdle, &sess.IdleExpiresAt},
		{sessionExpires, &sess.ExpiresAt},
	} {
		us, err := strconv.ParseInt(m[f.name], 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("stored %s: %w", f.name, err)
		}
		*f.to = fromMicros(us)
	}
	_, ended := m[sessionEnded]
	return sess, ended, nil
}

// invalidToken is the CodeRefreshTokenInvalid error of op, with the reason
// for the log only: clients see the code, whatever the reason.
func invalidToken(op, reason string) error {
	return &gatehouse.Error{Code: gatehouse.CodeRefreshTokenInvalid, Err: fmt.Errorf("redis: %s: %s", op, reason)}
}
