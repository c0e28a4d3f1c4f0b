// Package apikey is the API key backend of Gatehouse: long-lived keys that a
// user creates for scripts and services, sent in a header on every request.
//
// A key looks like
//
//	ghk_<43 base62 characters of secret><6 base62 characters of checksum>
//
// 53 characters in all. The secret holds more than 256 bits from
// crypto/rand, each character drawn uniformly from 0-9, A-Z, a-z. The
// checksum is the CRC-32 (IEEE) of everything before it, written in base62
// with the most significant digit first and padded with zeros to 6 digits.
// As with GitHub's tokens, the "ghk_" prefix tells scanners and people what
// the string is, keeps API keys apart from every other kind of Gatehouse
// token (security checklist item 60), and the checksum rejects typos and
// made-up keys without asking the store.
//
// A key is shown once, when Generate makes it. Stores keep its SHA-256 hash
// (hex) and its first 12 characters, the prefix that tells keys apart in a
// list; a key is found by its hash, so no secret is ever compared, and a
// leaked database holds no usable key. Deleting a key's record revokes it at
// once (security checklist item 57).
//
// Keys travel in the X-API-Key header, never in URLs unless a server opts
// in with Transport.AllowQuery (checklist item 58), and a request that
// carries more than one key, or a key in both places, carries none
// (item 62). Keys are not issued by logging in, so Strategy implements
// gatehouse.NoLogin and backends built from it get no login, logout or
// refresh routes. Each key has scopes, which narrow what requests made with
// it may do to those permissions (see gatehouse.Principal.Scopes).
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
)

const (
	// keyPrefix starts every key.
	keyPrefix = "ghk_"
	// secretLen base62 characters hold log2(62)*43 ≈ 256.03 bits.
	secretLen = 43
	// checksumLen base62 digits hold any CRC-32: 62^6 > 2^32.
	checksumLen = 6
	// keyLen is the length of every key; anything else is refused.
	keyLen = len(keyPrefix) + secretLen + checksumLen
	// prefixLen is how much of a key is kept to show in lists: "ghk_" and
	// 8 characters of secret, about 48 bits, which tell keys apart without
	// weakening the remaining 35 characters (over 208 bits).
	prefixLen = len(keyPrefix) + 8

	alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// maxUnbiased is the largest multiple of 62 that a byte can hold:
	// random bytes at or above it are drawn again, so that byte % 62 is
	// uniform (rejection sampling, no modulo bias).
	maxUnbiased = 256 - 256%len(alphabet) // 248

	// touchEvery limits how often a key's use is written back: recording
	// every request would turn each authenticated read into a write.
	touchEvery = time.Minute

	defaultHeader = "X-API-Key"
	queryParam    = "api_key"
)

// Generate returns a new key, its prefix (its first 12 characters: "ghk_"
// and 8 of secret) and its hash (the hex SHA-256 of the key). Store the
// prefix and the hash; show the key to its owner once and forget it.
func Generate() (key, prefix, hash string) {
	var b [keyLen]byte
	copy(b[:], keyPrefix)
	secret := b[len(keyPrefix) : len(keyPrefix)+secretLen]
	var buf [64]byte
	for n := 0; n < secretLen; {
		rand.Read(buf[:]) // never fails: crypto/rand panics instead
		for _, c := range buf {
			if int(c) >= maxUnbiased {
				continue
			}
			secret[n] = alphabet[int(c)%len(alphabet)]
			if n++; n == secretLen {
				break
			}
		}
	}
	putChecksum(b[keyLen-checksumLen:], b[:keyLen-checksumLen])
	key = string(b[:])
	return key, key[:prefixLen], hashKey(key)
}

// Parse checks that key has the form of a key: the "ghk_" prefix, exactly
// 53 characters, only base62 after the prefix, and a checksum that
// matches. It returns the hash the key is stored under. A key that fails
// is refused without any store lookup; one that passes may still be
// unknown, revoked or expired.
func Parse(key string) (hash string, ok bool) {
	if len(key) != keyLen || key[:len(keyPrefix)] != keyPrefix {
		return "", false
	}
	for i := len(keyPrefix); i < keyLen; i++ {
		if !isBase62(key[i]) {
			return "", false
		}
	}
	// A checksum is public, so comparing it in constant time would hide
	// nothing; the secret itself is only ever compared as a hash, by the
	// store's index.
	var sum [checksumLen]byte
	putChecksum(sum[:], []byte(key[:keyLen-checksumLen]))
	if string(sum[:]) != key[keyLen-checksumLen:] {
		return "", false
	}
	return hashKey(key), true
}

// putChecksum writes the CRC-32 of text into dst as checksumLen base62
// digits, most significant first.
func putChecksum(dst, text []byte) {
	v := crc32.ChecksumIEEE(text)
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[v%uint32(len(alphabet))]
		v /= uint32(len(alphabet))
	}
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// errNoLogin answers the parts of the login flow that API keys lack.
var errNoLogin = errors.New("apikey: API keys are not issued by logging in; create them through the API key routes")

// Transport reads API keys from a request header. The zero value reads the
// X-API-Key header only.
type Transport struct {
	// Header is the request header that carries the key; default
	// "X-API-Key".
	Header string
	// AllowQuery also accepts the key in the api_key query parameter of a
	// request without the header. It is off by default and should stay
	// off: URLs end up in server and proxy logs, browser history and
	// Referer headers, and a key written there has leaked (security
	// checklist item 58).
	AllowQuery bool
}

var _ gatehouse.Transport = Transport{}

// Credential returns the key that r carries in the header, or, when
// AllowQuery is set and r has no such header, in the api_key query
// parameter. ok is false when r carries no key, when it carries more than
// one (the header twice, the parameter twice, or the header and the
// parameter, whether AllowQuery is set or not), and when the key fails
// Parse, so that malformed keys never reach a store.
func (t Transport) Credential(r *http.Request) (key string, ok bool) {
	name := t.Header
	if name == "" {
		name = defaultHeader
	}
	headers := r.Header.Values(name)
	var queries []string
	if r.URL != nil {
		queries = r.URL.Query()[queryParam]
	}
	switch {
	case len(headers) == 1 && len(queries) == 0:
		key = headers[0]
	case len(headers) == 0 && len(queries) == 1 && t.AllowQuery:
		key = queries[0]
	default:
		return "", false
	}
	if _, ok := Parse(key); !ok {
		return "", false
	}
	return key, true
}

// WriteLogin returns an error and writes nothing: API keys are not issued
// by logging in.
func (Transport) WriteLogin(w http.ResponseWriter, r *http.Request, t gatehouse.Token) error {
	return errNoLogin
}

// WriteLogout returns an error and writes nothing: there is no session to
// end. A key is revoked by deleting it.
func (Transport) WriteLogout(w http.ResponseWriter, r *http.Request) error {
	return errNoLogin
}

// Strategy checks API keys against a store. It implements
// gatehouse.Strategy and gatehouse.NoLogin. Store is required.
type Strategy struct {
	Store gatehouse.APIKeyStore
	Now   func() time.Time // default time.Now
}

var (
	_ gatehouse.Strategy = Strategy{}
	_ gatehouse.NoLogin  = Strategy{}
)

// NoLogin marks API key backends as having no login, logout or refresh
// routes.
func (Strategy) NoLogin() {}

// Read checks a key: well-formed (see Parse), stored and not expired. A
// malformed key is CodeUnauthorized without a store lookup; an unknown or
// expired one is CodeUnauthorized; a store that cannot answer passes its
// error on (CodeUnavailable), so the request fails closed.
//
// The Principal's TokenID is the key's id, never the key, and its Scopes
// are the key's: never nil, so a key without scopes grants no permission at
// all rather than all of its owner's. Uses are recorded with TouchAPIKey at
// most once a minute, best effort.
func (s Strategy) Read(ctx context.Context, key string) (gatehouse.Principal, error) {
	h, ok := Parse(key)
	if !ok {
		return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	}
	if s.Store == nil {
		return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: errors.New("apikey: Strategy.Store is missing")}
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	k, err := s.Store.FindAPIKey(ctx, h, now)
	switch gatehouse.ErrorCode(err) {
	case "":
	case gatehouse.CodeNotFound:
		return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	default:
		return gatehouse.Principal{}, err
	}
	if k == nil {
		return gatehouse.Principal{}, gatehouse.Errorf(gatehouse.CodeInternal, "apikey: FindAPIKey returned neither a key nor an error")
	}
	// The store checks expiry against now too; checking again keeps a
	// store that ignores it from stretching a key's life.
	if k.UserID.IsZero() || !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return gatehouse.Principal{}, &gatehouse.Error{Code: gatehouse.CodeUnauthorized}
	}
	if k.LastUsedAt.IsZero() || now.Sub(k.LastUsedAt) >= touchEvery {
		// Best effort: the key was just found valid, and a failed
		// bookkeeping write must not refuse the request.
		_ = s.Store.TouchAPIKey(ctx, k.ID, now)
	}
	return gatehouse.Principal{
		UserID:  k.UserID,
		TokenID: k.ID.String(),
		Scopes:  append([]string{}, k.Scopes...),
		Expiry:  k.ExpiresAt,
	}, nil
}

// Write returns an error: API keys are not issued by logging in, but
// created one by one through the API key routes (see Generate).
func (Strategy) Write(ctx context.Context, u *gatehouse.User, session gatehouse.ID) (gatehouse.Token, error) {
	return gatehouse.Token{}, errNoLogin
}

// Destroy does nothing and returns nil: a request made with a key does not
// log it out. Revoke a key by deleting it from the store
// (gatehouse.APIKeyStore.DeleteAPIKey); the next request made with it is
// refused.
func (Strategy) Destroy(ctx context.Context, key string) error {
	return nil
}
