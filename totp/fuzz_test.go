package totp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/totp"
)

// FuzzVerify checks that Verify never panics on any code, secret, time or
// last step, and that what it accepts is a 6-digit code of a step within
// one of now's and after lastStep, right for the secret.
func FuzzVerify(f *testing.F) {
	secret := []byte("12345678901234567890")
	const unix = 1234567890
	good := totp.Code(secret, totp.Step(time.Unix(unix, 0)))
	for _, code := range []string{
		good, " " + good + " ", good[:3] + " " + good[3:], good + "0", good[:5],
		"", " ", "000000", "999999", "1234567", "12345a", "-12345", "+12345",
		"１２３４５６", "123\x00456", "123  456", "\u00a0" + good + "\u3000",
		strings.Repeat("1", 1000),
	} {
		f.Add(secret, code, int64(unix), int64(0))
	}
	f.Add(secret, good, int64(unix), totp.Step(time.Unix(unix, 0)))
	f.Add([]byte{}, "328482", int64(0), int64(-1))
	f.Add([]byte{0}, "000000", int64(-1<<63), int64(-1<<63))
	f.Add([]byte("k"), "000000", int64(1<<62), int64(1<<63-1))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix, lastStep int64) {
		now := time.Unix(unix, 0)
		step, ok := totp.Verify(secret, code, now, lastStep)
		if !ok {
			if step != 0 {
				t.Fatalf("Verify refused %q but returned step %d", code, step)
			}
			return
		}
		digits := strings.Replace(strings.TrimSpace(code), " ", "", 1)
		if len(digits) != 6 || strings.Trim(digits, "0123456789") != "" {
			t.Fatalf("Verify accepted %q, not 6 digits", code)
		}
		if cur := totp.Step(now); step < cur-1 || step > cur+1 || step <= lastStep {
			t.Fatalf("Verify accepted step %d at step %d, lastStep %d", step, cur, lastStep)
		}
		if totp.Code(secret, step) != digits {
			t.Fatalf("Verify accepted %q for step %d, whose code is %s", code, step, totp.Code(secret, step))
		}
	})
}

// FuzzNormalizeRecoveryCode checks that normalizing is idempotent, yields
// 10 characters of the alphabet or nothing, agrees with HashRecoveryCode,
// and that a normalized code shown as xxxxx-xxxxx comes back unchanged.
func FuzzNormalizeRecoveryCode(f *testing.F) {
	codes, err := totp.GenerateRecoveryCodes(5)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range codes {
		f.Add(c)
		f.Add(strings.ToUpper(c))
	}
	for _, s := range []string{"", "oOiIl-L0123", "abcde-fghju", "abcde-fghj\u212a",
		" ab cde-fg-hjk\r\n", "abcde fghjk m", "\xff\xfe", strings.Repeat("-", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := totp.NormalizeRecoveryCode(s)
		h := totp.HashRecoveryCode(s)
		if !ok {
			if n != "" || h != "" {
				t.Fatalf("invalid %q normalized to %q, hashed to %q", s, n, h)
			}
			return
		}
		if len(n) != 10 || strings.Trim(n, "0123456789abcdefghjkmnpqrstvwxyz") != "" {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q: not 10 characters of the alphabet", s, n)
		}
		if n2, ok2 := totp.NormalizeRecoveryCode(n); n2 != n || !ok2 {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", s, n, n2, ok2)
		}
		shown := n[:5] + "-" + n[5:]
		if n2, ok2 := totp.NormalizeRecoveryCode(shown); n2 != n || !ok2 {
			t.Fatalf("shown as %q, %q normalizes to %q, %v", shown, n, n2, ok2)
		}
		if h == "" || h != totp.HashRecoveryCode(n) {
			t.Fatalf("HashRecoveryCode(%q) = %q, but of its normal form %q = %q", s, h, n, totp.HashRecoveryCode(n))
		}
	})
}
