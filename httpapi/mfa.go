package httpapi

import (
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse"
)

// mfaRequired answers a right password of a user with a second factor: 401
// LOGIN_MFA_REQUIRED with the mfa_token of the second step, which the
// client sends to POST /auth/NAME/mfa with a code.
func (a *api) mfaRequired(w http.ResponseWriter, r *http.Request, u *gatehouse.User, backend string) {
	token, err := a.MFA.Challenge(r.Context(), u.ID, backend)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"detail":    string(gatehouse.CodeLoginMFARequired),
		"mfa_token": token,
	})
}

// oauthMFA continues a provider login of a user with a second factor like
// a password login: an API client gets 401 LOGIN_MFA_REQUIRED and the
// mfa_token; a browser flow (returnTo set) is sent to Config.MFALoginURL
// with the token, or, without one, gets the same 401 as an API client.
func (a *api) oauthMFA(w http.ResponseWriter, r *http.Request, u *gatehouse.User, backend, returnTo string) {
	if returnTo == "" || a.MFALoginURL == "" {
		a.mfaRequired(w, r, u, backend)
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
	http.Redirect(w, r, a.MFALoginURL+"?"+url.Values{"mfa_token": {token}}.Encode(), http.StatusFound)
}

// mfaLogin answers POST /auth/NAME/mfa {"mfa_token","code"}: the second
// step of a login, ending with the backend's login answer.
func (a *api) mfaLogin(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := a.Authenticator.Backend(name)
		if err := a.Authenticator.CheckCrossOrigin(r, b); err != nil {
			a.writeError(w, r, err)
			return
		}
		d, ok := a.readDecoder(w, r)
		if !ok {
			return
		}
		token, _ := d.str("mfa_token", true)
		code, _ := d.str("code", true)
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
		if err := a.check(r, a.limits.policy(mfaPolicy), pending.UserID.String(), gatehouse.AuditMFAChallengeFailed); err != nil {
			a.writeError(w, r, err)
			return
		}
		c, err := a.MFA.Complete(ctx, token, code)
		if err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeMFABadCode {
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
		tok, err := a.issue(gatehouse.WithClient(ctx, a.client(r)), b, u)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.record(r, succeededEvent(gatehouse.AuditMFAChallengeSucceeded, u.ID, "backend", name))
		a.record(r, succeededEvent(gatehouse.AuditLoginSucceeded, u.ID, "backend", name, "second_factor", "totp"))
		if err := b.Transport.WriteLogin(w, r, tok); err != nil {
			a.Logger.ErrorContext(ctx, "write login response", "backend", name, "error", err)
			return
		}
		if err := a.Manager.LoggedIn(ctx, u); err != nil {
			a.Logger.ErrorContext(ctx, "after-login hook", "user_id", u.ID.String(), "error", err)
		}
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
	TOTP          bool `json:"totp"`
	RecoveryCodes int  `json:"recovery_codes"`
}

// getMyMFA answers GET /users/me/mfa: which second factors the caller has.
func (a *api) getMyMFA(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	st, err := a.MFA.Status(r.Context(), auth.User.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mfaStatusJSON{TOTP: st.TOTP, RecoveryCodes: st.RecoveryCodes})
}

// beginTOTP answers POST /users/me/mfa/totp: a new secret for the
// caller's authenticator app, a second factor once confirmed.
func (a *api) beginTOTP(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err == nil && scoped(auth) {
		err = &gatehouse.Error{Code: gatehouse.CodeForbidden}
	}
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
	if !ok {
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := &decoder{obj: obj.fields}
	code, hasCode := d.str("code", false)
	password, hasPassword := d.str("password", false)
	if hasCode == hasPassword {
		d.fail("value_error", "Value error, give either code or password", nil, "code")
	}
	if !a.done(w, r, d) {
		return
	}
	ctx := r.Context()
	u := auth.User
	if err := a.check(r, a.limits.policy(mfaPolicy), u.ID.String(), gatehouse.AuditMFADisabled); err != nil {
		a.writeError(w, r, err)
		return
	}
	var err error
	if hasCode {
		err = a.MFA.CheckCode(ctx, u.ID, code)
	} else {
		_, err = a.Manager.Authenticate(ctx, u.Email, password)
	}
	if err == nil {
		err = a.MFA.Disable(ctx, u.ID)
	}
	if err != nil {
		a.record(r, failedEvent(gatehouse.AuditMFADisabled, u.ID, err, "factor", "totp"))
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
