package pages

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// Two-step verification: the second step of a login, and the account
// page's forms that turn an authenticator app (TOTP) on and off and make
// new recovery codes. The API decides everything; these handlers only
// carry the forms to it (httpapi's /auth/NAME/mfa and /users/me/mfa/...).

// codeHint explains the code field of a login's second step: a one-time
// code and a recovery code are typed in the same field, so it is a plain
// text field, not a numeric one.
const codeHint = "The 6 digits your authenticator app shows now, or one of your recovery codes, " +
	"such as abcde-23456. A recovery code works once."

// somethingWrong is the message of an API answer the pages cannot read.
const somethingWrong = "Something went wrong on our side. Try again in a moment."

// totpSetup is an authenticator app being added: its key, shown this once
// (and carried by the form of the first code, to show it again if that
// code is wrong).
type totpSetup struct {
	Secret, URI string
	// Groups is Secret in groups of four characters, for typing.
	Groups string
}

// base32Secret is what a TOTP secret from the API looks like: base32
// without padding.
var base32Secret = regexp.MustCompile(`^[A-Z2-7]{16,128}$`)

// newTOTPSetup returns the setup of a secret and its otpauth:// URI, or
// nil when either does not look like one (a form that was tampered with).
func newTOTPSetup(secret, uri string) *totpSetup {
	if !base32Secret.MatchString(secret) || !strings.HasPrefix(uri, "otpauth://") || len(uri) > 2048 ||
		strings.ContainsFunc(uri, unicode.IsControl) {
		return nil
	}
	var b strings.Builder
	for i := 0; i < len(secret); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(secret[i:min(i+4, len(secret))])
	}
	return &totpSetup{Secret: secret, URI: uri, Groups: b.String()}
}

// newCodes are recovery codes just made, shown this once. Replaced says
// they replace earlier ones (rather than come with a new app).
type newCodes struct {
	Replaced bool
	// Passkey says they come with a first passkey, not an app.
	Passkey bool
	Codes   []string
}

// --- login, second step

// loginMFAView is the code form of a login's second step.
func (h *handler) loginMFAView(w http.ResponseWriter, r *http.Request, token, next string) *view {
	v := h.newView(w, r, "Two-step verification",
		&field{ID: "code", Name: "code", Label: "Code", Type: "text", Autocomplete: "one-time-code", Required: true,
			Verbatim: true, Hint: codeHint})
	v.MFAToken, v.Next = token, next
	v.Passkeys = h.passkeysOn(h.client(w, r))
	return v
}

// getLoginMFA shows the code form of a login that began elsewhere: a
// provider's login (OAuth) of a user with a second factor is sent here
// with its mfa_token. Without one, the browser goes back to the login.
// Nothing is checked on GET: the token is only sent on, with a code, by
// the form's POST.
//
// With setup=1, the user must add a second factor first: the page says so
// and offers to begin, which changes something, so it is the form's POST.
func (h *handler) getLoginMFA(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	token := q.Get("mfa_token")
	if token == "" || len(token) > 128 {
		h.toLogin(w, r)
		return
	}
	if q.Get("setup") == "1" {
		h.render(w, r, http.StatusOK, "login-mfa", h.setupView(w, r, token, "", setupIntro))
		return
	}
	h.render(w, r, http.StatusOK, "login-mfa", h.loginMFAView(w, r, token, ""))
}

// toLogin answers a GET of a login form's address with the login page.
func (h *handler) toLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, h.prefix+LoginPath, http.StatusSeeOther)
}

// postLoginMFA completes a login with a code. A wrong code re-shows the
// code form; a login that has expired (or whose second factor was removed
// meanwhile) shows the login form again.
func (h *handler) postLoginMFA(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	var next string
	if n := f.Get("next"); safeNext(n) {
		next = n
	}
	token := f.Get("mfa_token")
	code := strings.TrimSpace(f.Get("code"))
	if token == "" {
		h.loginAgain(w, r, next, &apiError{status: http.StatusBadRequest, code: "MFA_BAD_TOKEN"})
		return
	}
	v := h.loginMFAView(w, r, token, next)
	if f.Has("credential") { // the passkey script's form
		h.passkeyStep(w, r, v, token, next)
		return
	}
	if code == "" {
		v.fail("code", "Enter the code from your authenticator app, or a recovery code.")
		h.render(w, r, http.StatusUnprocessableEntity, "login-mfa", v)
		return
	}
	res := h.client(w, r).call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa",
		map[string]string{"mfa_token": token, "code": code})
	if res.ok() {
		h.loggedIn(w, r, next)
		return
	}
	e := readError(res)
	_, badToken := e.fields["mfa_token"]
	switch {
	case e.code == "MFA_BAD_TOKEN" || e.code == "MFA_TOTP_NOT_ENABLED" || badToken:
		h.loginAgain(w, r, next, e)
		return
	case e.code == "MFA_BAD_CODE":
		v.fail("code", e.message())
	default:
		v.failAPI(e, fieldName{api: "code", id: "code",
			missing: "Enter the code from your authenticator app, or a recovery code.", invalid: messages["MFA_BAD_CODE"]})
	}
	h.render(w, r, res.status, "login-mfa", v)
}

// loginAgain shows the login form with e's message: the second step
// cannot go on.
func (h *handler) loginAgain(w http.ResponseWriter, r *http.Request, next string, e *apiError) {
	v := h.loginView(w, r)
	v.Next = next
	v.fail("", e.message())
	if e.code == "MFA_TOTP_NOT_ENABLED" {
		v.Errors[len(v.Errors)-1].Text += " Log in again."
	}
	status := e.status
	if status < 400 {
		status = http.StatusBadRequest
	}
	h.render(w, r, status, "login", v)
}

// --- account page

// failMFA records an API error of a two-step verification form; a 404 is
// an API without second factors, whose section the page does not show.
func failMFA(v *view, e *apiError) {
	if e.status == http.StatusNotFound && e.code == "Not Found" {
		v.fail("", "Two-step verification is not available on this site.")
		return
	}
	v.failAPI(e)
}

// mfaFields are the inputs of the account page's two-step verification
// forms.
func mfaFields() []*field {
	return []*field{
		{ID: "totp-code", Name: "code", Label: "Code from your app", Type: "text", Autocomplete: "one-time-code",
			Required: true, Verbatim: true, Hint: "The 6 digits the app shows now for this account."},
		{ID: "new-codes-code", Name: "code", Label: "Code from your authenticator app", Type: "text", Autocomplete: "one-time-code",
			Required: true, Verbatim: true, Hint: "Or one of your recovery codes. The recovery codes you have now stop working."},
		{ID: "mfa-password", Name: "password", Label: "Your password", Type: "password", Autocomplete: "current-password",
			Required: true, Hint: "Logging in then asks for your password only, and your recovery codes stop working."},
	}
}

// toAccount answers a GET of a form's address with the account page.
func (h *handler) toAccount(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, h.prefix+AccountPath, http.StatusSeeOther)
}

// loggedOut sends a browser whose login has ended to the login page, and
// reports whether it did.
func (h *handler) loggedOut(w http.ResponseWriter, r *http.Request, res *result) bool {
	if res.status != http.StatusUnauthorized {
		return false
	}
	http.Redirect(w, r, h.prefix+LoginPath+"?next="+url.QueryEscape(h.prefix+AccountPath), http.StatusSeeOther)
	return true
}

// postTOTPBegin starts adding an authenticator app: the account page
// shows its key and asks for a first code.
func (h *handler) postTOTPBegin(w http.ResponseWriter, r *http.Request) {
	c, v := h.client(w, r), h.accountView(w, r)
	res := c.authed(http.MethodPost, "/users/me/mfa/totp", nil)
	if h.loggedOut(w, r, res) {
		return
	}
	if !res.ok() {
		failMFA(v, readError(res))
		h.showAccount(w, r, c, v, res.status)
		return
	}
	var e struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
	}
	if res.decode(&e) != nil {
		e.Secret = ""
	}
	if v.TOTPSetup = newTOTPSetup(e.Secret, e.URI); v.TOTPSetup == nil {
		v.fail("", somethingWrong)
		h.showAccount(w, r, c, v, http.StatusBadGateway)
		return
	}
	// The page holds the key; like every page it is not cached (no-store).
	h.showAccount(w, r, c, v, http.StatusOK)
}

// postTOTPConfirm turns the app on with its first code, then shows the
// recovery codes, the only time they are shown.
func (h *handler) postTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	c, v := h.client(w, r), h.accountView(w, r)
	f := r.PostForm
	setup := newTOTPSetup(f.Get("secret"), f.Get("otpauth_uri"))
	// The code field is on the page only with the key it checks.
	id := "totp-code"
	if setup == nil {
		id = ""
	}
	const enter = "Enter the 6-digit code your app shows."
	code := strings.TrimSpace(f.Get("code"))
	if code == "" {
		v.TOTPSetup = setup
		v.fail(id, enter)
		h.showAccount(w, r, c, v, http.StatusUnprocessableEntity)
		return
	}
	res := c.authed(http.MethodPost, "/users/me/mfa/totp/confirm", map[string]string{"code": code})
	if h.loggedOut(w, r, res) {
		return
	}
	if res.ok() {
		h.showCodes(w, r, c, v, res, false)
		return
	}
	switch e := readError(res); {
	case e.code == "MFA_BAD_CODE":
		v.TOTPSetup = setup
		v.fail(id, e.message())
	case e.fields != nil:
		v.TOTPSetup = setup
		v.fail(id, enter)
	default: // on already, or the setup is gone: the section shows which
		failMFA(v, e)
	}
	h.showAccount(w, r, c, v, res.status)
}

// postRecoveryCodes replaces the recovery codes, for a fresh code, and
// shows the new ones once.
func (h *handler) postRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	c, v := h.client(w, r), h.accountView(w, r)
	const enter = "Enter the code your authenticator app shows, or a recovery code."
	code := strings.TrimSpace(r.PostForm.Get("code"))
	if code == "" {
		v.fail("new-codes-code", enter)
		h.showAccount(w, r, c, v, http.StatusUnprocessableEntity)
		return
	}
	res := c.authed(http.MethodPost, "/users/me/mfa/recovery-codes", map[string]string{"code": code})
	if h.loggedOut(w, r, res) {
		return
	}
	if res.ok() {
		h.showCodes(w, r, c, v, res, true)
		return
	}
	switch e := readError(res); {
	case e.code == "MFA_BAD_CODE":
		v.fail("new-codes-code", e.message())
	case e.fields != nil:
		v.fail("new-codes-code", enter)
	default:
		failMFA(v, e)
	}
	h.showAccount(w, r, c, v, res.status)
}

// showCodes renders the account page with the recovery codes of the API's
// answer res.
func (h *handler) showCodes(w http.ResponseWriter, r *http.Request, c *client, v *view, res *result, replaced bool) {
	var body struct {
		Codes []string `json:"recovery_codes"`
	}
	if res.decode(&body) != nil || len(body.Codes) == 0 {
		// The change is made: the account page tells the state.
		v.fail("", somethingWrong)
		h.showAccount(w, r, c, v, http.StatusBadGateway)
		return
	}
	v.NewCodes = &newCodes{Replaced: replaced, Codes: body.Codes}
	// The page holds the codes; like every page it is not cached.
	h.showAccount(w, r, c, v, http.StatusOK)
}

// postTOTPDisable removes the authenticator app, for the password.
func (h *handler) postTOTPDisable(w http.ResponseWriter, r *http.Request) {
	c, v := h.client(w, r), h.accountView(w, r)
	password := r.PostForm.Get("password")
	if password == "" {
		v.fail("mfa-password", "Enter your password.")
		h.showAccount(w, r, c, v, http.StatusUnprocessableEntity)
		return
	}
	res := c.authed(http.MethodDelete, "/users/me/mfa/totp", map[string]string{"password": password})
	if h.loggedOut(w, r, res) {
		return
	}
	if res.ok() {
		// With passkeys left, two-step verification is still on.
		notice := "mfa-off"
		var left struct {
			Passkeys []struct{} `json:"passkeys"`
		}
		if st := c.authed(http.MethodGet, "/users/me/mfa", nil); st.ok() && st.decode(&left) == nil && len(left.Passkeys) > 0 {
			notice = "totp-removed"
		}
		h.redirect(w, r, h.prefix+AccountPath, notice)
		return
	}
	if e := readError(res); e.code == "LOGIN_BAD_CREDENTIALS" {
		v.fail("mfa-password", "That password is not right.")
	} else if e.code == "MFA_REQUIRED" {
		v.fail("mfa-password", e.message())
	} else if e.fields != nil {
		v.failAPI(e, fieldName{api: "password", id: "mfa-password", missing: "Enter your password."})
	} else {
		failMFA(v, e)
	}
	h.showAccount(w, r, c, v, res.status)
}

// passkeyStep completes a login with the passkey the browser chose, in
// place of a code.
func (h *handler) passkeyStep(w http.ResponseWriter, r *http.Request, v *view, token, next string) {
	cred, ok := credential(r.PostForm)
	if !ok {
		v.fail("", messages["MFA_BAD_PASSKEY"])
		h.render(w, r, http.StatusUnprocessableEntity, "login-mfa", v)
		return
	}
	res := h.client(w, r).call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa",
		map[string]any{"mfa_token": token, "credential": cred})
	if res.ok() {
		h.loggedIn(w, r, next)
		return
	}
	e := readError(res)
	_, badToken := e.fields["mfa_token"]
	switch {
	case e.code == "MFA_BAD_TOKEN" || badToken:
		h.loginAgain(w, r, next, e)
		return
	case e.code == "MFA_BAD_PASSKEY" || e.fields != nil:
		v.fail("", messages["MFA_BAD_PASSKEY"])
	default:
		v.failAPI(e)
	}
	h.render(w, r, res.status, "login-mfa", v)
}
