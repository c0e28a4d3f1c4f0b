// Package totp implements the two second factors that need no hardware
// beyond a phone: time-based one-time passwords (TOTP, RFC 6238) as
// authenticator apps compute them, and single-use recovery codes for when
// the phone is lost.
//
// The parameters are fixed to the ones every authenticator app supports:
// HMAC-SHA1, 6 digits, a new code every 30 seconds. Apps that are offered
// anything else (SHA-256, 8 digits, 60 s) often ignore it silently and then
// show codes that never verify, so there is nothing to configure.
//
// Enrolment: [Generate] makes a secret and the otpauth:// URI to show as a
// QR code. The caller seals (encrypts) [Key.Secret] before storing it as
// [gatehouse.TOTP.Secret], and confirms the enrolment with a first code.
//
// Login: [Verify] checks a code against the unsealed secret and the stored
// [gatehouse.TOTP.LastStep], and returns the step it matched, which the
// caller records with [gatehouse.TOTPStore.AcceptTOTPStep]. That store call
// is atomic, so two concurrent logins with the same code cannot both pass;
// Verify's own check of lastStep only refuses the plain replays early.
//
// Recovery codes: [GenerateRecoveryCodes] makes codes to show the user once,
// [HashRecoveryCode] what to store ([gatehouse.RecoveryCodeStore] keeps
// hashes only) and to look a typed code up by.
//
// github.com/pquerna/otp serves the tests as an independent implementation:
// codes and URIs made here are checked against it. The package does not
// use it itself: computing HOTP directly from the secret's bytes avoids a
// base32 round trip per check, and its URI builder does not escape "&" or
// "+" in the issuer (an issuer "AT&T" comes back as "AT").
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- RFC 6238 apps compute HMAC-SHA1; HMAC does not rely on the collision resistance SHA-1 lacks.
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

const (
	// secretSize is 160 bits, the length RFC 4226 recommends (section 4),
	// SHA-1's output size; enough against any brute force.
	secretSize = 20
	// period is the life of one code; 30 s is RFC 6238's default and the
	// only period some apps support.
	period = 30
	// digits is the code length; 6 is the only one every app supports.
	digits = 6
	// skew is how many steps a code may be off either way, to allow for
	// a phone's clock being off and for the time it takes to type a code.
	// RFC 6238 (section 5.2) recommends at most one.
	skew = 1
)

// Key is a new TOTP secret and its enrolment URI.
type Key struct {
	// Secret is the shared secret, in clear: seal it before storing it.
	Secret []byte
	// URI is the otpauth:// key URI (the Google Authenticator "Key Uri
	// Format") to show as a QR code, and as text for those who type it in.
	// It holds the secret, so it must not be logged.
	URI string
}

// Generate makes a random secret for account (the user's e-mail, say) at
// issuer (the service's name, which the app shows next to the code).
// Neither may be empty or contain a colon: the URI's label separates them
// with one.
func Generate(issuer, account string) (Key, error) {
	for _, f := range []struct{ name, value string }{{"issuer", issuer}, {"account", account}} {
		if f.value == "" {
			return Key{}, fmt.Errorf("totp: %s is empty", f.name)
		}
		if strings.Contains(f.value, ":") {
			return Key{}, fmt.Errorf("totp: %s %q contains a colon", f.name, f.value)
		}
	}
	secret := make([]byte, secretSize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, fmt.Errorf("totp: read secret: %w", err)
	}
	// The issuer goes both in the label (older apps read it there) and in
	// the issuer parameter (which newer apps prefer).
	uri := "otpauth://totp/" + escape(issuer) + ":" + escape(account) +
		"?secret=" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret) +
		"&issuer=" + escape(issuer) +
		"&algorithm=SHA1&digits=6&period=30"
	return Key{Secret: secret, URI: uri}, nil
}

// escape percent-encodes s for the label or a query value of a key URI.
// Spaces are %20 and "+" is %2B, as apps differ in whether they read a "+"
// as a space; "&" and "=" are escaped so as not to end the value. The "@"
// of an e-mail address stays as it is, as in the format's own examples.
func escape(s string) string {
	return uriEscaper.Replace(url.PathEscape(s))
}

// uriEscaper escapes what url.PathEscape leaves alone but a query value
// cannot hold.
var uriEscaper = strings.NewReplacer("&", "%26", "+", "%2B", "=", "%3D")

// Step returns the time step t falls in: Unix time divided by 30 s,
// rounded down (RFC 6238's T).
func Step(t time.Time) int64 {
	u := t.Unix()
	s := u / period
	if u < 0 && u%period != 0 {
		s-- // round down, not towards zero, before 1970
	}
	return s
}

// Code returns the 6-digit code for secret at step, as an authenticator app
// would show it. Servers need only [Verify]; Code is for tests, and for
// the authenticator that tests of other packages play.
func Code(secret []byte, step int64) string {
	// Steps before 1970 are negative and wrap around: any 64-bit counter
	// is valid in HOTP, and pquerna/otp converts the same way.
	return hotp(secret, uint64(step), digits) // #nosec G115 -- wrapping is intended, see above.
}

// hotp returns the n-digit HOTP value (RFC 4226 section 5.3) for key at
// counter, zero-padded; n is at most 10.
func hotp(key []byte, counter uint64, n int) string {
	mac := hmac.New(sha1.New, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	// Dynamic truncation: the low 4 bits of the last byte pick 4 bytes,
	// of which the top bit is dropped (to avoid signed arithmetic
	// differences, says the RFC).
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	code := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		code[i] = byte('0' + v%10)
		v /= 10
	}
	return string(code)
}

// Verify reports whether code is right for secret at now, and the step it
// was right for, which the caller stores as the new LastStep.
//
// A code of the step before or after now's is accepted too, for clocks
// that are off and for codes typed just as they changed; a code of a step
// at or before lastStep is refused, so that a code (seen over a shoulder,
// or phished) works once only. An empty secret verifies nothing, so a
// secret that failed to unseal cannot turn into one anyone can use.
//
// code may have spaces around it and one inside ("123 456", as apps show
// it); otherwise it must be exactly 6 ASCII digits.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	c, valid := normalizeCode(code)
	if !valid || len(secret) == 0 {
		return 0, false
	}
	// All three steps are computed and compared, with no early exit and
	// in constant time, so the response time tells nothing about which
	// step or how many digits matched. If two steps have the same code,
	// the later one wins: recording the later step refuses more replays.
	var found int
	var matched int64
	cur := Step(now)
	for s := cur - skew; s <= cur+skew; s++ {
		eq := subtle.ConstantTimeCompare([]byte(Code(secret, s)), c)
		if s <= lastStep {
			eq = 0 // lastStep is no secret: branching on it leaks nothing
		}
		mask := -int64(eq) // all ones if eq == 1, else zero
		matched = matched&^mask | s&mask
		found |= eq
	}
	if found == 0 {
		return 0, false
	}
	return matched, true
}

// normalizeCode returns code without surrounding spaces and without one
// inner space, if it then is exactly 6 ASCII digits.
func normalizeCode(code string) ([]byte, bool) {
	code = strings.TrimSpace(code)
	if len(code) != digits && len(code) != digits+1 {
		return nil, false // also keeps the copy below small
	}
	b := []byte(code)
	if i := strings.IndexByte(code, ' '); i >= 0 {
		b = append(b[:i], b[i+1:]...)
	}
	if len(b) != digits {
		return nil, false
	}
	for _, d := range b {
		if d < '0' || d > '9' {
			return nil, false
		}
	}
	return b, true
}
