package password_test

import (
	"context"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
	"github.com/gatehouse/gatehouse/password/blocklist"
)

// FuzzVerify checks the hash parser and the verifier: Verify never panics,
// never reports a match together with an error, and never accepts a hash
// for a password other than the one it matched (up to NFKC), whether the
// hash is arbitrary input or one Hash just made.
func FuzzVerify(f *testing.F) {
	const maxBytes = 1024 // the Hasher's default MaxBytes
	const key = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	bc, err := bcrypt.GenerateFromPassword([]byte("password"), bcrypt.MinCost)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct{ hash, pw, other string }{
		{"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "password", "passwore"},
		{"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc", "password", "Password"},
		{"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$" + key, "password", "password "},
		{string(bc), "password", "password\x00password"},
		{"$2y" + string(bc[3:]), "password", "passwor"},
		{"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key, "caf\u00e9", "cafe\u0301"},
		{"$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + key, "ｐａｓｓ", "pass"},
		{"$argon2id$v=19$m=0128,t=128,p=128$AAAABBBBCCCC$", "", ""},
		{"$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$" + key, "x", "y"},
		{"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ=$" + key, "x", "y"},
		{"$argon2id$v=19$m=64,t=1,p=1,keyid=1$c29tZXNhbHQ$" + key, "x", "y"},
		{"$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E", "password", "x"},
		{"$2b$99$" + strings.Repeat("a", 53), "x", "y"},
		{"", "", "x"},
	} {
		f.Add(seed.hash, seed.pw, seed.other)
	}
	h := &password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1}}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, hash, pw, other string) {
		// Keep each run cheap; the bounds themselves are tested elsewhere.
		if m, tc, cost := password.Cost(hash); m > 1024 || tc > 4 || cost > 5 {
			t.Skip()
		}
		same := norm.NFKC.String(pw) == norm.NFKC.String(other)

		ok, rehash, err := h.Verify(ctx, pw, hash)
		if err != nil && (ok || rehash != "") {
			t.Fatalf("Verify = %v, %q, %v: a match with an error", ok, rehash, err)
		}
		if ok {
			if okOther, _, _ := h.Verify(ctx, other, hash); okOther && !same {
				t.Fatalf("hash %q matches both %q and %q", hash, pw, other)
			}
			if rehash != "" {
				if ok, _, err := h.Verify(ctx, pw, rehash); !ok || err != nil {
					t.Fatalf("rehash %q does not verify: %v", rehash, err)
				}
			}
		}

		// A fresh hash of pw accepts pw and nothing else.
		fresh, err := h.Hash(ctx, pw)
		if err != nil {
			if len(pw) <= maxBytes {
				t.Fatalf("Hash: %v", err)
			}
			return
		}
		if ok, rehash, err := h.Verify(ctx, pw, fresh); !ok || rehash != "" || err != nil {
			t.Fatalf("Verify(own hash) = %v, %q, %v", ok, rehash, err)
		}
		if ok, _, err := h.Verify(ctx, other, fresh); err != nil || ok != (same && len(other) <= maxBytes) {
			t.Fatalf("Verify(%q, hash of %q) = %v, %v", other, pw, ok, err)
		}
	})
}

// FuzzValidate checks the policy and the normalization under it: Validate
// never panics, answers nil or an InvalidPassword error with a reason, and
// accepts nothing the documented limits forbid.
func FuzzValidate(f *testing.F) {
	for _, seed := range []struct{ pw, email string }{
		{"correct horse battery staple", "alice@example.com"},
		{"password", ""},
		{"ＰａｓｓＷｏｒｄ", "bob@example.com"},
		{"alice in wonderland", "Alice+shop@Example.com"},
		{"cafe\u0301 au lait", "caf\u00e9@example.com"},
		{"\ufdfa\ufdfa\ufdfa\ufdfa\ufdfa\ufdfa\ufdfa\ufdfa", "x@y"},
		{"ﬁﬁﬁﬁ", "@"},
		{"İstanbul1453", "i\u0307stanbul@example.com"},
		{"abcd\x00efgh", "a\xffb@example.com"},
		{strings.Repeat("🐈", 129), ""},
		{"gatehouse2024", "gate@house"},
	} {
		f.Add(seed.pw, seed.email)
	}
	p := password.Policy{ServiceName: "Gatehouse"}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, pw, email string) {
		err := p.ValidatePassword(ctx, pw, &gatehouse.User{Email: email})
		if err != nil {
			if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidPassword || gatehouse.ErrorReason(err) == "" {
				t.Fatalf("ValidatePassword = %v, want nil or InvalidPassword with a reason", err)
			}
			return
		}
		nfkc := norm.NFKC.String(pw)
		switch n := utf8.RuneCountInString(nfkc); {
		case len(pw) > 1024 || !utf8.ValidString(pw):
			t.Fatalf("accepted %d bytes, valid UTF-8 %v", len(pw), utf8.ValidString(pw))
		case n < 8 || n > 128:
			t.Fatalf("accepted %d characters", n)
		case blocklist.Contains(pw):
			t.Fatalf("accepted %q, which is on the blocklist", pw)
		case strings.ContainsFunc(nfkc, unicode.IsControl):
			t.Fatalf("accepted control characters in %q", pw)
		}
		// The accepted password hashes without error.
		if _, err := (&password.Hasher{Params: password.Params{Memory: 64, Time: 1, Threads: 1}}).Hash(ctx, pw); err != nil {
			t.Fatalf("Hash of an accepted password: %v", err)
		}
	})
}
