// Package password hashes and checks passwords, and decides which passwords
// are acceptable.
//
// [Hasher] implements [gatehouse.Hasher]. New hashes are argon2id PHC
// strings, the format argon2-cffi and pwdlib (FastAPI Users) write, so hashes
// move between the two in both directions:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// Verify also accepts argon2id hashes with other parameters and legacy bcrypt
// hashes ($2a$, $2b$, $2x$, $2y$), and answers with a fresh argon2id hash
// whenever the stored one is not what Hash would write today, so that stored
// hashes move to the current parameters as users log in.
//
// [Policy] implements [gatehouse.PasswordValidator] along the lines of NIST
// SP 800-63B and OWASP ASVS 5: a length counted in code points, byte and
// character caps checked before anything costly, no composition rules, a
// blocklist of the 100,000 most common passwords (package blocklist), no
// passwords built from the user's e-mail or the service's name, and a hook
// for more rules (such as a breached-password lookup).
//
// # Unicode
//
// Both Hasher and Policy normalize passwords to NFKC (Unicode compatibility
// composition) first, so "café" typed with U+00E9 and with "e" + U+0301 is
// the same password, as NIST asks, and so are the fullwidth and ordinary
// forms of letters and digits that East Asian input methods switch between
// ("ｐａｓｓ１２３" and "pass123"), ligatures that autocorrection inserts
// ("ﬁ" and "fi") and the like. Case is kept: "Password" and "password" are
// different passwords. The choice is part of the stored hashes: changing it
// would lock out every user whose password is not already in the new form.
//
// Earlier versions of this package normalized to NFC, and pwdlib (FastAPI
// Users) does not normalize at all. For hashes made from a password that was
// not in NFKC, Verify also tries the password exactly as given when the NFKC
// form does not match, and on success returns a rehash of the NFKC form.
// That covers every pwdlib hash, and every hash of the NFC era whose
// password is typed the same way again (keyboards produce NFC). This second
// try costs one more hash, and only for input that is not in NFKC.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse/gatehouse"
)

// defaultMaxBytes is the longest password, in bytes, that Hasher and Policy
// accept when their MaxBytes is zero. It is far above any passphrase (NIST
// asks for at least 64 characters) and low enough that nobody can make the
// server hash megabytes.
const defaultMaxBytes = 1024

// Sizes of what Hash writes: a 128-bit salt (RFC 9106) and a 256-bit tag,
// the same as argon2-cffi's defaults.
const (
	saltLen = 16
	keyLen  = 32
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // in KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes, computed in parallel
}

// DefaultParams returns m=19456 KiB (19 MiB), t=2, p=1: the baseline of
// OWASP's Password Storage Cheat Sheet and ASVS 5.0 Appendix C. One hash
// takes a few tens of milliseconds on a current server core.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1}
}

// defaultMaxWait is how long a caller waits for a hashing slot when
// Hasher.MaxWait is zero. At DefaultParams (about 21 ms a hash) a full
// default queue (queuePerSlot waiters per slot) drains in about 0.7 s, so
// only a stalled server waits this long; and it is well under the timeouts
// of HTTP clients, which get a 503 they can act on rather than a hung
// request.
const defaultMaxWait = time.Second

// queuePerSlot is how many callers may wait per hashing slot when
// Hasher.MaxQueue is zero. Waiters hold no hashing memory, only a
// goroutine, so the queue is sized by latency: 64 logins arriving at once
// on two cores are all served within defaultMaxWait.
const queuePerSlot = 32

// retryHashing is the Retry-After of a refused hash: about the time a full
// queue takes to drain.
const retryHashing = time.Second

// Hasher hashes passwords with argon2id and checks argon2id and bcrypt
// hashes. The zero value is ready to use: DefaultParams, at most
// runtime.GOMAXPROCS(0) hashes at a time with 32 times as many callers
// waiting for at most 1s, passwords up to 1024 bytes.
//
// Every hash, including the one a Manager computes for an unknown e-mail
// so that timing does not reveal which accounts exist, goes through the
// same limit; so when it refuses, it refuses known and unknown accounts
// alike.
//
// Use a Hasher through a pointer and do not copy it after first use: the
// limit is set up then, and a copy would have its own.
type Hasher struct {
	// Params are the costs of new hashes. A zero field takes its value from
	// DefaultParams. Lower costs are for tests only.
	Params Params

	// MaxConcurrent bounds how many hashes are computed at once, so that a
	// burst of logins cannot take Params.Memory each until the process runs
	// out of memory: the peak is about MaxConcurrent × Params.Memory. Callers
	// beyond it wait for a slot (see MaxQueue and MaxWait). Zero means
	// runtime.GOMAXPROCS(0), since more would only queue for CPUs anyway.
	// It is read once, at first use, like MaxQueue and MaxWait.
	MaxConcurrent int

	// MaxQueue bounds how many callers wait for a slot. Beyond it Hash and
	// Verify fail at once with gatehouse.CodeUnavailable (a 503): a longer
	// queue would not make the CPUs faster, only every login slower, until
	// clients time out and retry on top of it. Zero means 32 times
	// MaxConcurrent; a negative value lets nobody wait.
	MaxQueue int

	// MaxWait bounds how long a caller waits for a slot before failing
	// with gatehouse.CodeUnavailable, or sooner if its context ends. Zero
	// means 1s. Raise it with Params that take much longer than the
	// default.
	MaxWait time.Duration

	// MaxBytes is the longest password accepted; zero means
	// 1024. Longer passwords are rejected before any hashing.
	MaxBytes int

	limitOnce sync.Once
	slots     chan struct{} // holds one value per hash being computed
	inside    atomic.Int64  // callers hashing or waiting for a slot
	maxInside int64         // MaxConcurrent + MaxQueue
	maxWait   time.Duration

	// Test hooks, set by export_test.go; nil otherwise.
	onQueued func() // a caller is about to wait for a slot
	onSlot   func() // a caller has a slot and is about to hash
}

var _ gatehouse.Hasher = (*Hasher)(nil)

// Hash returns the argon2id PHC string of password, normalized to NFKC, with
// a fresh random salt. A password longer than MaxBytes is an error with
// gatehouse.CodeInvalidPassword. When no hashing slot can be had (the
// queue is full, MaxWait passed, or the context ended while waiting) the
// error has gatehouse.CodeUnavailable.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if limit := h.maxBytes(); len(password) > limit {
		return "", tooLong(limit)
	}
	p, err := h.params()
	if err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	// NFKC can make the password longer (U+FDFA becomes 18 code points),
	// but only by a bounded factor, and argon2 reads its input once.
	pw := []byte(norm.NFKC.String(password))
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, keyLen)
	h.release()
	return encodePHC(p, salt, key), nil
}

// Verify reports whether password matches hash, an argon2id PHC string or a
// bcrypt hash. On a match, rehash is a new argon2id hash of password when
// hash is bcrypt, or argon2id with parameters or sizes other than what Hash
// writes today (weaker or not), or a hash of the password not normalized to
// NFKC; otherwise rehash is "".
//
// A hash in no known format, or with absurd parameters, is an error. A
// password longer than MaxBytes does not match and costs no hashing. Nor
// does one longer than the 72 bytes bcrypt reads, against a bcrypt hash:
// bcrypt would ignore the extra bytes, so a 73-byte password would match
// the hash of its first 72 bytes (ASVS 6.2.8 asks for the whole password to
// be checked). Such a hash can only have been made by a system that
// truncated silently; its user logs in with the first 72 bytes, or resets
// the password.
func (h *Hasher) Verify(ctx context.Context, password, hash string) (ok bool, rehash string, err error) {
	var (
		check   func(pw []byte) bool
		current bool // hash is exactly what Hash would write now
	)
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		stored, err := parsePHC(hash)
		if err != nil {
			return false, "", err
		}
		p, err := h.params()
		if err != nil {
			return false, "", err
		}
		current = stored.params == p && len(stored.salt) == saltLen && len(stored.key) == keyLen
		check = stored.matches
	case isBcrypt(hash):
		if err := checkBcrypt(hash); err != nil {
			return false, "", err
		}
		check = func(pw []byte) bool { return bcryptMatches(hash, pw) }
	default:
		return false, "", errors.New("password: unknown hash format")
	}
	if len(password) > h.maxBytes() {
		return false, "", nil
	}

	nfkc := norm.NFKC.String(password)
	ok, err = h.run(ctx, check, nfkc)
	if err == nil && !ok && nfkc != password {
		// A hash from a system that does not normalize (pwdlib) or that
		// normalized to NFC (this package before). Equivalent input, so
		// still the same password; the rehash below moves it to NFKC.
		ok, err = h.run(ctx, check, password)
		current = false
	}
	if err != nil || !ok {
		return false, "", err
	}
	if current {
		return true, "", nil
	}
	// A rehash that cannot be made (the context ended) fails the whole call
	// rather than leaving an old hash in place without anyone noticing.
	rehash, err = h.Hash(ctx, password)
	if err != nil {
		return false, "", err
	}
	return true, rehash, nil
}

// run computes check(pw) in a hashing slot.
func (h *Hasher) run(ctx context.Context, check func([]byte) bool, pw string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	return check([]byte(pw)), nil
}

// initLimit sets up the limit on first use, so that the zero Hasher works
// and no state is shared between Hashers.
func (h *Hasher) initLimit() {
	n := h.MaxConcurrent
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	queue := h.MaxQueue
	switch {
	case queue == 0:
		queue = queuePerSlot * n
	case queue < 0:
		queue = 0
	}
	h.slots = make(chan struct{}, n)
	h.maxInside = int64(n + queue)
	h.maxWait = h.MaxWait
	if h.maxWait <= 0 {
		h.maxWait = defaultMaxWait
	}
}

// acquire takes a hashing slot, waiting in the queue if there is room in
// it. On success the caller must call release.
func (h *Hasher) acquire(ctx context.Context) error {
	h.limitOnce.Do(h.initLimit)
	// A request that is already gone should not take a slot, even a free
	// one: select would pick between the two at random.
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	if h.inside.Add(1) > h.maxInside {
		h.inside.Add(-1)
		return &gatehouse.Error{Code: gatehouse.CodeUnavailable, RetryAfter: retryHashing,
			Err: fmt.Errorf("password: %d hashes running or waiting already", h.maxInside)}
	}
	select {
	case h.slots <- struct{}{}:
	default:
		if err := h.wait(ctx); err != nil {
			h.inside.Add(-1)
			return unavailable(err)
		}
	}
	if h.onSlot != nil {
		h.onSlot()
	}
	return nil
}

// wait waits for a free slot and takes it.
func (h *Hasher) wait(ctx context.Context) error {
	if h.onQueued != nil {
		h.onQueued()
	}
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no slot within %v", h.maxWait)
	}
}

// release gives back the slot of a successful acquire.
func (h *Hasher) release() {
	<-h.slots
	h.inside.Add(-1)
}

func unavailable(err error) error {
	return &gatehouse.Error{Code: gatehouse.CodeUnavailable, RetryAfter: retryHashing,
		Err: fmt.Errorf("password: waiting to hash: %w", err)}
}

// params returns h.Params with defaults filled in, or an error if argon2
// cannot honour them.
func (h *Hasher) params() (Params, error) {
	p, d := h.Params, DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if err := p.check(); err != nil {
		return Params{}, fmt.Errorf("password: Hasher.Params: %w", err)
	}
	return p, nil
}

func (h *Hasher) maxBytes() int {
	if h.MaxBytes > 0 {
		return h.MaxBytes
	}
	return defaultMaxBytes
}

func tooLong(limit int) error {
	return gatehouse.InvalidPassword(fmt.Sprintf("Password should be at most %d bytes", limit))
}

// bcryptMatches compares pw with a bcrypt hash. bcrypt reads at most 72
// bytes, and x/crypto/bcrypt compares longer input by its first 72 bytes, so
// longer input is refused here (ASVS 6.2.8: the whole password is checked).
// So is input containing NUL: bcrypt repeats its key cyclically with a NUL
// after it, which makes "a" and "a\x00a" the same key; C implementations
// stop at the NUL anyway, so no legacy hash was made from such a password.
func bcryptMatches(hash string, pw []byte) bool {
	if len(pw) > 72 || strings.IndexByte(string(pw), 0) >= 0 {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), pw) == nil
}

// matches reports whether pw hashes to the stored key, in constant time.
func (s phc) matches(pw []byte) bool {
	// #nosec G115 -- len(s.key) is at most maxKey: parsePHC rejects longer keys.
	key := argon2.IDKey(pw, s.salt, s.params.Time, s.params.Memory, s.params.Threads, uint32(len(s.key)))
	return subtle.ConstantTimeCompare(key, s.key) == 1
}
