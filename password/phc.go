package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds on what Verify accepts in a stored hash. A hash is read from the
// database, but a corrupt or hostile row must cost an error, never a panic
// or an allocation of terabytes: the format itself allows m up to 4 TiB.
const (
	// maxMemory is 4 GiB, twice RFC 9106's most expensive recommendation.
	maxMemory = 4 << 20 // KiB
	// maxTime is far above any recommendation (RFC 9106 and OWASP use 1–5).
	maxTime = 1000
	// Salts below 8 bytes are refused by the reference implementation;
	// argon2-cffi uses 16.
	minSalt, maxSalt = 8, 64
	// Tags below 16 bytes are too short to resist collisions; argon2-cffi
	// uses 32.
	minKey, maxKey = 16, 64
	// maxPHCLen bounds the string before any splitting; the longest valid
	// one is about 230 bytes.
	maxPHCLen = 256
	// maxBcryptCost: cost 16 already takes seconds per login; real
	// deployments use 10–14, pwdlib 12.
	minBcryptCost, maxBcryptCost = 4, 16
)

// b64 is the PHC encoding: standard alphabet, no padding. Strict refuses
// non-zero trailing bits, so every hash has one spelling.
var b64 = base64.RawStdEncoding.Strict()

// phc is a parsed argon2id PHC string.
type phc struct {
	params    Params
	salt, key []byte
}

// encodePHC formats an argon2id hash as argon2-cffi does.
func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parsePHC parses exactly the form encodePHC writes, with any parameters
// within bounds: version 19 only (x/crypto implements no other), parameters
// m, t, p in that order as canonical decimals, no optional PHC fields
// (keyid, data), salt and hash present.
func parsePHC(s string) (phc, error) {
	if len(s) > maxPHCLen {
		return phc{}, errors.New("password: argon2id hash too long")
	}
	rest, ok := strings.CutPrefix(s, "$argon2id$")
	if !ok {
		return phc{}, errors.New("password: not an argon2id hash")
	}
	fields := strings.Split(rest, "$")
	if len(fields) != 4 {
		return phc{}, errors.New("password: malformed argon2id hash")
	}
	if fields[0] != "v=19" {
		return phc{}, errors.New("password: unsupported argon2id version")
	}
	p, err := parseParams(fields[1])
	if err != nil {
		return phc{}, err
	}
	salt, err := decodeB64(fields[2], minSalt, maxSalt)
	if err != nil {
		return phc{}, fmt.Errorf("password: argon2id salt: %w", err)
	}
	key, err := decodeB64(fields[3], minKey, maxKey)
	if err != nil {
		return phc{}, fmt.Errorf("password: argon2id hash: %w", err)
	}
	return phc{params: p, salt: salt, key: key}, nil
}

// parseParams parses "m=<int>,t=<int>,p=<int>".
func parseParams(s string) (Params, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return Params{}, errors.New("password: malformed argon2id parameters")
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(parts[i], name)
		if !ok {
			return Params{}, errors.New("password: malformed argon2id parameters")
		}
		v, err := parseDecimal(digits)
		if err != nil {
			return Params{}, fmt.Errorf("password: argon2id parameter %s %w", name[:1], err)
		}
		vals[i] = v
	}
	if vals[2] > 255 {
		return Params{}, errors.New("password: argon2id parallelism out of range")
	}
	// #nosec G115 -- every value is bounded before its conversion: Memory and
	// Time by min against limits below 2^32, Threads by the check just above.
	p := Params{Memory: uint32(min(vals[0], maxMemory+1)), Time: uint32(min(vals[1], maxTime+1)), Threads: uint8(vals[2])}
	if err := p.check(); err != nil {
		return Params{}, fmt.Errorf("password: argon2id hash: %w", err)
	}
	return p, nil
}

// parseDecimal parses a PHC decimal: digits only, no sign, no leading zero,
// at most 10 digits (so it fits in a uint64 with room to spare).
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("is not a canonical decimal")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("is not a canonical decimal")
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// check reports whether argon2 can honour p within Verify's bounds.
// x/crypto/argon2 panics on t or p below 1 and silently raises m to 8p, which
// would make the encoded m a lie.
func (p Params) check() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d out of range [1, %d]", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB out of range [8×threads, %d]", p.Memory, maxMemory)
	}
	return nil
}

// decodeB64 decodes unpadded standard base64 of n bytes, lo <= n <= hi. The
// alphabet is checked first because encoding/base64 skips '\r' and '\n'.
func decodeB64(s string, lo, hi int) ([]byte, error) {
	if n := b64.DecodedLen(len(s)); n < lo || n > hi {
		return nil, fmt.Errorf("length out of range [%d, %d]", lo, hi)
	}
	for i := 0; i < len(s); i++ {
		if !isB64(s[i]) {
			return nil, errors.New("not base64")
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical base64")
	}
	return b, nil
}

func isB64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}

// isBcrypt reports whether hash claims to be bcrypt: $2a$, $2b$, $2x$ or
// $2y$. All four compute the same function for the passwords this package
// accepts; $2x$ (crypt_blowfish's buggy mode) differs only for bytes >= 0x80,
// where the result is a failed match, never a false one.
func isBcrypt(hash string) bool {
	return len(hash) >= 4 && hash[0] == '$' && hash[1] == '2' && strings.IndexByte("abxy", hash[2]) >= 0 && hash[3] == '$'
}

// checkBcrypt checks the layout of a bcrypt hash strictly, before
// x/crypto/bcrypt (which is lenient about trailing bytes) sees it:
// "$2b$" + two-digit cost + "$" + 53 characters of bcrypt's alphabet.
func checkBcrypt(hash string) error {
	if len(hash) != 60 || hash[6] != '$' {
		return errors.New("password: malformed bcrypt hash")
	}
	if hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' {
		return errors.New("password: malformed bcrypt cost")
	}
	cost := int(hash[4]-'0')*10 + int(hash[5]-'0')
	if cost < minBcryptCost || cost > maxBcryptCost {
		return fmt.Errorf("password: bcrypt cost %d out of range [%d, %d]", cost, minBcryptCost, maxBcryptCost)
	}
	for i := 7; i < len(hash); i++ {
		c := hash[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '/') {
			return errors.New("password: malformed bcrypt hash")
		}
	}
	return nil
}
