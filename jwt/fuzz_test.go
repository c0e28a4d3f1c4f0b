package jwt_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

// FuzzRead feeds arbitrary strings to Read under every algorithm. Read must
// never panic, must fail only with CodeUnauthorized, and must accept no
// token but those Write issued in this run (for ES256 also their high-S
// twins, which ECDSA makes equally valid; see TestRevocationHighS). Keys are
// made afresh each run, so inputs cached by earlier runs never verify.
//
// Seeds are the issued tokens and the attack corpus of
// security-checklist.md §2 built against them.
func FuzzRead(f *testing.F) {
	type target struct {
		alg    string
		s      *jwt.Strategy
		issued map[string]bool
	}
	var targets []target
	for _, alg := range algs {
		fx := newFixture(f, alg)
		s := newStrategy(f, fx, nil)
		tg := target{alg: alg, s: s, issued: make(map[string]bool)}
		for range 3 {
			tok := write(f, s)
			tg.issued[tok] = true
			f.Add(tok)
		}
		v := write(f, s)
		tg.issued[v] = true
		for _, a := range corpus(f, fx, v, "http://127.0.0.1:9/jwks.json") {
			for _, tok := range a.tokens {
				if len(tok) <= 16<<10 { // huge seeds only slow the fuzzer down
					f.Add(tok)
				}
			}
		}
		targets = append(targets, tg)
	}

	f.Fuzz(func(t *testing.T, tok string) {
		for _, tg := range targets {
			p, err := tg.s.Read(context.Background(), tok)
			if err != nil {
				if code := gatehouse.ErrorCode(err); code != gatehouse.CodeUnauthorized {
					t.Fatalf("%s: error code %q (%v)", tg.alg, code, err)
				}
				continue
			}
			if p.UserID != userID {
				t.Fatalf("%s: accepted a token for %v", tg.alg, p.UserID)
			}
			if tg.issued[tok] {
				continue
			}
			if tg.alg == "ES256" && len(tok) > 86 && tg.issued[highSTwin(t, tok)] {
				continue
			}
			t.Fatalf("%s: accepted a token Write never issued: %q", tg.alg, tok)
		}
	})
}
