package mfa_test

import (
	"context"
	"encoding/base32"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
	"github.com/gatehouse/gatehouse/totp"
)

// clock is a settable clock for the service and the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// xor is a reversible stand-in for the server's AES-GCM seal.
func xor(b []byte) ([]byte, error) {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5a
	}
	return out, nil
}

// setup returns a service over a fresh SQLite database and a user of it.
func setup(t *testing.T) (*mfa.Service, *gatehouse.User, *clock) {
	t.Helper()
	db := sqlitetest.New(t)
	clk := &clock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	db.Now = clk.Now
	u := &gatehouse.User{Email: "ann@example.com", HashedPassword: "h", IsActive: true}
	if err := sqlite.NewUserStore(db).CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	store := sqlite.NewMFAStore(db)
	s, err := mfa.New(mfa.Config{
		TOTP: store, RecoveryCodes: store, Challenges: store, Seal: xor, Open: xor,
		RecoveryKey: []byte("recovery code key of 32 bytes or more"), Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, u, clk
}

func wantCode(t *testing.T, what string, err error, want gatehouse.Code) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != want {
		t.Errorf("%s: %v, want %q", what, err, want)
	}
}

func TestNewChecksConfig(t *testing.T) {
	store := sqlite.NewMFAStore(sqlitetest.New(t))
	for name, cfg := range map[string]mfa.Config{
		"no stores":          {Seal: xor, Open: xor},
		"no seal":            {TOTP: store, RecoveryCodes: store, Challenges: store},
		"short recovery key": {TOTP: store, RecoveryCodes: store, Challenges: store, Seal: xor, Open: xor, RecoveryKey: []byte("short")},
	} {
		if _, err := mfa.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestEnrolAndCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, u, clk := setup(t)
	wantCode(t, "a code before any enrolment", s.CheckCode(ctx, u.ID, "123456"), gatehouse.CodeMFATOTPNotEnabled)
	e, err := s.BeginTOTP(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// Begun again, the enrolment gets a new secret; the first is void.
	e2, err := s.BeginTOTP(ctx, u)
	if err != nil || e2.Secret == e.Secret {
		t.Fatalf("BeginTOTP again: %v, same secret %v", err, e2.Secret == e.Secret)
	}
	_, err = s.ConfirmTOTP(ctx, u.ID, totp.Code(secret, totp.Step(clk.Now())))
	wantCode(t, "confirm with the replaced secret", err, gatehouse.CodeMFABadCode)
	if on, _ := s.Enabled(ctx, u.ID); on {
		t.Fatal("enabled before confirmation")
	}
	secret, _ = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e2.Secret)
	codes, err := s.ConfirmTOTP(ctx, u.ID, totp.Code(secret, totp.Step(clk.Now())))
	if err != nil || len(codes) != mfa.DefaultRecoveryCodes {
		t.Fatalf("ConfirmTOTP: %d codes, %v", len(codes), err)
	}
	_, err = s.BeginTOTP(ctx, u)
	wantCode(t, "BeginTOTP when enabled", err, gatehouse.CodeMFATOTPAlreadyEnabled)

	tests := []struct {
		name string
		code func() string
		want gatehouse.Code
	}{
		{"the confirming code again", func() string { return totp.Code(secret, totp.Step(clk.Now())) }, gatehouse.CodeMFABadCode},
		{"the next step", func() string { return totp.Code(secret, totp.Step(clk.Now())+1) }, ""},
		{"the next step again", func() string { return totp.Code(secret, totp.Step(clk.Now())+1) }, gatehouse.CodeMFABadCode},
		{"an older step", func() string { return totp.Code(secret, totp.Step(clk.Now())-1) }, gatehouse.CodeMFABadCode},
		{"a recovery code", func() string { return codes[0] }, ""},
		{"the recovery code again", func() string { return codes[0] }, gatehouse.CodeMFABadCode},
		{"a recovery code, typed loosely", func() string { return "  " + codes[1][:5] + " " + codes[1][6:] + " " }, ""},
		{"garbage", func() string { return "hello" }, gatehouse.CodeMFABadCode},
		{"empty", func() string { return "" }, gatehouse.CodeMFABadCode},
	}
	for _, tt := range tests {
		wantCode(t, tt.name, s.CheckCode(ctx, u.ID, tt.code()), tt.want)
	}
	if st, err := s.Status(ctx, u.ID); err != nil || st != (mfa.Status{TOTP: true, RecoveryCodes: mfa.DefaultRecoveryCodes - 2}) {
		t.Errorf("Status: %+v, %v", st, err)
	}

	// New recovery codes void the old ones.
	fresh, err := s.ReplaceRecoveryCodes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "an old recovery code", s.CheckCode(ctx, u.ID, codes[2]), gatehouse.CodeMFABadCode)
	wantCode(t, "a new recovery code", s.CheckCode(ctx, u.ID, fresh[0]), "")

	if err := s.Disable(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(ctx, u.ID); st != (mfa.Status{}) {
		t.Errorf("Status after Disable: %+v", st)
	}
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, u, clk := setup(t)
	e, _ := s.BeginTOTP(ctx, u)
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if _, err := s.ConfirmTOTP(ctx, u.ID, totp.Code(secret, totp.Step(clk.Now()))); err != nil {
		t.Fatal(err)
	}
	token, err := s.Challenge(ctx, u.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Pending(ctx, token); err != nil || c.UserID != u.ID || c.Backend != "jwt" {
		t.Fatalf("Pending: %+v, %v", c, err)
	}
	_, err = s.Complete(ctx, token, "000000")
	wantCode(t, "a wrong code", err, gatehouse.CodeMFABadCode)
	// A wrong code leaves the challenge; a right one takes it.
	c, err := s.Complete(ctx, token, totp.Code(secret, totp.Step(clk.Now())+1))
	if err != nil || c.UserID != u.ID {
		t.Fatalf("Complete: %+v, %v", c, err)
	}
	_, err = s.Complete(ctx, token, totp.Code(secret, totp.Step(clk.Now())-1))
	wantCode(t, "a taken challenge", err, gatehouse.CodeMFABadToken)

	token, _ = s.Challenge(ctx, u.ID, "jwt")
	clk.Add(mfa.DefaultChallengeTTL)
	_, err = s.Pending(ctx, token)
	wantCode(t, "an expired challenge", err, gatehouse.CodeMFABadToken)
	for _, bad := range []string{"", "ghm_", "nope", "ghm_" + string(make([]byte, 200))} {
		_, err = s.Pending(ctx, bad)
		wantCode(t, "token "+bad, err, gatehouse.CodeMFABadToken)
	}
}
