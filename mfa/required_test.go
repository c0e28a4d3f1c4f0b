package mfa_test

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/totp"
	"github.com/gatehouse/gatehouse/webauthntest"
)

func TestRequirementWithoutSettings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, withoutSettings)
	if who, err := e.s.Requirement(ctx); who != gatehouse.MFARequiredNobody || err != nil {
		t.Errorf("Requirement: %q, %v", who, err)
	}
	wantCode(t, "an invalid value", e.s.SetRequirement(ctx, "sometimes"), gatehouse.CodeBadRequest)
	if err := e.s.SetRequirement(ctx, gatehouse.MFARequiredEveryone); err == nil {
		t.Error("SetRequirement without a setting store: no error")
	}
	for _, u := range []*gatehouse.User{e.ann, {ID: gatehouse.NewID(), IsSuperuser: true}} {
		if must, err := e.s.Required(ctx, u); must || err != nil {
			t.Errorf("Required (superuser %v): %v, %v", u.IsSuperuser, must, err)
		}
		if due, err := e.s.SetupDue(ctx, u); due || err != nil {
			t.Errorf("SetupDue (superuser %v): %v, %v", u.IsSuperuser, due, err)
		}
		if err := e.s.MayRemove(ctx, u, true); err != nil {
			t.Errorf("MayRemove (superuser %v): %v", u.IsSuperuser, err)
		}
	}
}

func TestRequirement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	if who, err := e.s.Requirement(ctx); who != gatehouse.MFARequiredNobody || err != nil {
		t.Errorf("Requirement, never set: %q, %v", who, err)
	}
	for _, bad := range []string{"", "Everyone", "all", "superuser", " nobody", "nobody\x00"} {
		wantCode(t, "SetRequirement "+bad, e.s.SetRequirement(ctx, bad), gatehouse.CodeBadRequest)
	}
	if who, _ := e.s.Requirement(ctx); who != gatehouse.MFARequiredNobody {
		t.Errorf("Requirement after refused values: %q", who)
	}

	admin := &gatehouse.User{ID: gatehouse.NewID(), Email: "root@example.com", IsSuperuser: true}
	tests := []struct {
		// set is the value stored: through SetRequirement when valid,
		// into the store directly when not.
		set       string
		superuser bool // whether a superuser must
		user      bool // whether a user must
	}{
		{gatehouse.MFARequiredNobody, false, false},
		{gatehouse.MFARequiredSuperusers, true, false},
		{gatehouse.MFARequiredEveryone, true, true},
		// A value this version does not know fails closed.
		{"sometimes", true, true},
		{"", true, true},
		{"Nobody", true, true},
	}
	for _, tt := range tests {
		switch tt.set {
		case gatehouse.MFARequiredNobody, gatehouse.MFARequiredSuperusers, gatehouse.MFARequiredEveryone:
			if err := e.s.SetRequirement(ctx, tt.set); err != nil {
				t.Fatal(err)
			}
		default:
			if err := e.settings.SetSetting(ctx, gatehouse.SettingMFARequired, tt.set); err != nil {
				t.Fatal(err)
			}
		}
		if who, err := e.s.Requirement(ctx); who != tt.set || err != nil {
			t.Errorf("Requirement: %q, %v; want %q", who, err, tt.set)
		}
		for _, c := range []struct {
			u    *gatehouse.User
			want bool
		}{{admin, tt.superuser}, {e.ann, tt.user}} {
			if must, err := e.s.Required(ctx, c.u); must != c.want || err != nil {
				t.Errorf("%q: Required (superuser %v): %v, %v; want %v", tt.set, c.u.IsSuperuser, must, err, c.want)
			}
			// Neither has a factor: a setup is due exactly when one is
			// required.
			if due, err := e.s.SetupDue(ctx, c.u); due != c.want || err != nil {
				t.Errorf("%q: SetupDue (superuser %v): %v, %v; want %v", tt.set, c.u.IsSuperuser, due, err, c.want)
			}
		}
	}
}

func TestSetupDueOnceAFactorExists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		setUp func(t *testing.T, e *env, u *gatehouse.User)
	}{
		{"TOTP", func(t *testing.T, e *env, u *gatehouse.User) { e.enrolTOTP(t, u) }},
		{"passkey", func(t *testing.T, e *env, u *gatehouse.User) { e.register(t, u, webauthntest.New(rpOrigin), "") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if err := e.s.SetRequirement(ctx, gatehouse.MFARequiredEveryone); err != nil {
				t.Fatal(err)
			}
			if due, err := e.s.SetupDue(ctx, e.ann); !due || err != nil {
				t.Fatalf("SetupDue without a factor: %v, %v", due, err)
			}
			// An enrolment begun is no factor yet.
			if _, err := e.s.BeginTOTP(ctx, e.ann); err != nil {
				t.Fatal(err)
			}
			if due, err := e.s.SetupDue(ctx, e.ann); !due || err != nil {
				t.Fatalf("SetupDue with an unconfirmed TOTP: %v, %v", due, err)
			}
			tt.setUp(t, e, e.ann)
			if due, err := e.s.SetupDue(ctx, e.ann); due || err != nil {
				t.Errorf("SetupDue with a %s: %v, %v", tt.name, due, err)
			}
			if must, _ := e.s.Required(ctx, e.ann); !must {
				t.Error("Required false")
			}
		})
	}
}

func TestMayRemove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		totp     bool // the user has a TOTP
		passkeys int  // and this many passkeys
		required string
		// want is MayRemove's answer when removing the TOTP and when
		// removing a passkey.
		wantTOTP, wantPasskey gatehouse.Code
	}{
		{"TOTP only, required", true, 0, gatehouse.MFARequiredEveryone, gatehouse.CodeMFARequired, ""},
		{"passkey only, required", false, 1, gatehouse.MFARequiredEveryone, "", gatehouse.CodeMFARequired},
		{"both, required", true, 1, gatehouse.MFARequiredEveryone, "", ""},
		{"two passkeys, required", false, 2, gatehouse.MFARequiredEveryone, "", ""},
		{"no factor, required", false, 0, gatehouse.MFARequiredEveryone, gatehouse.CodeMFARequired, gatehouse.CodeMFARequired},
		{"TOTP only, superusers", true, 0, gatehouse.MFARequiredSuperusers, "", ""},
		{"passkey only, superusers", false, 1, gatehouse.MFARequiredSuperusers, "", ""},
		{"TOTP only, nobody", true, 0, gatehouse.MFARequiredNobody, "", ""},
		{"passkey only, nobody", false, 1, gatehouse.MFARequiredNobody, "", ""},
		{"TOTP only, unknown value", true, 0, "sometimes", gatehouse.CodeMFARequired, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			if tt.totp {
				e.enrolTOTP(t, e.ann)
			}
			for range tt.passkeys {
				e.register(t, e.ann, webauthntest.New(rpOrigin), "")
			}
			if err := e.settings.SetSetting(ctx, gatehouse.SettingMFARequired, tt.required); err != nil {
				t.Fatal(err)
			}
			wantCode(t, "MayRemove the TOTP", e.s.MayRemove(ctx, e.ann, true), tt.wantTOTP)
			wantCode(t, "MayRemove a passkey", e.s.MayRemove(ctx, e.ann, false), tt.wantPasskey)
			// A superuser is required under "superusers" too.
			e.ann.IsSuperuser = true
			if tt.required == gatehouse.MFARequiredSuperusers {
				want := func(yes bool) gatehouse.Code {
					if yes {
						return gatehouse.CodeMFARequired
					}
					return ""
				}
				wantCode(t, "a superuser's TOTP", e.s.MayRemove(ctx, e.ann, true), want(tt.totp && tt.passkeys == 0))
				wantCode(t, "a superuser's passkey", e.s.MayRemove(ctx, e.ann, false), want(!tt.totp && tt.passkeys == 1))
			}
		})
	}
}

// A user who must have a second factor and has none adds an
// authenticator app during a login, and the login then completes without
// another code.
func TestTOTPStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	if err := e.s.SetRequirement(ctx, gatehouse.MFARequiredEveryone); err != nil {
		t.Fatal(err)
	}
	token, err := e.s.Challenge(ctx, e.ann.ID, "cookie")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.BeginTOTPStep(ctx, token, e.bob)
	wantCode(t, "BeginTOTPStep with another user's token", err, gatehouse.CodeMFABadToken)
	_, err = e.s.BeginTOTPStep(ctx, "ghm_nope", e.ann)
	wantCode(t, "BeginTOTPStep with an unknown token", err, gatehouse.CodeMFABadToken)
	_, err = e.s.ConfirmTOTPStep(ctx, token, "123456")
	wantCode(t, "ConfirmTOTPStep before BeginTOTPStep", err, gatehouse.CodeMFATOTPNotEnabled)

	en, err := e.s.BeginTOTPStep(ctx, token, e.ann)
	if err != nil || en.Secret == "" || en.URI == "" {
		t.Fatalf("BeginTOTPStep: %+v, %v", en, err)
	}
	secret := decodeSecret(t, en.Secret)
	// Before the enrolment is confirmed the login has no factor to
	// complete with. CheckCode documents CodeMFATOTPNotEnabled for any
	// code of a user without a second factor, the empty code included.
	_, err = e.s.Complete(ctx, token, "")
	wantCode(t, "Complete with no code before ConfirmTOTPStep", err, gatehouse.CodeMFATOTPNotEnabled)
	_, err = e.s.Complete(ctx, token, totp.Code(secret, totp.Step(e.clk.Now())))
	wantCode(t, "Complete with a code of the unconfirmed TOTP", err, gatehouse.CodeMFATOTPNotEnabled)
	if c, err := e.s.Pending(ctx, token); err != nil || e.s.Enrolled(c) {
		t.Fatalf("Pending before ConfirmTOTPStep: %v, enrolled %v", err, err == nil && e.s.Enrolled(c))
	}

	_, err = e.s.ConfirmTOTPStep(ctx, token, "000000")
	wantCode(t, "ConfirmTOTPStep with a wrong code", err, gatehouse.CodeMFABadCode)
	codes, err := e.s.ConfirmTOTPStep(ctx, token, totp.Code(secret, totp.Step(e.clk.Now())))
	if err != nil || len(codes) != mfa.DefaultRecoveryCodes {
		t.Fatalf("ConfirmTOTPStep: %d codes, %v", len(codes), err)
	}
	if c, err := e.s.Pending(ctx, token); err != nil || !e.s.Enrolled(c) {
		t.Fatalf("Pending after ConfirmTOTPStep: %v", err)
	}
	_, err = e.s.ConfirmTOTPStep(ctx, token, totp.Code(secret, totp.Step(e.clk.Now())+1))
	wantCode(t, "ConfirmTOTPStep again", err, gatehouse.CodeMFATOTPAlreadyEnabled)
	_, err = e.s.BeginTOTPStep(ctx, token, e.ann)
	wantCode(t, "BeginTOTPStep after ConfirmTOTPStep", err, gatehouse.CodeMFATOTPAlreadyEnabled)
	if due, _ := e.s.SetupDue(ctx, e.ann); due {
		t.Error("SetupDue after the enrolment")
	}

	c, err := e.s.Complete(ctx, token, "")
	if err != nil || c.UserID != e.ann.ID || c.Backend != "cookie" {
		t.Fatalf("Complete with no code after ConfirmTOTPStep: %+v, %v", c, err)
	}
	_, err = e.s.Complete(ctx, token, "")
	wantCode(t, "Complete again", err, gatehouse.CodeMFABadToken)

	// The next login asks for the factor: no code is no longer enough.
	token, _ = e.s.Challenge(ctx, e.ann.ID, "cookie")
	_, err = e.s.Complete(ctx, token, "")
	wantCode(t, "Complete with no code at the next login", err, gatehouse.CodeMFABadCode)
	_, err = e.s.BeginTOTPStep(ctx, token, e.ann)
	wantCode(t, "BeginTOTPStep at the next login", err, gatehouse.CodeMFATOTPAlreadyEnabled)
	_, err = e.s.ConfirmTOTPStep(ctx, token, totp.Code(secret, totp.Step(e.clk.Now())+2))
	wantCode(t, "ConfirmTOTPStep at the next login", err, gatehouse.CodeMFATOTPAlreadyEnabled)
	if c, err := e.s.Complete(ctx, token, codes[0]); err != nil || c.UserID != e.ann.ID {
		t.Errorf("Complete with a recovery code: %v", err)
	}
}

// The enrolment steps of a login are refused to a user who has a second
// factor: that login asks for it instead.
func TestTOTPStepRefusedWithAFactor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		setUp func(t *testing.T, e *env)
	}{
		{"TOTP", func(t *testing.T, e *env) { e.enrolTOTP(t, e.ann) }},
		{"passkey", func(t *testing.T, e *env) { e.register(t, e.ann, webauthntest.New(rpOrigin), "") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newEnv(t)
			tt.setUp(t, e)
			token, err := e.s.Challenge(ctx, e.ann.ID, "jwt")
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.s.BeginTOTPStep(ctx, token, e.ann)
			wantCode(t, "BeginTOTPStep", err, gatehouse.CodeMFATOTPAlreadyEnabled)
			_, err = e.s.ConfirmTOTPStep(ctx, token, "123456")
			wantCode(t, "ConfirmTOTPStep", err, gatehouse.CodeMFATOTPAlreadyEnabled)
			_, err = e.s.Complete(ctx, token, "")
			wantCode(t, "Complete with no code", err, gatehouse.CodeMFABadCode)
			if c, err := e.s.Pending(ctx, token); err != nil || e.s.Enrolled(c) {
				t.Errorf("Pending: %v", err)
			}
		})
	}
}

func TestTOTPStepExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	token, err := e.s.Challenge(ctx, e.ann.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.s.BeginTOTPStep(ctx, token, e.ann)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(mfa.DefaultChallengeTTL)
	_, err = e.s.ConfirmTOTPStep(ctx, token, totp.Code(decodeSecret(t, en.Secret), totp.Step(e.clk.Now())))
	wantCode(t, "ConfirmTOTPStep after the TTL", err, gatehouse.CodeMFABadToken)
	if on, _ := e.s.Enabled(ctx, e.ann.ID); on {
		t.Error("the TOTP was confirmed by an expired login")
	}
	_, err = e.s.BeginTOTPStep(ctx, token, e.ann)
	wantCode(t, "BeginTOTPStep after the TTL", err, gatehouse.CodeMFABadToken)
}

// TestSetupPasskey adds a passkey as the first factor during a login:
// only the token's user, only without a factor, and the login then
// completes with no code, once.
func TestSetupPasskey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	token, err := e.s.Challenge(ctx, e.ann.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.BeginSetupPasskey(ctx, token, e.bob)
	wantCode(t, "BeginSetupPasskey with another user's token", err, gatehouse.CodeMFABadToken)
	_, err = e.s.Complete(ctx, token, "")
	wantCode(t, "Complete before a factor was added", err, gatehouse.CodeMFATOTPNotEnabled)

	a := webauthntest.New(rpOrigin)
	c, err := e.s.BeginSetupPasskey(ctx, token, e.ann)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := a.Create(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.s.FinishSetupPasskey(ctx, token, e.bob, c.State, "", answer)
	wantCode(t, "FinishSetupPasskey for another user", err, gatehouse.CodeMFABadToken)
	p, codes, err := e.s.FinishSetupPasskey(ctx, token, e.ann, c.State, "phone", answer)
	if err != nil || p.Name != "phone" || len(codes) != mfa.DefaultRecoveryCodes {
		t.Fatalf("FinishSetupPasskey: %+v, %d codes, %v", p, len(codes), err)
	}
	_, err = e.s.BeginSetupPasskey(ctx, token, e.ann)
	wantCode(t, "BeginSetupPasskey with a factor", err, gatehouse.CodeMFATOTPAlreadyEnabled)
	if got, err := e.s.Complete(ctx, token, ""); err != nil || got.UserID != e.ann.ID {
		t.Fatalf("Complete after the passkey: %+v, %v", got, err)
	}
	_, err = e.s.Complete(ctx, token, "")
	wantCode(t, "Complete again", err, gatehouse.CodeMFABadToken)

	off := newEnv(t, withoutPasskeys)
	tok2, err := off.s.Challenge(ctx, off.ann.ID, "jwt")
	if err != nil {
		t.Fatal(err)
	}
	_, err = off.s.BeginSetupPasskey(ctx, tok2, off.ann)
	wantCode(t, "BeginSetupPasskey without passkeys", err, gatehouse.CodeMFAPasskeyNotEnabled)
}
