package mfa_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
	"github.com/gatehouse/gatehouse/totp"
	"github.com/gatehouse/gatehouse/webauthntest"
)

// The relying party of the passkey tests, and an origin under it that
// the relying party does not accept.
const (
	rpID        = "example.com"
	rpOrigin    = "https://example.com"
	otherOrigin = "https://login.example.com"
)

// env is a Service with passkeys over a fresh SQLite database, and two
// users of it.
type env struct {
	s        *mfa.Service
	store    *sqlite.MFAStore
	settings *sqlite.SettingStore
	clk      *clock
	seal     func([]byte) ([]byte, error)
	ann, bob *gatehouse.User
}

// envOption changes the Config newEnv builds.
type envOption func(*mfa.Config)

// withoutPasskeys turns passkeys off.
func withoutPasskeys(c *mfa.Config) { c.Passkeys, c.Nonces, c.RPID, c.RPOrigins = nil, nil, "", nil }

// withoutSettings leaves the Service without a setting store.
func withoutSettings(c *mfa.Config) { c.Settings = nil }

// newEnv returns an env whose states are sealed with AES-GCM under a key
// of its own, as a server seals them.
func newEnv(tb testing.TB, opts ...envOption) *env {
	tb.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return newEnvWithKey(tb, key, opts...)
}

// newEnvWithKey is newEnv with a given sealing key.
func newEnvWithKey(tb testing.TB, key []byte, opts ...envOption) *env {
	tb.Helper()
	ctx := context.Background()
	db := sqlitetest.New(tb)
	clk := &clock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	db.Now = clk.Now
	seal, open := gcm(tb, key)
	e := &env{store: sqlite.NewMFAStore(db), settings: sqlite.NewSettingStore(db), clk: clk, seal: seal}
	users := sqlite.NewUserStore(db)
	e.ann = &gatehouse.User{Email: "ann@example.com", HashedPassword: "h", IsActive: true}
	e.bob = &gatehouse.User{Email: "bob@example.com", HashedPassword: "h", IsActive: true}
	for _, u := range []*gatehouse.User{e.ann, e.bob} {
		if err := users.CreateUser(ctx, u); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := mfa.Config{
		TOTP: e.store, RecoveryCodes: e.store, Challenges: e.store, Seal: seal, Open: open,
		RecoveryKey: []byte("recovery code key of 32 bytes or more"), Now: clk.Now,
		Passkeys: e.store, Nonces: sqlite.NewNonceStore(db), RPID: rpID, RPOrigins: []string{rpOrigin},
		Settings: e.settings,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := mfa.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e.s = s
	return e
}

// gcm returns AES-GCM seal and open functions under key.
func gcm(tb testing.TB, key []byte) (seal, open func([]byte) ([]byte, error)) {
	tb.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		tb.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	n := aead.NonceSize()
	seal = func(plain []byte) ([]byte, error) {
		nonce := make([]byte, n, n+len(plain)+aead.Overhead())
		_, _ = rand.Read(nonce)
		return aead.Seal(nonce, nonce, plain, nil), nil
	}
	open = func(sealed []byte) ([]byte, error) {
		if len(sealed) < n {
			return nil, errors.New("sealed text too short")
		}
		return aead.Open(nil, sealed[:n], sealed[n:], nil)
	}
	return seal, open
}

// sealState seals plain as the Service seals a ceremony's state.
func (e *env) sealState(tb testing.TB, plain string) string {
	tb.Helper()
	sealed, err := e.seal([]byte(plain))
	if err != nil {
		tb.Fatal(err)
	}
	return "ghw_" + base64.RawURLEncoding.EncodeToString(sealed)
}

// begin starts adding a passkey for u and has a answer it.
func (e *env) begin(t testing.TB, u *gatehouse.User, a *webauthntest.Authenticator) (state string, answer []byte) {
	t.Helper()
	c, err := e.s.BeginPasskey(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if c.State == "" || len(c.Options) == 0 {
		t.Fatalf("BeginPasskey: %+v", c)
	}
	answer, err = a.Create(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	return c.State, answer
}

// register adds a passkey of a for u, named name.
func (e *env) register(t testing.TB, u *gatehouse.User, a *webauthntest.Authenticator, name string) (*gatehouse.Passkey, []string) {
	t.Helper()
	state, answer := e.begin(t, u, a)
	p, codes, err := e.s.FinishPasskey(context.Background(), u, state, name, answer)
	if err != nil {
		t.Fatalf("FinishPasskey: %v", err)
	}
	return p, codes
}

// enrolTOTP gives u a confirmed TOTP and returns its secret.
func (e *env) enrolTOTP(t testing.TB, u *gatehouse.User) []byte {
	t.Helper()
	ctx := context.Background()
	en, err := e.s.BeginTOTP(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	secret := decodeSecret(t, en.Secret)
	if _, err := e.s.ConfirmTOTP(ctx, u.ID, totp.Code(secret, totp.Step(e.clk.Now()))); err != nil {
		t.Fatal(err)
	}
	return secret
}

// decodeSecret decodes an Enrolment's secret.
func decodeSecret(t testing.TB, secret string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// step begins the second step of a login of u with a passkey and has a
// answer it.
func (e *env) step(t testing.TB, u *gatehouse.User, a *webauthntest.Authenticator) (token string, answer []byte) {
	t.Helper()
	ctx := context.Background()
	token, err := e.s.Challenge(ctx, u.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.s.BeginPasskeyStep(ctx, token)
	if err != nil {
		t.Fatalf("BeginPasskeyStep: %v", err)
	}
	if c.State != "" {
		t.Errorf("BeginPasskeyStep handed out a state: %q", c.State)
	}
	if answer, err = a.Get(c.Options); err != nil {
		t.Fatal(err)
	}
	return token, answer
}

// login begins a login with a passkey alone and has a answer it.
func (e *env) login(t testing.TB, a *webauthntest.Authenticator) (state string, answer []byte) {
	t.Helper()
	c, err := e.s.BeginPasskeyLogin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if answer, err = a.Get(c.Options); err != nil {
		t.Fatal(err)
	}
	return c.State, answer
}

// credential decodes the stored record of passkey p.
func (e *env) credential(t testing.TB, p gatehouse.Passkey) webauthn.Credential {
	t.Helper()
	var c webauthn.Credential
	if err := json.Unmarshal(p.Credential, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// passkeys returns u's stored passkeys.
func (e *env) passkeys(t testing.TB, u *gatehouse.User) []gatehouse.Passkey {
	t.Helper()
	keys, err := e.s.Passkeys(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func (e *env) status(t testing.TB, u *gatehouse.User) mfa.Status {
	t.Helper()
	st, err := e.s.Status(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestFinishPasskey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, give, want string
	}{
		{"trimmed", "  laptop\t", "laptop"},
		{"blank", " \n ", "Passkey"},
		{"empty", "", "Passkey"},
		{"64 runes", strings.Repeat("é", mfa.MaxPasskeyName), strings.Repeat("é", mfa.MaxPasskeyName)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			a := webauthntest.New(rpOrigin)
			state, answer := e.begin(t, e.ann, a)
			p, codes, err := e.s.FinishPasskey(ctx, e.ann, state, tt.give, answer)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.want || p.UserID != e.ann.ID || p.ID.IsZero() || !p.CreatedAt.Equal(e.clk.Now()) {
				t.Errorf("passkey %+v, want name %q of ann now", p, tt.want)
			}
			if ids := a.CredentialIDs(); !bytes.Equal(p.CredentialID, ids[len(ids)-1]) {
				t.Errorf("credential id %x, the authenticator's %x", p.CredentialID, ids)
			}
			if len(codes) != mfa.DefaultRecoveryCodes {
				t.Errorf("%d recovery codes for the first factor, want %d", len(codes), mfa.DefaultRecoveryCodes)
			}
			keys := e.passkeys(t, e.ann)
			if len(keys) != 1 || keys[0].ID != p.ID || keys[0].Name != tt.want || !keys[0].LastUsedAt.IsZero() {
				t.Errorf("stored passkeys %+v", keys)
			}
		})
	}
}

func TestFinishPasskeyRecoveryCodesForFirstFactorOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, codes := e.register(t, e.ann, webauthntest.New(rpOrigin), "one")
	if len(codes) != mfa.DefaultRecoveryCodes {
		t.Fatalf("first passkey: %d codes", len(codes))
	}
	// A second authenticator: the first holds a credential the options
	// exclude.
	if _, again := e.register(t, e.ann, webauthntest.New(rpOrigin), "two"); again != nil {
		t.Errorf("second passkey: codes %v, want none", again)
	}
	wantCode(t, "a first recovery code", e.s.CheckCode(context.Background(), e.ann.ID, codes[0]), "")

	e.enrolTOTP(t, e.bob)
	if _, codes := e.register(t, e.bob, webauthntest.New(rpOrigin), ""); codes != nil {
		t.Errorf("passkey of a user with a TOTP: codes %v, want none", codes)
	}
	if st := e.status(t, e.ann); st != (mfa.Status{Passkeys: 2, RecoveryCodes: mfa.DefaultRecoveryCodes - 1}) {
		t.Errorf("ann: %+v", st)
	}
	if st := e.status(t, e.bob); st != (mfa.Status{TOTP: true, Passkeys: 1, RecoveryCodes: mfa.DefaultRecoveryCodes}) {
		t.Errorf("bob: %+v", st)
	}
}

func TestFinishPasskeyRefuses(t *testing.T) {
	t.Parallel()
	huge := append([]byte(`{"id":"`), bytes.Repeat([]byte("A"), 64<<10)...)
	tests := []struct {
		name string
		// finish returns FinishPasskey's arguments: the user, state, name
		// and answer.
		finish func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte)
		want   gatehouse.Code
	}{
		{"name too long", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, strings.Repeat("x", mfa.MaxPasskeyName+1), answer
		}, gatehouse.CodeBadRequest},
		{"name too long in runes", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, strings.Repeat("é", mfa.MaxPasskeyName+1), answer
		}, gatehouse.CodeBadRequest},
		{"name not UTF-8", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "lap\xfftop", answer
		}, gatehouse.CodeBadRequest},
		{"name with a newline", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "lap\ntop", answer
		}, gatehouse.CodeBadRequest},
		{"name with a NUL", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "lap\x00top", answer
		}, gatehouse.CodeBadRequest},
		{"name with a right-to-left override", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "lap\u202etop", answer
		}, gatehouse.CodeBadRequest},
		{"state of another user", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.bob, state, "", answer
		}, gatehouse.CodeMFABadToken},
		{"state replayed, answer replayed", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			if _, _, err := e.s.FinishPasskey(context.Background(), e.ann, state, "", answer); err != nil {
				t.Fatal(err)
			}
			return e.ann, state, "", answer
		}, gatehouse.CodeMFABadToken},
		{"state replayed, fresh answer", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			c, err := e.s.BeginPasskey(context.Background(), e.ann)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := webauthntest.New(rpOrigin).Create(c.Options)
			if _, _, err := e.s.FinishPasskey(context.Background(), e.ann, c.State, "", answer); err != nil {
				t.Fatal(err)
			}
			answer, err = webauthntest.New(rpOrigin).Create(c.Options)
			if err != nil {
				t.Fatal(err)
			}
			return e.ann, c.State, "", answer
		}, gatehouse.CodeMFABadToken},
		{"state expired", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			e.clk.Add(mfa.DefaultChallengeTTL)
			return e.ann, state, "", answer
		}, gatehouse.CodeMFABadToken},
		{"state of a login", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			_, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			c, err := e.s.BeginPasskeyLogin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			return e.ann, c.State, "", answer
		}, gatehouse.CodeMFABadToken},
		{"state without its prefix", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, strings.TrimPrefix(state, "ghw_"), "", answer
		}, gatehouse.CodeMFABadToken},
		{"state not base64url", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state[:10] + "+/=" + state[10:], "", answer
		}, gatehouse.CodeMFABadToken},
		{"state tampered", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			b := []byte(state)
			if b[20] == 'A' {
				b[20] = 'B'
			} else {
				b[20] = 'A'
			}
			return e.ann, string(b), "", answer
		}, gatehouse.CodeMFABadToken},
		{"state truncated", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state[:len(state)-4], "", answer
		}, gatehouse.CodeMFABadToken},
		{"state empty", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			_, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, "", "", answer
		}, gatehouse.CodeMFABadToken},
		{"state huge", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			_, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, "ghw_" + strings.Repeat("A", 9<<10), "", answer
		}, gatehouse.CodeMFABadToken},
		{"state sealed, not JSON", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			_, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, e.sealState(t, "not json"), "", answer
		}, gatehouse.CodeMFABadToken},
		{"state sealed, of no kind", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			_, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, e.sealState(t, `{"user_id":"`+e.ann.ID.String()+`","expires":"2099-01-01T00:00:00Z"}`), "", answer
		}, gatehouse.CodeMFABadToken},
		{"answer from another origin", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(otherOrigin))
			return e.ann, state, "", answer
		}, gatehouse.CodeMFABadPasskey},
		{"answer to other options", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, _ := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			_, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "", answer
		}, gatehouse.CodeMFABadPasskey},
		{"answer of a login", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			_, answer := e.login(t, a)
			state, _ := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "", answer
		}, gatehouse.CodeMFABadPasskey},
		{"answer empty", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, _ := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "", []byte{}
		}, gatehouse.CodeMFABadPasskey},
		{"answer not JSON", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, _ := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "", []byte("nope")
		}, gatehouse.CodeMFABadPasskey},
		{"answer over 64 KiB", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			padded := append(bytes.Repeat([]byte(" "), 64<<10+1-len(answer)), answer...)
			return e.ann, state, "", padded
		}, gatehouse.CodeMFABadPasskey},
		{"answer huge garbage", func(t *testing.T, e *env) (*gatehouse.User, string, string, []byte) {
			state, _ := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return e.ann, state, "", huge
		}, gatehouse.CodeMFABadPasskey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			u, state, name, answer := tt.finish(t, e)
			before := len(e.passkeys(t, e.ann))
			p, codes, err := e.s.FinishPasskey(context.Background(), u, state, name, answer)
			wantCode(t, "FinishPasskey", err, tt.want)
			if p != nil || codes != nil {
				t.Errorf("FinishPasskey refused, yet returned %+v, %v", p, codes)
			}
			if n := len(e.passkeys(t, e.ann)); n != before {
				t.Errorf("ann has %d passkeys, had %d", n, before)
			}
			if n := len(e.passkeys(t, e.bob)); n != 0 {
				t.Errorf("bob has %d passkeys", n)
			}
		})
	}
}

// The state of a registration is good until ChallengeTTL has passed,
// and no longer.
func TestFinishPasskeyStateTTL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		after time.Duration
		want  gatehouse.Code
	}{
		{0, ""},
		{mfa.DefaultChallengeTTL - time.Microsecond, ""},
		{mfa.DefaultChallengeTTL, gatehouse.CodeMFABadToken},
		{24 * time.Hour, gatehouse.CodeMFABadToken},
	} {
		t.Run(tt.after.String(), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			state, answer := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			e.clk.Add(tt.after)
			_, _, err := e.s.FinishPasskey(context.Background(), e.ann, state, "", answer)
			wantCode(t, "FinishPasskey", err, tt.want)
		})
	}
}

// A Service without passkeys refuses every passkey method, and lists no
// passkeys.
func TestPasskeysNotConfigured(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, withoutPasskeys)
	if e.s.PasskeysEnabled() {
		t.Error("PasskeysEnabled without passkeys")
	}
	with := newEnv(t)
	if !with.s.PasskeysEnabled() {
		t.Error("PasskeysEnabled false with passkeys")
	}
	a := webauthntest.New(rpOrigin)
	regState, regAnswer := with.begin(t, with.ann, a)
	token, err := e.s.Challenge(ctx, e.ann.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"BeginPasskey": func() error { _, err := e.s.BeginPasskey(ctx, e.ann); return err },
		"FinishPasskey": func() error {
			_, _, err := e.s.FinishPasskey(ctx, e.ann, regState, "", regAnswer)
			return err
		},
		"RemovePasskey":     func() error { return e.s.RemovePasskey(ctx, e.ann.ID, gatehouse.NewID()) },
		"BeginPasskeyStep":  func() error { _, err := e.s.BeginPasskeyStep(ctx, token); return err },
		"CompletePasskey":   func() error { _, err := e.s.CompletePasskey(ctx, token, regAnswer); return err },
		"BeginPasskeyLogin": func() error { _, err := e.s.BeginPasskeyLogin(ctx); return err },
		"FinishPasskeyLogin": func() error {
			_, err := e.s.FinishPasskeyLogin(ctx, regState, regAnswer)
			return err
		},
	}
	for name, call := range calls {
		wantCode(t, name, call(), gatehouse.CodeMFAPasskeyNotEnabled)
	}
	keys, err := e.s.Passkeys(ctx, e.ann.ID)
	if err != nil || keys == nil || len(keys) != 0 {
		t.Errorf("Passkeys: %#v, %v; want an empty, non-nil list", keys, err)
	}
	// The challenge survives the refusals.
	if _, err := e.s.Pending(ctx, token); err != nil {
		t.Errorf("Pending: %v", err)
	}
	// TOTP works as before.
	e.enrolTOTP(t, e.ann)
	if st := e.status(t, e.ann); st != (mfa.Status{TOTP: true, RecoveryCodes: mfa.DefaultRecoveryCodes}) {
		t.Errorf("Status: %+v", st)
	}
}

func TestPasskeyFactors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	if on, err := e.s.Enabled(ctx, e.ann.ID); on || err != nil {
		t.Fatalf("Enabled before any factor: %v, %v", on, err)
	}
	p1, codes := e.register(t, e.ann, webauthntest.New(rpOrigin), "one")
	e.clk.Add(time.Second) // the store orders passkeys of one instant by id
	p2, _ := e.register(t, e.ann, webauthntest.New(rpOrigin), "two")
	if on, err := e.s.Enabled(ctx, e.ann.ID); !on || err != nil {
		t.Fatalf("Enabled with passkeys: %v, %v", on, err)
	}
	if keys := e.passkeys(t, e.ann); len(keys) != 2 || keys[0].ID != p1.ID || keys[1].ID != p2.ID {
		t.Errorf("Passkeys: %d, want one then two", len(keys))
		for _, k := range keys {
			t.Logf("%s created %v", k.Name, k.CreatedAt)
		}
	}
	if st := e.status(t, e.ann); st != (mfa.Status{Passkeys: 2, RecoveryCodes: mfa.DefaultRecoveryCodes}) {
		t.Errorf("Status: %+v", st)
	}

	// A passkey-only user's recovery codes work; one-time codes do not.
	for _, tt := range []struct {
		name, code string
		want       gatehouse.Code
	}{
		{"a six-digit code", "123456", gatehouse.CodeMFATOTPNotEnabled},
		{"a six-digit code, split", "123 456", gatehouse.CodeMFATOTPNotEnabled},
		{"a recovery code", codes[0], ""},
		{"the recovery code again", codes[0], gatehouse.CodeMFABadCode},
		{"garbage", "hello", gatehouse.CodeMFABadCode},
		{"empty", "", gatehouse.CodeMFABadCode},
	} {
		wantCode(t, tt.name, e.s.CheckCode(ctx, e.ann.ID, tt.code), tt.want)
	}

	// Another user's passkey is not found, and stays.
	wantCode(t, "bob removes ann's passkey", e.s.RemovePasskey(ctx, e.bob.ID, p1.ID), gatehouse.CodeNotFound)
	wantCode(t, "an unknown passkey", e.s.RemovePasskey(ctx, e.ann.ID, gatehouse.NewID()), gatehouse.CodeNotFound)

	if err := e.s.RemovePasskey(ctx, e.ann.ID, p1.ID); err != nil {
		t.Fatal(err)
	}
	if st := e.status(t, e.ann); st != (mfa.Status{Passkeys: 1, RecoveryCodes: mfa.DefaultRecoveryCodes - 1}) {
		t.Errorf("Status with one passkey left: %+v", st)
	}
	// The last factor goes, and the recovery codes with it.
	if err := e.s.RemovePasskey(ctx, e.ann.ID, p2.ID); err != nil {
		t.Fatal(err)
	}
	if st := e.status(t, e.ann); st != (mfa.Status{}) {
		t.Errorf("Status with no factor: %+v", st)
	}
	if on, _ := e.s.Enabled(ctx, e.ann.ID); on {
		t.Error("Enabled with no factor")
	}
	wantCode(t, "a recovery code with no factor", e.s.CheckCode(ctx, e.ann.ID, codes[1]), gatehouse.CodeMFATOTPNotEnabled)
}

// Recovery codes stay while a factor does: a TOTP when the last passkey
// goes, a passkey when the TOTP goes.
func TestRecoveryCodesOutliveOneFactor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("passkey removed, TOTP left", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.enrolTOTP(t, e.ann)
		p, _ := e.register(t, e.ann, webauthntest.New(rpOrigin), "")
		if err := e.s.RemovePasskey(ctx, e.ann.ID, p.ID); err != nil {
			t.Fatal(err)
		}
		if st := e.status(t, e.ann); st != (mfa.Status{TOTP: true, RecoveryCodes: mfa.DefaultRecoveryCodes}) {
			t.Errorf("Status: %+v", st)
		}
	})
	t.Run("TOTP disabled, passkey left", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, codes := e.register(t, e.ann, webauthntest.New(rpOrigin), "")
		e.enrolTOTP(t, e.ann) // new codes; the passkey's are void
		if err := e.s.Disable(ctx, e.ann.ID); err != nil {
			t.Fatal(err)
		}
		if st := e.status(t, e.ann); st != (mfa.Status{Passkeys: 1, RecoveryCodes: mfa.DefaultRecoveryCodes}) {
			t.Errorf("Status: %+v", st)
		}
		wantCode(t, "a code voided by the TOTP's", e.s.CheckCode(ctx, e.ann.ID, codes[0]), gatehouse.CodeMFABadCode)
		wantCode(t, "a six-digit code after Disable", e.s.CheckCode(ctx, e.ann.ID, "123456"), gatehouse.CodeMFATOTPNotEnabled)
	})
}

func TestCompletePasskey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	a := webauthntest.New(rpOrigin)
	p, _ := e.register(t, e.ann, a, "")
	if c := e.credential(t, *p); c.Authenticator.SignCount != 0 {
		t.Fatalf("sign count after registration: %d", c.Authenticator.SignCount)
	}

	token, answer := e.step(t, e.ann, a)
	e.clk.Add(time.Minute)
	c, err := e.s.CompletePasskey(ctx, token, answer)
	if err != nil || c.UserID != e.ann.ID || c.Backend != "jwt" {
		t.Fatalf("CompletePasskey: %+v, %v", c, err)
	}
	keys := e.passkeys(t, e.ann)
	if !keys[0].LastUsedAt.Equal(e.clk.Now()) {
		t.Errorf("LastUsedAt %v, want %v", keys[0].LastUsedAt, e.clk.Now())
	}
	if n := e.credential(t, keys[0]).Authenticator.SignCount; n != 1 {
		t.Errorf("stored sign count %d, want 1", n)
	}
	_, err = e.s.CompletePasskey(ctx, token, answer)
	wantCode(t, "the challenge completed again", err, gatehouse.CodeMFABadToken)
	_, err = e.s.Complete(ctx, token, "123456")
	wantCode(t, "the challenge completed again, with a code", err, gatehouse.CodeMFABadToken)

	// A second login goes, and counts up.
	token, answer = e.step(t, e.ann, a)
	if _, err := e.s.CompletePasskey(ctx, token, answer); err != nil {
		t.Fatalf("a second login: %v", err)
	}
	keys = e.passkeys(t, e.ann)
	if n := e.credential(t, keys[0]).Authenticator.SignCount; n != 2 {
		t.Errorf("stored sign count %d, want 2", n)
	}

	// A clone: the server has seen a higher count than the authenticator
	// now gives.
	cred := e.credential(t, keys[0])
	cred.Authenticator.SignCount = 100
	record, err := json.Marshal(cred)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.UsePasskey(ctx, keys[0].ID, record, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	token, answer = e.step(t, e.ann, a)
	_, err = e.s.CompletePasskey(ctx, token, answer)
	wantCode(t, "a counter gone backwards", err, gatehouse.CodeMFABadPasskey)
	if _, err := e.s.Pending(ctx, token); err != nil {
		t.Errorf("the refused challenge: %v", err)
	}
	keys = e.passkeys(t, e.ann)
	if c := e.credential(t, keys[0]); c.Authenticator.SignCount != 100 || c.Authenticator.CloneWarning {
		t.Errorf("stored after a refused clone: %+v", c.Authenticator)
	}
}

func TestCompletePasskeyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// complete returns CompletePasskey's arguments.
		complete func(t *testing.T, e *env) (string, []byte)
		want     gatehouse.Code
	}{
		{"no assertion begun", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			_, answer := e.step(t, e.ann, a)
			token, err := e.s.Challenge(context.Background(), e.ann.ID, "jwt")
			if err != nil {
				t.Fatal(err)
			}
			return token, answer
		}, gatehouse.CodeMFABadPasskey},
		{"answer to an assertion begun before", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			token, answer := e.step(t, e.ann, a)
			if _, err := e.s.BeginPasskeyStep(context.Background(), token); err != nil {
				t.Fatal(err)
			}
			return token, answer
		}, gatehouse.CodeMFABadPasskey},
		{"answer for another login", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			token, _ := e.step(t, e.ann, a)
			_, answer := e.step(t, e.ann, a)
			return token, answer
		}, gatehouse.CodeMFABadPasskey},
		{"answer from another origin", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			a.Origin = otherOrigin
			return e.step(t, e.ann, a)
		}, gatehouse.CodeMFABadPasskey},
		{"passkey of another user", func(t *testing.T, e *env) (string, []byte) {
			a, b := webauthntest.New(rpOrigin), webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			e.register(t, e.bob, b, "")
			token, _ := e.step(t, e.ann, a)
			_, answer := e.step(t, e.bob, b)
			return token, answer
		}, gatehouse.CodeMFABadPasskey},
		{"answer empty", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			token, _ := e.step(t, e.ann, a)
			return token, nil
		}, gatehouse.CodeMFABadPasskey},
		{"answer over 64 KiB", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			token, answer := e.step(t, e.ann, a)
			return token, append(answer, bytes.Repeat([]byte(" "), 64<<10)...)
		}, gatehouse.CodeMFABadPasskey},
		{"bad token", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			_, answer := e.step(t, e.ann, a)
			return "ghm_nope", answer
		}, gatehouse.CodeMFABadToken},
		{"expired token", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			token, answer := e.step(t, e.ann, a)
			e.clk.Add(mfa.DefaultChallengeTTL)
			return token, answer
		}, gatehouse.CodeMFABadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			token, answer := tt.complete(t, e)
			c, err := e.s.CompletePasskey(context.Background(), token, answer)
			wantCode(t, "CompletePasskey", err, tt.want)
			if c != nil {
				t.Errorf("CompletePasskey refused, yet returned %+v", c)
			}
			for _, p := range e.passkeys(t, e.ann) {
				if !p.LastUsedAt.IsZero() {
					t.Errorf("passkey %s used at %v", p.Name, p.LastUsedAt)
				}
			}
		})
	}
}

func TestBeginPasskeyStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	e.enrolTOTP(t, e.ann)
	token, err := e.s.Challenge(ctx, e.ann.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.BeginPasskeyStep(ctx, token)
	wantCode(t, "a user without passkeys", err, gatehouse.CodeMFAPasskeyNotEnabled)
	_, err = e.s.BeginPasskeyStep(ctx, "ghm_nope")
	wantCode(t, "an unknown token", err, gatehouse.CodeMFABadToken)
	e.clk.Add(mfa.DefaultChallengeTTL)
	_, err = e.s.BeginPasskeyStep(ctx, token)
	wantCode(t, "an expired token", err, gatehouse.CodeMFABadToken)

	// The options name the user's passkeys, and only theirs.
	p1, _ := e.register(t, e.ann, webauthntest.New(rpOrigin), "")
	e.clk.Add(time.Second)
	p2, _ := e.register(t, e.ann, webauthntest.New(rpOrigin), "")
	e.register(t, e.bob, webauthntest.New(rpOrigin), "")
	token, _ = e.s.Challenge(ctx, e.ann.ID, "jwt")
	c, err := e.s.BeginPasskeyStep(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	var opts struct {
		PublicKey struct {
			RPID             string `json:"rpId"`
			AllowCredentials []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(c.Options, &opts); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range opts.PublicKey.AllowCredentials {
		got = append(got, d.ID)
	}
	want := []string{base64.RawURLEncoding.EncodeToString(p1.CredentialID), base64.RawURLEncoding.EncodeToString(p2.CredentialID)}
	if opts.PublicKey.RPID != rpID || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("options: rpId %q, allowCredentials %v, want %v", opts.PublicKey.RPID, got, want)
	}
}

func TestFinishPasskeyLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	a := webauthntest.New(rpOrigin)
	e.register(t, e.ann, a, "")
	e.register(t, e.bob, webauthntest.New(rpOrigin), "")

	state, answer := e.login(t, a)
	e.clk.Add(time.Minute)
	id, err := e.s.FinishPasskeyLogin(ctx, state, answer)
	if err != nil || id != e.ann.ID {
		t.Fatalf("FinishPasskeyLogin: %v, %v; want ann %v", id, err, e.ann.ID)
	}
	keys := e.passkeys(t, e.ann)
	if !keys[0].LastUsedAt.Equal(e.clk.Now()) || e.credential(t, keys[0]).Authenticator.SignCount != 1 {
		t.Errorf("after a login: used %v, credential %+v", keys[0].LastUsedAt, e.credential(t, keys[0]).Authenticator)
	}
	_, err = e.s.FinishPasskeyLogin(ctx, state, answer)
	wantCode(t, "state and answer replayed", err, gatehouse.CodeMFABadToken)

	// A fresh answer to the options of a used state.
	c, err := e.s.BeginPasskeyLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := a.Get(c.Options)
	if _, err := e.s.FinishPasskeyLogin(ctx, c.State, first); err != nil {
		t.Fatal(err)
	}
	second, _ := a.Get(c.Options)
	_, err = e.s.FinishPasskeyLogin(ctx, c.State, second)
	wantCode(t, "state replayed, fresh answer", err, gatehouse.CodeMFABadToken)
	keys = e.passkeys(t, e.ann)
	if n := e.credential(t, keys[0]).Authenticator.SignCount; n != 2 {
		t.Errorf("stored sign count %d, want 2: the replay left it", n)
	}
}

func TestFinishPasskeyLoginRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// finish returns FinishPasskeyLogin's arguments.
		finish func(t *testing.T, e *env) (string, []byte)
		want   gatehouse.Code
		// claimed is whether the ID returned is ann's.
		claimed bool
	}{
		{"user not verified", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			a.UserVerified = false
			return e.login(t, a)
		}, gatehouse.CodeMFABadPasskey, true},
		{"credential never stored", func(t *testing.T, e *env) (string, []byte) {
			e.register(t, e.ann, webauthntest.New(rpOrigin), "")
			a := webauthntest.New(rpOrigin)
			e.begin(t, e.ann, a) // created, never finished
			return e.login(t, a)
		}, gatehouse.CodeMFABadPasskey, true},
		{"credential removed", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			p, _ := e.register(t, e.ann, a, "")
			if err := e.s.RemovePasskey(context.Background(), e.ann.ID, p.ID); err != nil {
				t.Fatal(err)
			}
			return e.login(t, a)
		}, gatehouse.CodeMFABadPasskey, true},
		{"answer from another origin", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			a.Origin = otherOrigin
			return e.login(t, a)
		}, gatehouse.CodeMFABadPasskey, true},
		{"answer to other options", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			state, _ := e.login(t, a)
			_, answer := e.login(t, a)
			return state, answer
		}, gatehouse.CodeMFABadPasskey, true},
		{"answer of a second step", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			state, _ := e.login(t, a)
			_, answer := e.step(t, e.ann, a)
			return state, answer
		}, gatehouse.CodeMFABadPasskey, true},
		{"state of a registration", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			_, answer := e.login(t, a)
			state, _ := e.begin(t, e.ann, webauthntest.New(rpOrigin))
			return state, answer
		}, gatehouse.CodeMFABadToken, false},
		{"state expired", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			state, answer := e.login(t, a)
			e.clk.Add(mfa.DefaultChallengeTTL)
			return state, answer
		}, gatehouse.CodeMFABadToken, false},
		{"state garbage", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			_, answer := e.login(t, a)
			return "ghw_garbage", answer
		}, gatehouse.CodeMFABadToken, false},
		{"answer empty", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			state, _ := e.login(t, a)
			return state, nil
		}, gatehouse.CodeMFABadPasskey, false},
		{"answer over 64 KiB", func(t *testing.T, e *env) (string, []byte) {
			a := webauthntest.New(rpOrigin)
			e.register(t, e.ann, a, "")
			state, answer := e.login(t, a)
			return state, append(answer, bytes.Repeat([]byte(" "), 64<<10)...)
		}, gatehouse.CodeMFABadPasskey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			state, answer := tt.finish(t, e)
			id, err := e.s.FinishPasskeyLogin(context.Background(), state, answer)
			wantCode(t, "FinishPasskeyLogin", err, tt.want)
			if tt.claimed && id != e.ann.ID || !tt.claimed && !id.IsZero() {
				t.Errorf("ID %v, want ann's (%v): %v", id, e.ann.ID, tt.claimed)
			}
			for _, p := range e.passkeys(t, e.ann) {
				if !p.LastUsedAt.IsZero() {
					t.Errorf("passkey %s used at %v", p.Name, p.LastUsedAt)
				}
			}
		})
	}
}

// An answer that fails leaves the state: the user may try again.
func TestFinishPasskeyLoginRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	a := webauthntest.New(rpOrigin)
	e.register(t, e.ann, a, "")
	a.UserVerified = false
	c, err := e.s.BeginPasskeyLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unverified, _ := a.Get(c.Options)
	_, err = e.s.FinishPasskeyLogin(ctx, c.State, unverified)
	wantCode(t, "unverified", err, gatehouse.CodeMFABadPasskey)
	a.UserVerified = true
	verified, _ := a.Get(c.Options)
	if id, err := e.s.FinishPasskeyLogin(ctx, c.State, verified); err != nil || id != e.ann.ID {
		t.Errorf("verified, after an unverified try: %v, %v", id, err)
	}
}

// TestPasskeysStoredCeremoniesOff turns the ceremonies off over a store
// that holds a passkey: it still counts, so the login still asks for a
// second step (a recovery code then), and it can still be removed.
func TestPasskeysStoredCeremoniesOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	p, codes := e.register(t, e.ann, webauthntest.New(rpOrigin), "laptop")
	same := func(b []byte) ([]byte, error) { return b, nil }
	off, err := mfa.New(mfa.Config{
		TOTP: e.store, RecoveryCodes: e.store, Challenges: e.store, Seal: same, Open: same,
		RecoveryKey: []byte("recovery code key of 32 bytes or more"), Now: e.clk.Now,
		Passkeys: e.store,
	})
	if err != nil {
		t.Fatal(err)
	}
	if off.PasskeysEnabled() || !off.PasskeysStored() {
		t.Errorf("PasskeysEnabled %v, PasskeysStored %v; want false, true", off.PasskeysEnabled(), off.PasskeysStored())
	}
	if on, err := off.Enabled(ctx, e.ann.ID); err != nil || !on {
		t.Fatalf("Enabled with the ceremonies off: %v, %v; want the stored passkey to count", on, err)
	}
	_, err = off.BeginPasskey(ctx, e.ann)
	wantCode(t, "BeginPasskey with the ceremonies off", err, gatehouse.CodeMFAPasskeyNotEnabled)
	token, err := off.Challenge(ctx, e.ann.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.Complete(ctx, token, codes[0]); err != nil {
		t.Errorf("Complete with a recovery code: %v", err)
	}
	if keys, err := off.Passkeys(ctx, e.ann.ID); err != nil || len(keys) != 1 {
		t.Errorf("Passkeys: %d, %v", len(keys), err)
	}
	if err := off.RemovePasskey(ctx, e.ann.ID, p.ID); err != nil {
		t.Fatalf("RemovePasskey: %v", err)
	}
	if on, err := off.Enabled(ctx, e.ann.ID); err != nil || on {
		t.Errorf("Enabled after the removal: %v, %v", on, err)
	}
	if _, err := mfa.New(mfa.Config{TOTP: e.store, RecoveryCodes: e.store, Challenges: e.store, Seal: same, Open: same,
		Passkeys: e.store, RPID: rpID}); err == nil {
		t.Error("New with an RPID but no Nonces or origins: no error")
	}
}
