package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	signaturePrefix = "v1="
	// defaultTolerance is the age Verify accepts when given none.
	defaultTolerance = 5 * time.Minute
)

// sign returns the X-Gatehouse-Signature of a body sent at timestamp ts.
func sign(secret []byte, ts string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery for a receiver: timestamp and signature are the
// X-Gatehouse-Timestamp and X-Gatehouse-Signature headers and body the raw
// request body, before any decoding. The signature is compared in constant
// time. A timestamp further than tolerance from now, in either direction,
// is refused, so a recorded delivery cannot be replayed later; tolerance
// <= 0 means 5 minutes. Keep the delivery ids seen within the tolerance to
// also refuse a replay inside it.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) < minSecret {
		return fmt.Errorf("webhook: secret must be at least %d bytes", minSecret)
	}
	if tolerance <= 0 {
		tolerance = defaultTolerance
	}
	if timestamp == "" {
		return errors.New("webhook: missing timestamp")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: malformed timestamp: want unix seconds")
	}
	if signature == "" {
		return errors.New("webhook: missing signature")
	}
	hexSig, ok := strings.CutPrefix(signature, signaturePrefix)
	if !ok {
		return errors.New(`webhook: malformed signature: want "v1=" and hex`)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return errors.New(`webhook: malformed signature: want "v1=" and hex`)
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return errors.New("webhook: signature mismatch")
	}
	tooOld := fmt.Errorf("webhook: timestamp older than %s: possible replay", tolerance)
	tooNew := fmt.Errorf("webhook: timestamp more than %s in the future", tolerance)
	// Seconds first, since time.Unix overflows on extreme values; no
	// tolerance (a Duration) comes near 1<<40 seconds.
	const far = 1 << 40
	switch n := now.Unix(); {
	case ts < n-far:
		return tooOld
	case ts > n+far:
		return tooNew
	}
	switch age := now.Sub(time.Unix(ts, 0)); {
	case age > tolerance:
		return tooOld
	case age < -tolerance:
		return tooNew
	}
	return nil
}
