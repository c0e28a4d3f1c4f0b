package httpapi

import (
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse"
)

// mfaRequired answers a right password of a user with a second factor: 401
// LOGIN_MFA_REQUIRED with the mfa_token of the second step, which the
// client sends to POST /auth/NAME/mfa with a code.
func (a *api) mfaRequired(w http.ResponseWriter, r *http.Request, u *gatehouse.User, backend string, setup bool) {
	token, err := a.MFA.Challenge(r.Context(), u.ID, backend)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	detail := gatehouse.CodeLoginMFARequired
	if setup {
		detail = gatehouse.CodeLoginMFASetupRequired
	}
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"detail":    string(detail),
		"mfa_token": token,
	})
}

// secondStep reports whether the login of u, whose first step passed,
// needs a second: a second factor of u's (setup false), or adding one,
// for a user who must have one and has none (setup true).
func (a *api) secondStep(r *http.Request, u *gatehouse.User) (due, setup bool, err error) {
	if a.MFA == nil {
		return false, false, nil
	}
	ctx := r.Context()
	if on, err := a.MFA.Enabled(ctx, u.ID); err != nil || on {
		return on, false, err
	}
	setup, err = a.MFA.Required(ctx, u)
	return setup, setup, err
}

// oauthMFA continues a provider login of a user with a second factor like
// a password login: an API client gets 401 LOGIN_MFA_REQUIRED and the
// mfa_token; a browser flow (returnTo set) is sent to Config.MFALoginURL
// with the token, or, without one, gets the same 401 as an API client.
func (a *api) oauthMFA(w http.ResponseWriter, r *http.Request, u *gatehouse.User, backend, returnTo string, setup bool) {
	if returnTo == "" || a.MFALoginURL == "" {
		a.mfaRequired(w, r, u, backend, setup)
		return
	}
	token, err := a.MFA.Challenge(r.Context(), u.ID, backend)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// The token rides in the URL to the code form: it is single use, lives
	// five minutes, is useless without a code, and the pages send no
	// Referer.
	q := url.Values{"mfa_token": {token}}
	if setup {
		q.Set("setup", "1")
	}
	http.Redirect(w, r, a.MFALoginURL+"?"+q.Encode(), http.StatusFound)
}

// mfaLogin answers POST /auth/NAME/mfa {"mfa_token","code"} or
// {"mfa_token","credential"} (a passkey's answer to POST
// /auth/NAME/mfa/passkey's options): the second step of a login, ending
// with the backend's login answer. After a first factor was added during
// the login (LOGIN_MFA_SETUP_REQUIRED), the mfa_token alone completes it.
func (a *api) mfaLogin(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, d, ok := a.loginStep(w, r, name)
		if !ok {
			return
		}
		token, _ := d.str("mfa_token", true)
		code, hasCode := d.str("code", false)
		cred, hasCred := d.rawObject("credential", false)
		if hasCode && hasCred {
			d.fail("value_error", "Value error, give either code or credential", nil, "code")
		}
		if !a.done(w, r, d) {
			return
		}
		ctx := r.Context()
		// The token is 256 random bits: looking it up first is safe, and
		// names the account whose codes are counted.
		pending, err := a.MFA.Pending(ctx, token)
		if err == nil && pending.Backend != name {
			err = &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		factor := "code"
		switch {
		case hasCred:
			factor = "passkey"
		case !hasCode && a.MFA.Enrolled(pending):
			factor = "enrolled"
		case !hasCode:
			a.writeError(w, r, missing("body", "code"))
			return
		}
		if err := a.check(r, a.limits.policy(mfaPolicy), pending.UserID.String(), gatehouse.AuditMFAChallengeFailed); err != nil {
			a.writeError(w, r, err)
			return
		}
		var c *gatehouse.MFAChallenge
		if hasCred {
			c, err = a.MFA.CompletePasskey(ctx, token, cred)
		} else {
			c, err = a.MFA.Complete(ctx, token, code)
		}
		if err != nil {
			if code := gatehouse.ErrorCode(err); code == gatehouse.CodeMFABadCode || code == gatehouse.CodeMFABadPasskey {
				a.record(r, failedEvent(gatehouse.AuditMFAChallengeFailed, pending.UserID, err, "backend", name))
			}
			a.writeError(w, r, err)
			return
		}
		u, err := a.Manager.Users.FindUserByID(ctx, c.UserID)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || err == nil && !u.IsActive {
			// Deleted or deactivated since the password step.
			err = &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.record(r, succeededEvent(gatehouse.AuditMFAChallengeSucceeded, u.ID, "backend", name, "second_factor", factor))
		a.completeLogin(w, r, b, u, "second_factor", factor)
	}
}

// mfaUser authenticates a request that manages the caller's own second
// factors. API keys may not: a stolen key must not be able to turn a
// second factor off, or on for someone else's app.
func (a *api) mfaUser(w http.ResponseWriter, r *http.Request) (*gatehouse.Auth, object, bool) {
	auth, obj, ok := a.readAuthed(w, r, a.user)
	if !ok {
		return nil, object{}, false
	}
	if scoped(auth) {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeForbidden})
		return nil, object{}, false
	}
	return auth, obj, true
}

type mfaStatusJSON struct {
	TOTP          bool          `json:"totp"`
	Passkeys      []passkeyJSON `json:"passkeys"`
	RecoveryCodes int           `json:"recovery_codes"`
	// Required is whether the user must have a second factor: the last
	// one cannot be removed.
	Required bool `json:"required"`
}

// getMyMFA answers GET /users/me/mfa: which second factors the caller has.
func (a *api) getMyMFA(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeMFAStatus(w, r, auth.User)
}

// getUserMFA answers GET /users/{id}/mfa for superusers: a user's second
// factors, to reset the one that was lost.
func (a *api) getUserMFA(w http.ResponseWriter, r *http.Request) {
	_, target, err := a.userByPathWithAuth(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeMFAStatus(w, r, target)
}

func (a *api) writeMFAStatus(w http.ResponseWriter, r *http.Request, u *gatehouse.User) {
	ctx := r.Context()
	st, err := a.MFA.Status(ctx, u.ID)
	var keys []gatehouse.Passkey
	if err == nil {
		keys, err = a.MFA.Passkeys(ctx, u.ID)
	}
	var required bool
	if err == nil {
		required, err = a.MFA.Required(ctx, u)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := mfaStatusJSON{TOTP: st.TOTP, Passkeys: make([]passkeyJSON, len(keys)), RecoveryCodes: st.RecoveryCodes, Required: required}
	for i, k := range keys {
		out.Passkeys[i] = toPasskeyJSON(k)
	}
	writeJSON(w, http.StatusOK, out)
}

// beginTOTP answers POST /users/me/mfa/totp: a new secret for the
// caller's authenticator app, a second factor once confirmed.
func (a *api) beginTOTP(w http.ResponseWriter, r *http.Request) {
	auth, err := a.owner(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	e, err := a.MFA.BeginTOTP(r.Context(), auth.User)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": e.Secret, "otpauth_uri": e.URI})
}

// confirmTOTP answers POST /users/me/mfa/totp/confirm {"code"}: the first
// code turns the TOTP on, and the answer holds the recovery codes, shown
// this once.
func (a *api) confirmTOTP(w http.ResponseWriter, r *http.Request) {
	auth, code, ok := a.readCode(w, r)
	if !ok {
		return
	}
	codes, err := a.MFA.ConfirmTOTP(r.Context(), auth.User.ID, code)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditMFAEnabled, auth.User.ID, "factor", "totp"))
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
}

// replaceRecoveryCodes answers POST /users/me/mfa/recovery-codes {"code"}:
// new recovery codes for a fresh code (or a recovery code), the old ones
// void.
func (a *api) replaceRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	auth, code, ok := a.readCode(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if err := a.MFA.CheckCode(ctx, auth.User.ID, code); err != nil {
		a.writeError(w, r, err)
		return
	}
	codes, err := a.MFA.ReplaceRecoveryCodes(ctx, auth.User.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditMFARecoveryCodesReplaced, auth.User.ID))
	writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
}

// disableTOTP answers DELETE /users/me/mfa/totp {"code"} or {"password"}:
// the TOTP and the recovery codes go, on proof that the owner asks.
func (a *api) disableTOTP(w http.ResponseWriter, r *http.Request) {
	auth, obj, ok := a.mfaUser(w, r)
	if !ok || !a.ownerProof(w, r, auth.User, obj, "totp") {
		return
	}
	ctx := r.Context()
	u := auth.User
	err := a.MFA.MayRemove(ctx, u, true)
	if err == nil {
		err = a.MFA.Disable(ctx, u.ID)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditMFADisabled, u.ID, "factor", "totp"))
	w.WriteHeader(http.StatusNoContent)
}

// disableUserTOTP answers DELETE /users/{id}/mfa/totp for superusers: a
// user who lost both the app and the recovery codes gets back in with the
// password alone.
func (a *api) disableUserTOTP(w http.ResponseWriter, r *http.Request) {
	auth, target, err := a.userByPathWithAuth(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.MFA.Disable(r.Context(), target.ID); err != nil {
		a.writeError(w, r, err)
		return
	}
	e := succeededEvent(gatehouse.AuditMFADisabled, target.ID, "factor", "totp")
	e.ActorID = auth.User.ID
	a.record(r, e)
	w.WriteHeader(http.StatusNoContent)
}

// readCode authenticates a request for the caller's own second factors and
// reads its {"code"}, counted against the caller's code attempts.
func (a *api) readCode(w http.ResponseWriter, r *http.Request) (*gatehouse.Auth, string, bool) {
	auth, obj, ok := a.mfaUser(w, r)
	if !ok {
		return nil, "", false
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return nil, "", false
	}
	d := &decoder{obj: obj.fields}
	code, _ := d.str("code", true)
	if !a.done(w, r, d) {
		return nil, "", false
	}
	if err := a.check(r, a.limits.policy(mfaPolicy), auth.User.ID.String(), gatehouse.AuditMFAChallengeFailed); err != nil {
		a.writeError(w, r, err)
		return nil, "", false
	}
	return auth, code, true
}
