package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mfa"
)

// ceremonyJSON is the first half of a WebAuthn ceremony: the options for
// navigator.credentials, and the sealed state to send back with the
// browser's answer.
type ceremonyJSON struct {
	Options json.RawMessage `json:"options"`
	State   string          `json:"state,omitempty"`
}

type passkeyJSON struct {
	ID         gatehouse.ID `json:"id"`
	Name       string       `json:"name"`
	CreatedAt  time.Time    `json:"created_at"`
	LastUsedAt *time.Time   `json:"last_used_at"`
}

func toPasskeyJSON(p gatehouse.Passkey) passkeyJSON {
	out := passkeyJSON{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC()}
	if !p.LastUsedAt.IsZero() {
		t := p.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}

// passkeyName refuses a passkey name longer than the service keeps.
func passkeyName(d *decoder, name string) {
	if utf8.RuneCountInString(name) > mfa.MaxPasskeyName {
		d.fail("string_too_long", fmt.Sprintf("String should have at most %d characters", mfa.MaxPasskeyName), name, "name")
	}
}

// writePasskeyCreated answers a passkey added: 201 with the passkey, and
// the recovery codes of a first second factor, shown this once.
func writePasskeyCreated(w http.ResponseWriter, p *gatehouse.Passkey, codes []string) {
	writeJSON(w, http.StatusCreated, struct {
		passkeyJSON
		RecoveryCodes []string `json:"recovery_codes,omitempty"`
	}{toPasskeyJSON(*p), codes})
}

// beginPasskey answers POST /users/me/mfa/passkeys/begin: the options for
// navigator.credentials.create, and the state for the second half.
func (a *api) beginPasskey(w http.ResponseWriter, r *http.Request) {
	auth, err := a.owner(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	c, err := a.MFA.BeginPasskey(r.Context(), auth.User)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ceremonyJSON(c))
}

// addPasskey answers POST /users/me/mfa/passkeys {"state","credential",
// "name"}: the browser's answer adds the passkey. A user's first second
// factor comes with recovery codes, shown this once.
func (a *api) addPasskey(w http.ResponseWriter, r *http.Request) {
	auth, obj, ok := a.mfaUser(w, r)
	if !ok {
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := &decoder{obj: obj.fields}
	state, _ := d.str("state", true)
	cred, _ := d.rawObject("credential", true)
	name, _ := d.str("name", false)
	passkeyName(d, name)
	if !a.done(w, r, d) {
		return
	}
	p, codes, err := a.MFA.FinishPasskey(r.Context(), auth.User, state, name, cred)
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeMFABadPasskey {
			a.record(r, failedEvent(gatehouse.AuditMFAEnabled, auth.User.ID, err, "factor", "passkey"))
		}
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditMFAEnabled, auth.User.ID, "factor", "passkey", "passkey_id", p.ID.String()))
	writePasskeyCreated(w, p, codes)
}

// listPasskeys answers GET /users/me/mfa/passkeys.
func (a *api) listPasskeys(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	keys, err := a.MFA.Passkeys(r.Context(), auth.User.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]passkeyJSON, len(keys))
	for i, k := range keys {
		out[i] = toPasskeyJSON(k)
	}
	writeJSON(w, http.StatusOK, out)
}

// removePasskey answers DELETE /users/me/mfa/passkeys/{id} {"code"} or
// {"password"}: as removing the TOTP, on proof that the owner asks.
func (a *api) removePasskey(w http.ResponseWriter, r *http.Request) {
	auth, obj, ok := a.mfaUser(w, r)
	if !ok {
		return
	}
	id, err := gatehouse.ParseID(r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeNotFound})
		return
	}
	if !a.ownerProof(w, r, auth.User, obj, "passkey") {
		return
	}
	ctx := r.Context()
	keys, err := a.MFA.Passkeys(ctx, auth.User.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	found := false
	for _, k := range keys {
		found = found || k.ID == id
	}
	if !found {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeNotFound})
		return
	}
	if err := a.MFA.MayRemove(ctx, auth.User, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.MFA.RemovePasskey(ctx, auth.User.ID, id); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditMFADisabled, auth.User.ID, "factor", "passkey", "passkey_id", id.String()))
	w.WriteHeader(http.StatusNoContent)
}

// ownerProof checks that a request removing a second factor comes from
// its owner: a fresh code (or recovery code) or the password, counted
// against the account's code attempts. It writes the refusal itself.
func (a *api) ownerProof(w http.ResponseWriter, r *http.Request, u *gatehouse.User, obj object, factor string) bool {
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return false
	}
	d := &decoder{obj: obj.fields}
	code, hasCode := d.str("code", false)
	password, hasPassword := d.str("password", false)
	if hasCode == hasPassword {
		d.fail("value_error", "Value error, give either code or password", nil, "code")
	}
	if !a.done(w, r, d) {
		return false
	}
	ctx := r.Context()
	if err := a.check(r, a.limits.policy(mfaPolicy), u.ID.String(), gatehouse.AuditMFADisabled); err != nil {
		a.writeError(w, r, err)
		return false
	}
	var err error
	if hasCode {
		err = a.MFA.CheckCode(ctx, u.ID, code)
	} else {
		_, err = a.Manager.Authenticate(ctx, u.Email, password)
	}
	if err != nil {
		a.record(r, failedEvent(gatehouse.AuditMFADisabled, u.ID, err, "factor", factor))
		a.writeError(w, r, err)
		return false
	}
	return true
}

// removeUserPasskey answers DELETE /users/{id}/mfa/passkeys/{passkey_id}
// for superusers.
func (a *api) removeUserPasskey(w http.ResponseWriter, r *http.Request) {
	auth, target, err := a.userByPathWithAuth(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id, err := gatehouse.ParseID(r.PathValue("passkey_id"))
	if err == nil {
		err = a.MFA.RemovePasskey(r.Context(), target.ID, id)
	} else {
		err = &gatehouse.Error{Code: gatehouse.CodeNotFound}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	e := succeededEvent(gatehouse.AuditMFADisabled, target.ID, "factor", "passkey", "passkey_id", id.String())
	e.ActorID = auth.User.ID
	a.record(r, e)
	w.WriteHeader(http.StatusNoContent)
}

// beginPasskeyStep answers POST /auth/NAME/mfa/passkey {"mfa_token"}: the
// options of a passkey assertion for the second step of that login.
func (a *api) beginPasskeyStep(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := a.readMFAToken(w, r, name)
		if !ok {
			return
		}
		c, err := a.MFA.BeginPasskeyStep(r.Context(), token)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, ceremonyJSON{Options: c.Options})
	}
}

// readMFAToken reads the {"mfa_token"} of a step of a login at backend
// name, cross-origin checked like the login.
func (a *api) readMFAToken(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	_, d, ok := a.loginStep(w, r, name)
	if !ok {
		return "", false
	}
	token, _ := d.str("mfa_token", true)
	return token, a.done(w, r, d)
}

// loginStep begins a step of a login at backend name that takes a JSON
// body: cross-origin checked like the login (a forged step would sign the
// victim in as someone else), then the body read. It writes the refusal
// itself.
func (a *api) loginStep(w http.ResponseWriter, r *http.Request, name string) (*gatehouse.Backend, *decoder, bool) {
	b, _ := a.Authenticator.Backend(name)
	if err := a.Authenticator.CheckCrossOrigin(r, b); err != nil {
		a.writeError(w, r, err)
		return nil, nil, false
	}
	d, ok := a.readDecoder(w, r)
	return b, d, ok
}

// beginPasskeyLogin answers POST /auth/NAME/passkey/begin: the options of
// a login with a passkey alone, and its state.
func (a *api) beginPasskeyLogin(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := a.Authenticator.Backend(name)
		if err := a.Authenticator.CheckCrossOrigin(r, b); err != nil {
			a.writeError(w, r, err)
			return
		}
		if err := a.check(r, a.limits.policy(passkeyPolicy), "", gatehouse.AuditLoginFailed); err != nil {
			a.writeError(w, r, err)
			return
		}
		c, err := a.MFA.BeginPasskeyLogin(r.Context())
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, ceremonyJSON(c))
	}
}

// passkeyLogin answers POST /auth/NAME/passkey {"state","credential"}: a
// login with a passkey alone, ending with the backend's login answer. A
// passkey that verified its user (required) is two factors on its own.
func (a *api) passkeyLogin(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, d, ok := a.loginStep(w, r, name)
		if !ok {
			return
		}
		state, _ := d.str("state", true)
		cred, _ := d.rawObject("credential", true)
		if !a.done(w, r, d) {
			return
		}
		if err := a.check(r, a.limits.policy(passkeyPolicy), "", gatehouse.AuditLoginFailed); err != nil {
			a.writeError(w, r, err)
			return
		}
		ctx := r.Context()
		userID, err := a.MFA.FinishPasskeyLogin(ctx, state, cred)
		var u *gatehouse.User
		if err == nil {
			u, err = a.Manager.Users.FindUserByID(ctx, userID)
			switch {
			case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound, err == nil && !u.IsActive:
				// Deleted since, or deactivated: the password login's answer.
				err = &gatehouse.Error{Code: gatehouse.CodeLoginBadCredentials}
			case err == nil && a.RequireVerification && !u.IsVerified:
				err = &gatehouse.Error{Code: gatehouse.CodeLoginUserNotVerified}
			}
		}
		if err != nil {
			if code := gatehouse.ErrorCode(err); code != gatehouse.CodeUnavailable && code != gatehouse.CodeInternal {
				a.record(r, failedEvent(gatehouse.AuditLoginFailed, userID, err, "backend", name, "method", "passkey"))
			}
			a.writeError(w, r, err)
			return
		}
		a.completeLogin(w, r, b, u, "method", "passkey")
	}
}

// completeLogin issues the backend's token to u and writes the login
// answer, after a login's last step.
func (a *api) completeLogin(w http.ResponseWriter, r *http.Request, b *gatehouse.Backend, u *gatehouse.User, attrs ...string) {
	ctx := r.Context()
	tok, err := a.issue(gatehouse.WithClient(ctx, a.client(r)), b, u)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditLoginSucceeded, u.ID, append([]string{"backend", b.Name}, attrs...)...))
	if err := b.Transport.WriteLogin(w, r, tok); err != nil {
		a.Logger.ErrorContext(ctx, "write login response", "backend", b.Name, "error", err)
		return
	}
	if err := a.Manager.LoggedIn(ctx, u); err != nil {
		a.Logger.ErrorContext(ctx, "after-login hook", "user_id", u.ID.String(), "error", err)
	}
}

// beginSetupTOTP answers POST /auth/NAME/mfa/totp {"mfa_token"}: during a
// login answered LOGIN_MFA_SETUP_REQUIRED, a secret for the user's
// authenticator app.
func (a *api) beginSetupTOTP(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := a.readMFAToken(w, r, name)
		if !ok {
			return
		}
		_, u, err := a.pendingLogin(r, token, name)
		var e mfa.Enrolment
		if err == nil {
			e, err = a.MFA.BeginTOTPStep(r.Context(), token, u)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"secret": e.Secret, "otpauth_uri": e.URI})
	}
}

// confirmSetupTOTP answers POST /auth/NAME/mfa/totp/confirm
// {"mfa_token","code"}: the app's first code turns it on and answers the
// recovery codes; POST /auth/NAME/mfa with the mfa_token alone then
// completes the login.
func (a *api) confirmSetupTOTP(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, d, ok := a.loginStep(w, r, name)
		if !ok {
			return
		}
		token, _ := d.str("mfa_token", true)
		code, _ := d.str("code", true)
		if !a.done(w, r, d) {
			return
		}
		ctx := r.Context()
		pending, _, err := a.pendingLogin(r, token, name)
		if err == nil {
			err = a.check(r, a.limits.policy(mfaPolicy), pending.UserID.String(), gatehouse.AuditMFAChallengeFailed)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		codes, err := a.MFA.ConfirmTOTPStep(ctx, token, code)
		if err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeMFABadCode {
				a.record(r, failedEvent(gatehouse.AuditMFAEnabled, pending.UserID, err, "factor", "totp"))
			}
			a.writeError(w, r, err)
			return
		}
		a.record(r, succeededEvent(gatehouse.AuditMFAEnabled, pending.UserID, "factor", "totp", "at", "login"))
		writeJSON(w, http.StatusOK, map[string][]string{"recovery_codes": codes})
	}
}

// pendingLogin returns the live challenge of an mfa_token of a login at
// backend name, and its user, if that user may still log in.
func (a *api) pendingLogin(r *http.Request, token, name string) (*gatehouse.MFAChallenge, *gatehouse.User, error) {
	c, err := a.MFA.Pending(r.Context(), token)
	if err != nil {
		return nil, nil, err
	}
	if c.Backend != name {
		return nil, nil, &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
	}
	u, err := a.Manager.Users.FindUserByID(r.Context(), c.UserID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || err == nil && !u.IsActive {
		// Deleted or deactivated since the password step.
		return nil, nil, &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
	}
	if err != nil {
		return nil, nil, err
	}
	return c, u, nil
}

type mfaPolicyJSON struct {
	Required string `json:"required"`
}

// getMFAPolicy answers GET /mfa/policy for superusers: who must have a
// second factor.
func (a *api) getMFAPolicy(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authenticate(r, a.superuser()); err != nil {
		a.writeError(w, r, err)
		return
	}
	who, err := a.MFA.Requirement(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mfaPolicyJSON{Required: who})
}

// putMFAPolicy answers PUT /mfa/policy {"required"} for superusers.
func (a *api) putMFAPolicy(w http.ResponseWriter, r *http.Request) {
	auth, obj, ok := a.readAuthed(w, r, a.superuser())
	if !ok {
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	if scoped(auth) {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeForbidden})
		return
	}
	d := &decoder{obj: obj.fields}
	who, ok := d.str("required", true)
	if ok {
		switch who {
		case gatehouse.MFARequiredNobody, gatehouse.MFARequiredSuperusers, gatehouse.MFARequiredEveryone:
		default:
			d.fail("enum", "Input should be 'nobody', 'superusers' or 'everyone'", who, "required")
		}
	}
	if !a.done(w, r, d) {
		return
	}
	if err := a.MFA.SetRequirement(r.Context(), who); err != nil {
		a.writeError(w, r, err)
		return
	}
	e := succeededEvent(gatehouse.AuditMFARequiredChanged, auth.User.ID, "required", who)
	e.ActorID = auth.User.ID
	a.record(r, e)
	writeJSON(w, http.StatusOK, mfaPolicyJSON{Required: who})
}

// beginSetupPasskey answers POST /auth/NAME/mfa/passkeys/begin
// {"mfa_token"}: during a login answered LOGIN_MFA_SETUP_REQUIRED, the
// options and state of adding a passkey as the user's first factor.
func (a *api) beginSetupPasskey(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := a.readMFAToken(w, r, name)
		if !ok {
			return
		}
		_, u, err := a.pendingLogin(r, token, name)
		var c mfa.Ceremony
		if err == nil {
			c, err = a.MFA.BeginSetupPasskey(r.Context(), token, u)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, ceremonyJSON(c))
	}
}

// addSetupPasskey answers POST /auth/NAME/mfa/passkeys
// {"mfa_token","state","credential","name"}: the passkey is added and the
// answer holds it with the recovery codes; POST /auth/NAME/mfa with the
// mfa_token alone then completes the login.
func (a *api) addSetupPasskey(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, d, ok := a.loginStep(w, r, name)
		if !ok {
			return
		}
		token, _ := d.str("mfa_token", true)
		state, _ := d.str("state", true)
		cred, _ := d.rawObject("credential", true)
		keyName, _ := d.str("name", false)
		passkeyName(d, keyName)
		if !a.done(w, r, d) {
			return
		}
		ctx := r.Context()
		_, u, err := a.pendingLogin(r, token, name)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		p, codes, err := a.MFA.FinishSetupPasskey(ctx, token, u, state, keyName, cred)
		if err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeMFABadPasskey {
				a.record(r, failedEvent(gatehouse.AuditMFAEnabled, u.ID, err, "factor", "passkey"))
			}
			a.writeError(w, r, err)
			return
		}
		a.record(r, succeededEvent(gatehouse.AuditMFAEnabled, u.ID, "factor", "passkey", "passkey_id", p.ID.String(), "at", "login"))
		writePasskeyCreated(w, p, codes)
	}
}
