package pages

import (
	"fmt"
	"net/http"
	"strings"
)

// A login of a user who must have a second factor and has none (the API's
// LOGIN_MFA_SETUP_REQUIRED) adds an authenticator app before it
// completes: the login-mfa page in setup mode shows the app's key, takes
// its first code, shows the recovery codes once, and its Continue button
// completes the login with the mfa_token alone. Every step is a POST to
// loginMFASetupPath carrying the mfa_token, named by its step field.
//
// Where the API has passkeys, the page also offers a passkey instead of
// the app (a form the passkey script shows): the script fetches the
// options from loginSetupPasskeyBeginPath with the mfa_token, and posts
// the browser's answer as the step "passkey"; the recovery codes and
// Continue follow, as after the app.

// Steps of the setup, as the view's SetupStep.
const (
	setupIntro = "intro" // the site requires a second factor; a button begins
	setupApp   = "app"   // the app's key and the code form
	setupCodes = "codes" // the recovery codes and Continue
)

// mfaStep reads a login the API answered 401 LOGIN_MFA_REQUIRED (a second
// step is due) or LOGIN_MFA_SETUP_REQUIRED (a second factor must be added
// first, setup): the password was right. It returns the mfa_token.
func mfaStep(res *result) (token string, setup, ok bool) {
	if res.status != http.StatusUnauthorized {
		return "", false, false
	}
	var body struct {
		Detail   string `json:"detail"`
		MFAToken string `json:"mfa_token"`
	}
	if res.decode(&body) != nil || body.MFAToken == "" {
		return "", false, false
	}
	switch body.Detail {
	case "LOGIN_MFA_REQUIRED":
		return body.MFAToken, false, true
	case "LOGIN_MFA_SETUP_REQUIRED":
		return body.MFAToken, true, true
	}
	return "", false, false
}

// setupView is a page of the setup of a login's second factor.
func (h *handler) setupView(w http.ResponseWriter, r *http.Request, token, next, step string) *view {
	v := h.newView(w, r, "Set up two-step verification",
		&field{ID: "totp-code", Name: "code", Label: "Code from your app", Type: "text", Autocomplete: "one-time-code",
			Required: true, Verbatim: true, Hint: "The 6 digits the app shows now for this account."},
		&field{ID: "passkey-name", Name: "name", Label: "Name of the passkey", Type: "text", Autocomplete: "off",
			Hint: "Optional. Say which device or key holds it, for example “work laptop”."})
	v.MFAToken, v.Next, v.SetupStep = token, next, step
	if step != setupCodes {
		v.Passkeys = h.passkeysOn(h.client(w, r))
	}
	return v
}

// setupBegin asks the API for the key of a new authenticator app and
// shows it with the form of its first code. A login that cannot go on
// shows the login form again.
func (h *handler) setupBegin(w http.ResponseWriter, r *http.Request, c *client, token, next string) {
	res := c.call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa/totp", map[string]string{"mfa_token": token})
	if !res.ok() {
		h.setupFailed(w, r, token, next, readError(res), enterCode)
		return
	}
	var e struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
	}
	if res.decode(&e) != nil {
		e.Secret = ""
	}
	v := h.setupView(w, r, token, next, setupApp)
	if v.TOTPSetup = newTOTPSetup(e.Secret, e.URI); v.TOTPSetup == nil {
		v.SetupStep = setupIntro
		v.fail("", somethingWrong)
		h.render(w, r, http.StatusBadGateway, "login-mfa", v)
		return
	}
	// The page holds the key; like every page it is not cached (no-store).
	h.render(w, r, http.StatusOK, "login-mfa", v)
}

// setupFailed shows what an API error of a setup step leaves: a second
// factor is on already (added meanwhile, or the page sent twice), so the
// login asks for it, as then says; or the login cannot go on and starts
// again.
func (h *handler) setupFailed(w http.ResponseWriter, r *http.Request, token, next string, e *apiError, then string) {
	if e.code == "MFA_TOTP_ALREADY_ENABLED" {
		v := h.loginMFAView(w, r, token, next)
		v.fail("", e.message()+" "+then)
		h.render(w, r, e.status, "login-mfa", v)
		return
	}
	h.loginAgain(w, r, next, e)
}

// postLoginMFASetup runs a step of the setup: begin, confirm (the app's
// first code), finish (complete the login).
func (h *handler) postLoginMFASetup(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	var next string
	if n := f.Get("next"); safeNext(n) {
		next = n
	}
	token := f.Get("mfa_token")
	if token == "" || len(token) > 128 {
		h.loginAgain(w, r, next, &apiError{status: http.StatusBadRequest, code: "MFA_BAD_TOKEN"})
		return
	}
	c := h.client(w, r)
	switch f.Get("step") {
	case "begin":
		h.setupBegin(w, r, c, token, next)
	case "confirm":
		h.setupConfirm(w, r, c, token, next)
	case "passkey":
		h.setupPasskey(w, r, c, token, next)
	case "finish":
		res := c.call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa", map[string]string{"mfa_token": token})
		if res.ok() {
			h.loggedIn(w, r, next)
			return
		}
		e := readError(res)
		if _, badToken := e.fields["mfa_token"]; e.fields != nil && !badToken {
			// No factor was added to this login yet (a code is due).
			v := h.setupView(w, r, token, next, setupIntro)
			if v.Passkeys {
				v.fail("", "Add an authenticator app or a passkey before you go on.")
			} else {
				v.fail("", "Add an authenticator app before you go on.")
			}
			h.render(w, r, res.status, "login-mfa", v)
			return
		}
		h.loginAgain(w, r, next, e)
	default:
		v := h.newView(w, r, "Set up two-step verification")
		v.Message = "This form asks for nothing this page does."
		h.render(w, r, http.StatusBadRequest, "message", v)
	}
}

// setupConfirm turns the app on with its first code, then shows the
// recovery codes, the only time they are shown, and the button that
// completes the login.
func (h *handler) setupConfirm(w http.ResponseWriter, r *http.Request, c *client, token, next string) {
	f := r.PostForm
	v := h.setupView(w, r, token, next, setupApp)
	v.TOTPSetup = newTOTPSetup(f.Get("secret"), f.Get("otpauth_uri"))
	if v.TOTPSetup == nil {
		// A form that was tampered with: its key cannot be shown again.
		v.SetupStep = setupIntro
	}
	const enter = "Enter the 6-digit code your app shows."
	code := strings.TrimSpace(f.Get("code"))
	if code == "" {
		v.fail("totp-code", enter)
		h.render(w, r, http.StatusUnprocessableEntity, "login-mfa", v)
		return
	}
	res := c.call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa/totp/confirm", map[string]string{"mfa_token": token, "code": code})
	if res.ok() {
		var body struct {
			Codes []string `json:"recovery_codes"`
		}
		if res.decode(&body) != nil || len(body.Codes) == 0 {
			// The app is on; Continue still completes the login.
			body.Codes = nil
			v.fail("", somethingWrong)
		}
		// The codes page offers no passkey: it needs no script.
		v.SetupStep, v.TOTPSetup, v.Passkeys = setupCodes, nil, false
		v.NewCodes = &newCodes{Codes: body.Codes}
		// The page holds the codes; like every page it is not cached.
		h.render(w, r, http.StatusOK, "login-mfa", v)
		return
	}
	e := readError(res)
	_, badToken := e.fields["mfa_token"]
	switch {
	case e.code == "MFA_BAD_CODE":
		v.fail("totp-code", e.message())
	case e.fields != nil && !badToken:
		v.fail("totp-code", enter)
	default:
		h.setupFailed(w, r, token, next, e, enterCode)
		return
	}
	h.render(w, r, res.status, "login-mfa", v)
}

// What setupFailed says a login with a factor on already asks for.
const (
	enterCode  = "Enter a code from your authenticator app to log in."
	usePasskey = "Use your passkey, or a code from your authenticator app, to log in."
)

// setupPasskey adds the passkey the browser made (the passkey script's
// form), in place of an app, then shows the recovery codes, the only
// time they are shown, and the button that completes the login. A passkey
// the API refuses leaves the setup page as it was, with the app's key if
// it showed it; a login that cannot go on starts again.
func (h *handler) setupPasskey(w http.ResponseWriter, r *http.Request, c *client, token, next string) {
	f := r.PostForm
	v := h.setupView(w, r, token, next, setupIntro)
	if v.TOTPSetup = newTOTPSetup(f.Get("secret"), f.Get("otpauth_uri")); v.TOTPSetup != nil {
		v.SetupStep = setupApp
	}
	name := strings.TrimSpace(f.Get("name"))
	v.F["passkey-name"].Value = name
	// Without its state, the API would take the answer for an expired
	// login (MFA_BAD_TOKEN), which this one need not be.
	cred, ok := credential(f)
	state := f.Get("state")
	if !ok || state == "" {
		v.fail("", "The passkey was not added: your browser sent no answer. Try again, in a browser that has passkeys.")
		h.render(w, r, http.StatusUnprocessableEntity, "login-mfa", v)
		return
	}
	res := c.call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa/passkeys",
		map[string]any{"mfa_token": token, "state": state, "credential": cred, "name": name})
	if res.ok() {
		var added struct {
			Codes []string `json:"recovery_codes"`
		}
		if res.decode(&added) != nil || len(added.Codes) == 0 {
			// The passkey is on; Continue still completes the login.
			added.Codes = nil
			v.fail("", somethingWrong)
		}
		v.SetupStep, v.TOTPSetup, v.Passkeys = setupCodes, nil, false
		v.F["passkey-name"].Value = ""
		v.NewCodes = &newCodes{Passkey: true, Codes: added.Codes}
		// The page holds the codes; like every page it is not cached.
		h.render(w, r, http.StatusCreated, "login-mfa", v)
		return
	}
	e := readError(res)
	_, badToken := e.fields["mfa_token"]
	_, badName := e.fields["name"]
	switch {
	case e.code == "MFA_BAD_TOKEN" || e.code == "MFA_TOTP_ALREADY_ENABLED" || badToken:
		h.setupFailed(w, r, token, next, e, usePasskey)
		return
	case e.code == "MFA_BAD_PASSKEY":
		v.fail("", notAdded["MFA_BAD_PASSKEY"])
	case badName:
		v.fail("passkey-name", fmt.Sprintf("Enter a name of at most %d characters.", maxPasskeyName))
	case e.fields != nil: // an answer that is not one
		v.fail("", notAdded["MFA_BAD_PASSKEY"])
	default:
		v.failAPI(e)
	}
	h.render(w, r, res.status, "login-mfa", v)
}

// loggedIn sends a browser whose login completed on to next, or to the
// account page.
func (h *handler) loggedIn(w http.ResponseWriter, r *http.Request, next string) {
	if next == "" {
		next = h.prefix + AccountPath
	}
	http.Redirect(w, r, next, http.StatusSeeOther) // #nosec G710 -- next passed safeNext: a path on this site only
}
