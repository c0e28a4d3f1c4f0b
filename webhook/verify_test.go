package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/webhook"
)

// signature computes the documented scheme independently of the package.
func signature(key []byte, ts string, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "." + body))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	const body = `{"event":"user.registered"}`
	ts := strconv.FormatInt(now.Unix(), 10)
	good := signature(secret, ts, body)
	for _, tc := range []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      string
		now       time.Time
		tolerance time.Duration
		wantErr   string // "" for success
	}{
		{"ok", secret, ts, good, body, now, time.Minute, ""},
		{"ok at the tolerance", secret, ts, good, body, now.Add(time.Minute), time.Minute, ""},
		{"ok slightly ahead", secret, ts, good, body, now.Add(-time.Minute), time.Minute, ""},
		{"default tolerance", secret, ts, good, body, now.Add(4 * time.Minute), 0, ""},
		{"too old", secret, ts, good, body, now.Add(time.Minute + time.Second), time.Minute, "older than 1m0s"},
		{"default tolerance too old", secret, ts, good, body, now.Add(6 * time.Minute), 0, "older than 5m0s"},
		{"future", secret, ts, good, body, now.Add(-2 * time.Minute), time.Minute, "in the future"},
		{"far future", secret, "9223372036854775807", signature(secret, "9223372036854775807", body), body, now, time.Minute, "in the future"},
		{"far past", secret, "-9223372036854775808", signature(secret, "-9223372036854775808", body), body, now, time.Minute, "older than"},
		{"changed body", secret, ts, good, body + " ", now, time.Minute, "signature mismatch"},
		{"changed timestamp", secret, strconv.FormatInt(now.Unix()+1, 10), good, body, now, time.Minute, "signature mismatch"},
		{"other secret", []byte(strings.Repeat("k", 32)), ts, good, body, now, time.Minute, "signature mismatch"},
		{"upper-case hex", secret, ts, "v1=" + strings.ToUpper(good[3:]), body, now, time.Minute, ""},
		{"short secret", secret[:31], ts, good, body, now, time.Minute, "at least 32 bytes"},
		{"missing timestamp", secret, "", good, body, now, time.Minute, "missing timestamp"},
		{"timestamp not a number", secret, "yesterday", good, body, now, time.Minute, "malformed timestamp"},
		{"fractional timestamp", secret, ts + ".5", good, body, now, time.Minute, "malformed timestamp"},
		{"missing signature", secret, ts, "", body, now, time.Minute, "missing signature"},
		{"other scheme", secret, ts, "v0=" + good[3:], body, now, time.Minute, "malformed signature"},
		{"no prefix", secret, ts, good[3:], body, now, time.Minute, "malformed signature"},
		{"not hex", secret, ts, "v1=" + strings.Repeat("zz", 32), body, now, time.Minute, "malformed signature"},
		{"truncated", secret, ts, good[:len(good)-2], body, now, time.Minute, "malformed signature"},
		{"empty", secret, ts, "v1=", body, now, time.Minute, "malformed signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.ts, tc.sig, []byte(tc.body), tc.now, tc.tolerance)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "webhook: ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Verify: got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
