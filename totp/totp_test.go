package totp_test

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/gatehouse/gatehouse/totp"
)

// rfcSecret is the SHA-1 key of RFC 4226 Appendix D and RFC 6238
// Appendix B.
var rfcSecret = []byte("12345678901234567890")

// TestHOTP checks the HOTP core with 8 digits against RFC 6238 Appendix B
// (the SHA-1 rows).
func TestHOTP(t *testing.T) {
	for _, tt := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step := totp.Step(time.Unix(tt.unix, 0))
		if got := totp.HOTP(rfcSecret, uint64(step), 8); got != tt.want {
			t.Errorf("HOTP(t=%d) = %s, want %s", tt.unix, got, tt.want)
		}
	}
}

// TestCode checks the 6-digit codes against RFC 4226 Appendix D.
func TestCode(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got := totp.Code(rfcSecret, int64(counter)); got != w {
			t.Errorf("Code(counter %d) = %s, want %s", counter, got, w)
		}
	}
}

// TestCode_PQuerna checks Code against an independent implementation, for
// secrets of the lengths apps meet (10 bytes from older services, 20 from
// Generate, 32) and for times across the range.
func TestCode_PQuerna(t *testing.T) {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	for _, size := range []int{10, 20, 32} {
		secret := make([]byte, size)
		for i := range secret {
			secret[i] = byte(i*37 + size)
		}
		for _, unix := range []int64{0, 29, 30, 1700000000, 1700000015, 4102444800} {
			now := time.Unix(unix, 0)
			want, err := pqtotp.GenerateCodeCustom(b32.EncodeToString(secret), now,
				pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			if got := totp.Code(secret, totp.Step(now)); got != want {
				t.Errorf("size %d, t=%d: Code = %s, pquerna/otp = %s", size, unix, got, want)
			}
		}
	}
}

func TestStep(t *testing.T) {
	for _, tt := range []struct {
		unix, want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2},
		{1234567890, 41152263},
		{-1, -1}, {-30, -1}, {-31, -2}, // rounded down, as RFC 6238's floor
	} {
		if got := totp.Step(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("Step(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
	// Sub-second parts and zones do not matter.
	at := time.Date(2009, 2, 13, 23, 31, 59, 999999999, time.FixedZone("X", 5*3600))
	if got := totp.Step(at); got != 1234549919/30 {
		t.Errorf("Step(%v) = %d", at, got)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	now := time.Unix(1700000010, 0) // 10 s into its step
	cur := totp.Step(now)
	code := func(offset int64) string { return totp.Code(secret, cur+offset) }

	for _, tt := range []struct {
		name     string
		code     string
		now      time.Time
		lastStep int64
		ok       bool
		step     int64
	}{
		{"OK", code(0), now, cur - 10, true, cur},
		{"OK/NeverUsed", code(0), now, 0, true, cur},
		{"OK/PreviousStep", code(-1), now, 0, true, cur - 1},
		{"OK/NextStep", code(+1), now, 0, true, cur + 1},
		// The clock skew window, seen from the server's clock: a code
		// made 30 s earlier or later passes, 60 s does not.
		{"Skew/Behind30s", code(0), now.Add(30 * time.Second), 0, true, cur},
		{"Skew/Ahead30s", code(0), now.Add(-30 * time.Second), 0, true, cur},
		{"Skew/Behind60s", code(0), now.Add(60 * time.Second), 0, false, 0},
		{"Skew/Ahead60s", code(0), now.Add(-60 * time.Second), 0, false, 0},
		{"Skew/TwoStepsBack", code(-2), now, 0, false, 0},
		{"Skew/TwoStepsAhead", code(+2), now, 0, false, 0},
		// Replays: a code of the last accepted step or an earlier one.
		{"Replay/SameStep", code(0), now, cur, false, 0},
		{"Replay/LaterStepUsed", code(0), now, cur + 1, false, 0},
		{"Replay/PreviousStepUsed", code(-1), now, cur - 1, false, 0},
		{"Replay/NextStepAfterUsed", code(+1), now, cur, true, cur + 1},
		{"Replay/StepBeforeAccepts", code(0), now, cur - 1, true, cur},
		// Wrong codes.
		{"Wrong", wrong(code(-1), code(0), code(1)), now, 0, false, 0},
		{"WrongSecret", totp.Code([]byte("another secret......"), cur), now, 0, false, 0},
		// Spacing apps and people add.
		{"Space/Inner", code(0)[:3] + " " + code(0)[3:], now, 0, true, cur},
		{"Space/Around", " \t" + code(0) + "\n", now, 0, true, cur},
		{"Space/Both", " " + code(0)[:3] + " " + code(0)[3:] + " ", now, 0, true, cur},
		{"Space/TwoInner", code(0)[:2] + " " + code(0)[2:4] + " " + code(0)[4:], now, 0, false, 0},
		{"Space/Double", code(0)[:3] + "  " + code(0)[3:], now, 0, false, 0},
		{"Malformed/Empty", "", now, 0, false, 0},
		{"Malformed/Spaces", "       ", now, 0, false, 0},
		{"Malformed/Short", code(0)[:5], now, 0, false, 0},
		{"Malformed/Long", code(0) + "0", now, 0, false, 0},
		{"Malformed/Letter", code(0)[:5] + "a", now, 0, false, 0},
		{"Malformed/Sign", "+" + code(0)[1:], now, 0, false, 0},
		{"Malformed/Hyphen", code(0)[:3] + "-" + code(0)[3:], now, 0, false, 0},
		{"Malformed/NUL", code(0) + "\x00", now, 0, false, 0},
		{"Malformed/FullwidthDigits", toFullwidth(code(0)), now, 0, false, 0},
		{"Malformed/ArabicIndicDigits", toArabicIndic(code(0)), now, 0, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := totp.Verify(secret, tt.code, tt.now, tt.lastStep)
			if ok != tt.ok || step != tt.step {
				t.Errorf("Verify(%q, lastStep %d) = %d, %v; want %d, %v (cur %d)",
					tt.code, tt.lastStep-cur, step-cur, ok, tt.step-cur, tt.ok, cur)
			}
		})
	}
}

// TestVerify_EmptySecret checks that a missing secret fails closed, though
// HMAC would happily compute codes from an empty key.
func TestVerify_EmptySecret(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, secret := range [][]byte{nil, {}} {
		if _, ok := totp.Verify(secret, totp.Code(secret, totp.Step(now)), now, 0); ok {
			t.Errorf("Verify(%v) accepted a code", secret)
		}
	}
}

// wrong returns a 6-digit code that is none of codes.
func wrong(codes ...string) string {
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i)
		if !strings.Contains(strings.Join(codes, ","), c) {
			return c
		}
	}
}

func toFullwidth(s string) string {
	return strings.Map(func(r rune) rune { return r - '0' + '０' }, s)
}

func toArabicIndic(s string) string {
	return strings.Map(func(r rune) rune { return r - '0' + '٠' }, s)
}

func TestGenerate(t *testing.T) {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	for _, tt := range []struct{ issuer, account string }{
		{"Gatehouse", "alice@example.com"},
		{"Acme Co", "alice+mfa@example.com"},
		{"AT&T", "bob"},        // "&" would end the issuer parameter
		{"A+B=C", "x y"},       // "+" would read as a space, "=" as a separator
		{"Zürich 100%", "ü@ß"}, // non-ASCII, and "%"
		{"a/b?c#d", "e/f?g#h"}, // URI delimiters
	} {
		t.Run(tt.issuer, func(t *testing.T) {
			key, err := totp.Generate(tt.issuer, tt.account)
			if err != nil {
				t.Fatal(err)
			}
			if len(key.Secret) != 20 {
				t.Errorf("len(Secret) = %d, want 20", len(key.Secret))
			}
			if !strings.HasPrefix(key.URI, "otpauth://totp/") || strings.ContainsAny(key.URI, " +") {
				t.Errorf("URI = %s", key.URI)
			}
			k, err := otp.NewKeyFromURL(key.URI)
			if err != nil {
				t.Fatal(err)
			}
			if k.Type() != "totp" || k.Issuer() != tt.issuer || k.AccountName() != tt.account ||
				k.Period() != 30 || k.Digits() != otp.DigitsSix || k.Algorithm() != otp.AlgorithmSHA1 {
				t.Errorf("URI %s parses as type %q issuer %q account %q period %d digits %v algorithm %v",
					key.URI, k.Type(), k.Issuer(), k.AccountName(), k.Period(), k.Digits(), k.Algorithm())
			}
			// The issuer in the label, for apps that read it there.
			if label := strings.TrimPrefix(mustParsePath(t, key.URI), "/"); label != tt.issuer+":"+tt.account {
				t.Errorf("label = %q", label)
			}
			secret, err := b32.DecodeString(k.Secret())
			if err != nil || !bytes.Equal(secret, key.Secret) {
				t.Errorf("secret parameter %q = %x, %v; want %x", k.Secret(), secret, err, key.Secret)
			}
			// An app given the URI shows the codes Verify accepts.
			now := time.Unix(1700000000, 0)
			code, err := pqtotp.GenerateCode(k.Secret(), now)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := totp.Verify(key.Secret, code, now, 0); !ok {
				t.Errorf("Verify refused the code pquerna/otp made from the URI")
			}
		})
	}
}

func TestGenerate_Random(t *testing.T) {
	a, err := totp.Generate("Gatehouse", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b, err := totp.Generate("Gatehouse", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Secret, b.Secret) || a.URI == b.URI {
		t.Errorf("two keys are the same: %x", a.Secret)
	}
}

func TestGenerate_Invalid(t *testing.T) {
	for _, tt := range []struct{ issuer, account string }{
		{"", "alice@example.com"},
		{"Gatehouse", ""},
		{"Gate:house", "alice@example.com"},
		{"Gatehouse", "alice:example"},
	} {
		key, err := totp.Generate(tt.issuer, tt.account)
		if err == nil || !strings.HasPrefix(err.Error(), "totp: ") || key.Secret != nil || key.URI != "" {
			t.Errorf("Generate(%q, %q) = %+v, %v; want a totp: error", tt.issuer, tt.account, key, err)
		}
	}
}

// mustParsePath returns the decoded path of uri.
func mustParsePath(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}
