package mfa_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/webauthntest"
)

// refusal fails t unless err is one of the two refusals a client's state
// or answer may earn.
func refusal(t *testing.T, what string, err error) {
	t.Helper()
	switch code := gatehouse.ErrorCode(err); code {
	case gatehouse.CodeMFABadToken, gatehouse.CodeMFABadPasskey:
	default:
		t.Fatalf("%s: code %q (%v), want %q or %q", what, code, err, gatehouse.CodeMFABadToken, gatehouse.CodeMFABadPasskey)
	}
}

// FuzzPasskeyState feeds FinishPasskeyLogin arbitrary states, with a
// valid answer to the options of a real state or an arbitrary one. It
// must never panic, and only the real state with its answer logs in:
// anything else is CodeMFABadToken or CodeMFABadPasskey.
func FuzzPasskeyState(f *testing.F) {
	ctx := context.Background()
	// A fixed key: the states the coordinator seeds with open in every
	// worker, and get past the seal to the checks behind it.
	key := sha256.Sum256([]byte("gatehouse mfa FuzzPasskeyState"))
	e := newEnvWithKey(f, key[:])
	a := webauthntest.New(rpOrigin)
	e.register(f, e.ann, a, "")
	genuine, valid := e.login(f, a)
	registration, _ := e.begin(f, e.bob, webauthntest.New(rpOrigin))
	raw := strings.TrimPrefix(genuine, "ghw_")
	flipped := []byte(raw)
	flipped[len(flipped)/2] ^= 1
	seeds := []string{
		genuine,
		raw,          // no prefix
		"GHW_" + raw, // the prefix in capitals
		"ghm_" + raw, // an mfa_token's prefix
		"ghw_" + raw[:len(raw)/2],
		"ghw_" + string(flipped),
		genuine + "A",
		genuine + "==",
		genuine + "\n",
		"ghw_" + strings.NewReplacer("-", "+", "_", "/").Replace(raw),
		"ghw_" + base64.StdEncoding.EncodeToString([]byte("not sealed")),
		"ghw_" + strings.Repeat("A", 8<<10),
		"ghw_" + strings.Repeat("A", 8<<10+1),
		"ghw_",
		"",
		"\x00",
		registration,
		e.sealState(f, "null"),
		e.sealState(f, "{}"),
		e.sealState(f, `{"kind":"register","expires":"2099-01-01T00:00:00Z"}`),
		e.sealState(f, `{"kind":"login","expires":"2099-01-01T00:00:00Z"}`),
		e.sealState(f, `{"kind":"login","expires":"2099-01-01T00:00:00Z","session":{"challenge":"AAAA","userId":"AAAA"}}`),
		e.sealState(f, `{"kind":"login","expires":"2000-01-01T00:00:00Z"}`),
	}
	for _, s := range seeds {
		f.Add(s, []byte(nil), true)
		f.Add(s, []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`), false)
	}
	f.Fuzz(func(t *testing.T, state string, answer []byte, fixed bool) {
		if fixed {
			answer = valid
		}
		id, err := e.s.FinishPasskeyLogin(ctx, state, answer)
		if err == nil {
			if state != genuine || !fixed || id != e.ann.ID {
				t.Fatalf("state %q logged in as %v", state, id)
			}
			return
		}
		refusal(t, "FinishPasskeyLogin", err)
	})
}

// FuzzPasskeyAnswer feeds CompletePasskey and FinishPasskeyLogin
// arbitrary answers: as they are, or written over a valid answer from
// the offset at. It must never panic, nor ever log in: the server has seen
// a higher signature counter than the authenticator's, so that even a
// valid answer, having passed every check of the library, is refused as a
// clone's. Every answer is CodeMFABadPasskey or CodeMFABadToken.
//
// The ceremonies are begun once, outside the fuzz function, so that an
// input runs the same code each time: coverage that varies (fresh
// challenges and signatures) makes every input look new, and the fuzzer
// spends its time minimizing them.
func FuzzPasskeyAnswer(f *testing.F) {
	ctx := context.Background()
	e := newEnv(f)
	a := webauthntest.New(rpOrigin)
	p, _ := e.register(f, e.ann, a, "")
	e.register(f, e.bob, webauthntest.New(rpOrigin), "")

	// A second step, and an answer to an assertion begun for it before.
	token, stale := e.step(f, e.ann, a)
	step, err := e.s.BeginPasskeyStep(ctx, token)
	if err != nil {
		f.Fatal(err)
	}
	validStep, err := a.Get(step.Options)
	if err != nil {
		f.Fatal(err)
	}
	// A login, and an answer to other options.
	state, validLogin := e.login(f, a)
	_, otherLogin := e.login(f, a)
	_, registration := e.begin(f, e.bob, webauthntest.New(rpOrigin))

	// A clone: the server has seen a higher count than any answer above.
	cred := e.credential(f, e.passkeys(f, e.ann)[0])
	cred.Authenticator.SignCount = 1 << 20
	record, err := json.Marshal(cred)
	if err != nil {
		f.Fatal(err)
	}
	if err := e.store.UsePasskey(ctx, p.ID, record, e.clk.Now()); err != nil {
		f.Fatal(err)
	}

	// Seeds are mostly short, for the fuzzer minimizes an interesting
	// input in time quadratic in its length: realistic answers come from
	// short patches over the valid ones.
	for _, s := range []string{
		``, `"`, `{}`, `null`, `[]`, `{"id":""}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"","authenticatorData":"","signature":"","userHandle":""}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiIiwib3JpZ2luIjoiaHR0cHM6Ly9leGFtcGxlLmNvbSJ9","authenticatorData":"AAAA","signature":"AAAA","userHandle":"AAAAAAAAAAAAAAAAAAAAAA"}}`,
	} {
		f.Add([]byte(s), uint16(0), false)
	}
	f.Add([]byte{}, uint16(0), true) // the valid answers themselves
	for at, patch := range map[int]string{
		0:                   `"`,
		1:                   `"id":"AAAA",`,
		len(`{"id":"`):      `A`,
		len(validLogin) / 2: `AA`,
		len(validLogin) - 2: `,"extra":1}}`,
	} {
		f.Add([]byte(patch), uint16(at), true)
	}
	for _, field := range []string{`"type":"`, `"clientDataJSON":"`, `"authenticatorData":"`, `"signature":"`, `"userHandle":"`, `"authenticatorAttachment":"`} {
		at := bytes.Index(validLogin, []byte(field))
		if at < 0 {
			f.Fatalf("the answer has no %s", field)
		}
		f.Add([]byte(field+`A`), uint16(at), true)
		f.Add([]byte(field+`"`), uint16(at), true)
	}
	// Other answers, as they are: to other options, of a registration, to
	// a begun assertion replaced since.
	for _, other := range [][]byte{stale, otherLogin, registration} {
		f.Add(other, uint16(0), false)
	}

	f.Fuzz(func(t *testing.T, answer []byte, at uint16, patch bool) {
		stepAnswer, loginAnswer := answer, answer
		if patch {
			// A patch writes at most maxPatch bytes: the fuzzer then
			// cuts a longer one short before it minimizes it.
			answer = answer[:min(len(answer), maxPatch)]
			stepAnswer, loginAnswer = overwrite(validStep, int(at), answer), overwrite(validLogin, int(at), answer)
		}
		c, err := e.s.CompletePasskey(ctx, token, stepAnswer)
		if c != nil || err == nil {
			t.Fatalf("CompletePasskey completed a login (%v)", c != nil)
		}
		refusal(t, "CompletePasskey", err)
		id, err := e.s.FinishPasskeyLogin(ctx, state, loginAnswer)
		if err == nil {
			t.Fatalf("FinishPasskeyLogin logged in as %v", id)
		}
		refusal(t, "FinishPasskeyLogin", err)
	})
}

// maxPatch bounds the bytes FuzzPasskeyAnswer writes over a valid answer.
const maxPatch = 48

// overwrite returns a copy of b with patch written over it from
// at%(len(b)+1), growing it where patch goes past its end.
func overwrite(b []byte, at int, patch []byte) []byte {
	at %= len(b) + 1
	out := append([]byte(nil), b...)
	out = append(out[:at], patch...)
	if end := at + len(patch); end < len(b) {
		out = append(out, b[end:]...)
	}
	return out
}
