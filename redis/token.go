package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.TokenStore = (*TokenStore)(nil)

// TokenStore keeps opaque access tokens in Redis. A token is a hash at
// <prefix>token:<hash> whose TTL ends at its ExpiresAt; its hash is also a
// member of the sorted set <prefix>user:<id>, scored by expiry, so that
// DeleteUserTokens finds every token of a user. The set lives as long as
// its longest-lived token, and creating a token drops the members that
// have expired, so it never grows without bound.
//
// A token is added to its user's set before, or in the same transaction
// as, the token itself is written: there is never a token that "log out
// everywhere" would miss. On a single server or behind Sentinel both
// happen in one MULTI/EXEC; on a Cluster, where the two keys live in
// different slots, the set is written first.
type TokenStore struct {
	db *DB
}

// NewTokenStore returns a TokenStore on db.
func NewTokenStore(db *DB) *TokenStore { return &TokenStore{db: db} }

// Fields of a token's Redis hash. Times are unix microseconds in decimal;
// last_used is empty while the token has not been used.
const (
	fieldUser      = "user"
	fieldCreated   = "created"
	fieldExpires   = "expires"
	fieldLastUsed  = "last_used"
	fieldUserAgent = "ua"
	fieldIP        = "ip"
	fieldSession   = "session" // empty when the token has no session
)

// userSetSlack is how much longer a user's set lives than its
// longest-lived token.
const userSetSlack = time.Second

// createScript writes a token unless its key exists, atomically, so two
// creations of one hash cannot both succeed nor the second overwrite the
// first. It touches one key only, so it runs on a Cluster too.
//
// KEYS[1] token key; ARGV user, created, expires, last_used, ua, ip, TTL in
// milliseconds, session id ("" for none). Returns 1 when written, 0 when
// the key existed.
var createScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
	return 0
end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'created', ARGV[2], 'expires', ARGV[3],
	'last_used', ARGV[4], 'ua', ARGV[5], 'ip', ARGV[6], 'session', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 1
`)

// touchScript moves last_used forward to ARGV[1] if the token exists and
// has not expired at ARGV[2] (both unix microseconds, which a Lua number
// holds exactly). A plain HSET would bring a deleted token back to life,
// without a TTL. Returns 1 when the token is live, 0 otherwise.
var touchScript = goredis.NewScript(`
local rec = redis.call('HMGET', KEYS[1], 'expires', 'last_used')
if not rec[1] or tonumber(rec[1]) <= tonumber(ARGV[2]) then
	return 0
end
if not rec[2] or rec[2] == '' or tonumber(rec[2]) < tonumber(ARGV[1]) then
	redis.call('HSET', KEYS[1], 'last_used', ARGV[1])
end
return 1
`)

func (s *TokenStore) tokenKey(hash string) string { return s.db.key("token", hash) }

func (s *TokenStore) userKey(id gatehouse.ID) string { return s.db.key("user", id.String()) }

// CreateToken implements gatehouse.TokenStore. A zero CreatedAt is set from
// the DB's clock; a zero LastUsedAt stays zero (never used). A hash that
// exists already is a CodeConflict error. A token that has expired already
// is not stored: it could never be found.
func (s *TokenStore) CreateToken(ctx context.Context, t gatehouse.TokenRecord) error {
	const op = "create token"
	now := s.db.now()
	created := t.CreatedAt
	if created.IsZero() {
		created = now
	}
	ttl := s.db.ttl(t.ExpiresAt)
	if ttl <= 0 {
		return nil
	}
	tokenKey, userKey := s.tokenKey(t.Hash), s.userKey(t.UserID)
	keys := []string{tokenKey}
	args := []any{t.UserID.String(), micros(created), micros(t.ExpiresAt), optMicros(t.LastUsedAt),
		t.UserAgent, t.IP, ttl.Milliseconds(), sessionField(t.SessionID)}

	// Add to the user's set; drop members that have expired; make the set
	// live at least as long as this token: NX gives a new set its first
	// TTL (GT alone would not, as it takes "no TTL" for infinite), GT
	// extends an existing one and never shortens it. The set gets a
	// second more than the token, as Redis reads its clock per command
	// and the token's TTL starts a moment later.
	setTTL := (ttl + userSetSlack).Milliseconds()
	addToUser := func(p goredis.Pipeliner) {
		p.ZRemRangeByScore(ctx, userKey, "-inf", strconv.FormatInt(micros(now), 10))
		p.ZAdd(ctx, userKey, goredis.Z{Score: float64(micros(t.ExpiresAt)), Member: t.Hash})
		p.Do(ctx, "PEXPIRE", userKey, setTTL, "NX")
		p.Do(ctx, "PEXPIRE", userKey, setTTL, "GT")
	}
	var create *goredis.Cmd
	if s.db.cluster {
		if _, err := s.db.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			addToUser(p)
			return nil
		}); err != nil {
			return s.db.fail(ctx, op, err)
		}
		create = createScript.Run(ctx, s.db.client, keys, args...)
	} else {
		if _, err := s.db.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			addToUser(p)
			create = createScript.Eval(ctx, p, keys, args...)
			return nil
		}); err != nil {
			return s.db.fail(ctx, op, err)
		}
	}
	written, err := create.Int()
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if written == 0 {
		// The hash stays in this user's set; DeleteUserTokens checks whose
		// token it is before deleting it.
		return &gatehouse.Error{Code: gatehouse.CodeConflict, Err: fmt.Errorf("redis: %s: hash in use", op)}
	}
	return nil
}

// FindToken implements gatehouse.TokenStore: a token whose ExpiresAt is not
// after the DB's clock is CodeNotFound, as is an unknown hash.
func (s *TokenStore) FindToken(ctx context.Context, hash string) (*gatehouse.TokenRecord, error) {
	const op = "find token"
	m, err := s.db.client.HGetAll(ctx, s.tokenKey(hash)).Result()
	if err != nil {
		return nil, s.db.fail(ctx, op, err)
	}
	if len(m) == 0 {
		return nil, s.db.fail(ctx, op, goredis.Nil)
	}
	t, err := decodeToken(hash, m)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if !t.ExpiresAt.After(s.db.now()) {
		return nil, s.db.fail(ctx, op, goredis.Nil)
	}
	return t, nil
}

// TouchToken implements gatehouse.TokenStore. LastUsedAt only moves
// forward, so a slow request that finishes after a newer one does not turn
// the clock back. A token that is gone or expired is CodeNotFound.
func (s *TokenStore) TouchToken(ctx context.Context, hash string, at time.Time) error {
	const op = "touch token"
	live, err := touchScript.Run(ctx, s.db.client, []string{s.tokenKey(hash)},
		micros(at), micros(s.db.now())).Int()
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	if live == 0 {
		return s.db.fail(ctx, op, goredis.Nil)
	}
	return nil
}

// DeleteToken implements gatehouse.TokenStore; deleting a token that is
// gone is no error, so logging out twice is harmless. The hash leaves its
// user's set too.
func (s *TokenStore) DeleteToken(ctx context.Context, hash string) error {
	const op = "delete token"
	key := s.tokenKey(hash)
	user, err := s.db.client.HGet(ctx, key, fieldUser).Result()
	if err != nil {
		if errors.Is(err, goredis.Nil) {
			return nil
		}
		return s.db.fail(ctx, op, err)
	}
	id, err := gatehouse.ParseID(user)
	if err != nil {
		return fmt.Errorf("redis: %s: stored user id: %w", op, err)
	}
	if _, err := s.db.batch(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, key)
		p.ZRem(ctx, s.userKey(id), hash)
		return nil
	}); err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// DeleteUserTokens implements gatehouse.TokenStore. It counts the tokens
// that were live by the DB's clock. A hash in the user's set whose token
// belongs to someone else (left by a CreateToken that lost a conflict) is
// dropped from the set but its token is kept. Tokens created while it runs
// survive, as with the SQL stores.
func (s *TokenStore) DeleteUserTokens(ctx context.Context, id gatehouse.ID) (int, error) {
	const op = "delete user tokens"
	userKey := s.userKey(id)
	hashes, err := s.db.client.ZRange(ctx, userKey, 0, -1).Result()
	if err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	if len(hashes) == 0 {
		return 0, nil
	}
	// Read whose token each is; one round trip for all of them.
	owners := make([]*goredis.SliceCmd, len(hashes))
	if _, err := s.db.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, h := range hashes {
			owners[i] = p.HMGet(ctx, s.tokenKey(h), fieldUser, fieldExpires)
		}
		return nil
	}); err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	now := micros(s.db.now())
	owned := make([]bool, len(hashes))
	live := make([]bool, len(hashes))
	for i, cmd := range owners {
		v := cmd.Val()
		user, _ := v[0].(string)
		expires, _ := v[1].(string)
		owned[i] = user == id.String()
		e, err := strconv.ParseInt(expires, 10, 64)
		live[i] = err == nil && e > now
	}

	dels := make([]*goredis.IntCmd, len(hashes))
	if _, err := s.db.batch(ctx, func(p goredis.Pipeliner) error {
		for i, h := range hashes {
			if owned[i] {
				dels[i] = p.Del(ctx, s.tokenKey(h))
			}
		}
		members := make([]any, len(hashes))
		for i, h := range hashes {
			members[i] = h
		}
		p.ZRem(ctx, userKey, members...)
		return nil
	}); err != nil {
		return 0, s.db.fail(ctx, op, err)
	}
	n := 0
	for i, del := range dels {
		// A token someone else deleted meanwhile does not count.
		if del != nil && del.Val() == 1 && live[i] {
			n++
		}
	}
	return n, nil
}

// batch runs fn's commands in one MULTI/EXEC where they can share one: on a
// single server or the master Sentinel names. On a Cluster, where keys in
// different slots cannot, it sends them as a plain pipeline.
func (db *DB) batch(ctx context.Context, fn func(goredis.Pipeliner) error) ([]goredis.Cmder, error) {
	if db.cluster {
		return db.client.Pipelined(ctx, fn)
	}
	return db.client.TxPipelined(ctx, fn)
}

// decodeToken reads a token's Redis hash.
func decodeToken(hash string, m map[string]string) (*gatehouse.TokenRecord, error) {
	t := &gatehouse.TokenRecord{Hash: hash, UserAgent: m[fieldUserAgent], IP: m[fieldIP]}
	var err error
	if t.UserID, err = gatehouse.ParseID(m[fieldUser]); err != nil {
		return nil, fmt.Errorf("stored user id: %w", err)
	}
	if sid := m[fieldSession]; sid != "" {
		if t.SessionID, err = gatehouse.ParseID(sid); err != nil {
			return nil, fmt.Errorf("stored session id: %w", err)
		}
	}
	for _, f := range []struct {
		name     string
		to       *time.Time
		optional bool
	}{
		{fieldCreated, &t.CreatedAt, false},
		{fieldExpires, &t.ExpiresAt, false},
		{fieldLastUsed, &t.LastUsedAt, true},
	} {
		v := m[f.name]
		if v == "" && f.optional {
			continue
		}
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("stored %s: %w", f.name, err)
		}
		*f.to = fromMicros(us)
	}
	return t, nil
}

// micros and fromMicros convert between time.Time and the stored unix
// microseconds, UTC, as the SQLite store does.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// optMicros stores the zero time as the empty string.
func optMicros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(micros(t), 10)
}

// sessionField stores a token's session id; "" when it has none.
func sessionField(id gatehouse.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}
