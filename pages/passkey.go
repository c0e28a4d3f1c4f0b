package pages

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Passkeys (WebAuthn): the account page lists them and removes one for the
// password. Adding one, and logging in with one, needs the browser's
// navigator.credentials, so a script (assets/passkey.js) drives those
// forms; without it they stay hidden and the pages work with passwords
// and codes.

// passkeyID is what the id of a passkey looks like in a form: it goes
// into an API path and an element id.
var passkeyID = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// passkeyPassword returns the password field of the remove form of the
// passkey id, adding it to the view's fields when it is not there yet.
func (v *view) passkeyPassword(id, name string) *field {
	fid := "passkey-password-" + id
	if f, ok := v.F[fid]; ok {
		return f
	}
	f := &field{ID: fid, Name: "password", Label: "Your password", Type: "password", Autocomplete: "current-password",
		Required: true, Hint: "To remove the passkey “" + name + "”."}
	v.F[fid] = f
	return f
}

// postPasskeyRemove removes one of the user's passkeys, for the password.
func (h *handler) postPasskeyRemove(w http.ResponseWriter, r *http.Request) {
	c, v := h.client(w, r), h.accountView(w, r)
	id := r.PostForm.Get("passkey")
	if !passkeyID.MatchString(id) {
		v.fail("", messages["Not Found"])
		h.showAccount(w, r, c, v, http.StatusNotFound)
		return
	}
	f := v.passkeyPassword(id, "")
	password := r.PostForm.Get("password")
	if password == "" {
		v.fail(f.ID, "Enter your password.")
		h.showAccount(w, r, c, v, http.StatusUnprocessableEntity)
		return
	}
	res := c.authed(http.MethodDelete, "/users/me/mfa/passkeys/"+id, map[string]string{"password": password})
	if h.loggedOut(w, r, res) {
		return
	}
	if res.ok() {
		h.redirect(w, r, h.prefix+AccountPath, "passkey-removed")
		return
	}
	switch e := readError(res); {
	case e.code == "LOGIN_BAD_CREDENTIALS":
		v.fail(f.ID, "That password is not right.")
	case e.code == "MFA_REQUIRED":
		v.fail(f.ID, e.message())
	case e.fields != nil:
		v.failAPI(e, fieldName{api: "password", id: f.ID, missing: "Enter your password."})
	default:
		// Not Found is this passkey (another's, or removed meanwhile): the
		// API routes of passkeys exist, the form was shown.
		delete(v.F, f.ID)
		v.failAPI(e)
	}
	h.showAccount(w, r, c, v, res.status)
}

// scriptPath is the passkeys' script, relative to PathPrefix.
const scriptPath = "/pages/passkey.js"

// Paths of the routes the passkey script posts to, relative to
// PathPrefix. The *Begin ones answer JSON (the WebAuthn options, or
// {"error": message}); the others are the forms the script submits once
// the browser has answered, and answer pages like every form. A GET of
// one goes to the page of its form.
const (
	passkeyBeginPath      = "/account/mfa/passkeys/begin" // #nosec G101 -- a route path, not a credential
	passkeyAddPath        = "/account/mfa/passkeys"       // #nosec G101 -- a route path, not a credential
	loginPasskeyBeginPath = "/login/passkey/begin"        // #nosec G101 -- a route path, not a credential
	loginPasskeyPath      = "/login/passkey"              // #nosec G101 -- a route path, not a credential
	loginMFAPasskeyPath   = "/login/mfa/passkey"          // #nosec G101 -- a route path, not a credential
	// loginSetupPasskeyBeginPath begins a passkey in place of an app in the
	// setup of a login's second factor; its answer goes to
	// loginMFASetupPath, as the step "passkey".
	loginSetupPasskeyBeginPath = "/login/mfa/setup/passkey/begin" // #nosec G101 -- a route path, not a credential
)

// maxPasskeyName is the API's longest passkey name (mfa.MaxPasskeyName),
// in characters.
const maxPasskeyName = 64

// passkeysOn reports whether the API has passkeys: its route of a
// passkey login exists (answering GET, which it does not take, with 405,
// where a missing route is 404). The probe changes nothing.
func (h *handler) passkeysOn(c *client) bool {
	return c.call(http.MethodGet, "/auth/"+h.cfg.CookieBackend+"/passkey/begin", nil).status == http.StatusMethodNotAllowed
}

// writeJSON answers the script.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body) // a failed write means the client has gone
}

// ceremonyAnswer passes the API's answer of the first half of a WebAuthn
// ceremony to the script: the options (and state) as they are, or the
// message of the error, in words, for the script to show.
func ceremonyAnswer(w http.ResponseWriter, res *result) {
	var body struct {
		Options json.RawMessage `json:"options"`
	}
	if res.ok() && res.decode(&body) == nil && len(body.Options) > 0 {
		writeJSON(w, http.StatusOK, res.body)
		return
	}
	status, msg := res.status, somethingWrong
	if !res.ok() {
		msg = readError(res).message()
	} else {
		status = http.StatusBadGateway
	}
	b, _ := json.Marshal(map[string]string{"error": msg}) // a string: cannot fail
	writeJSON(w, status, b)
}

// credential reads the browser's answer of a ceremony from a form field:
// the JSON of a PublicKeyCredential, which the API checks.
func credential(f url.Values) (json.RawMessage, bool) {
	raw := strings.TrimSpace(f.Get("credential"))
	if !strings.HasPrefix(raw, "{") || !json.Valid([]byte(raw)) {
		return nil, false
	}
	return json.RawMessage(raw), true
}

// --- account: adding a passkey

// postPasskeyBegin answers the script of the account page's passkey form
// with the options of navigator.credentials.create.
func (h *handler) postPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	res := h.client(w, r).authed(http.MethodPost, "/users/me/mfa/passkeys/begin", nil)
	ceremonyAnswer(w, res)
}

// notAdded are the messages of a passkey that was not added.
var notAdded = map[string]string{
	"MFA_BAD_TOKEN":   "The passkey was not added: it took too long. Try again.",
	"MFA_BAD_PASSKEY": "The passkey was not added: your browser's answer did not check out, or this passkey is on your account already.",
}

// postPasskeyAdd adds the passkey the browser made: the account page
// shows the recovery codes when it is the user's first second factor.
func (h *handler) postPasskeyAdd(w http.ResponseWriter, r *http.Request) {
	c, v := h.client(w, r), h.accountView(w, r)
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	v.F["passkey-name"].Value = name
	cred, ok := credential(f)
	if !ok {
		v.fail("", "The passkey was not added: your browser sent no answer. Try again, in a browser that has passkeys.")
		h.showAccount(w, r, c, v, http.StatusUnprocessableEntity)
		return
	}
	res := c.authed(http.MethodPost, "/users/me/mfa/passkeys", map[string]any{"state": f.Get("state"), "credential": cred, "name": name})
	if h.loggedOut(w, r, res) {
		return
	}
	if !res.ok() {
		e := readError(res)
		if msg, ok := notAdded[e.code]; ok {
			v.fail("", msg)
		} else {
			v.failAPI(e, fieldName{api: "name", id: "passkey-name",
				invalid: fmt.Sprintf("Enter a name of at most %d characters.", maxPasskeyName)})
		}
		h.showAccount(w, r, c, v, res.status)
		return
	}
	var added struct {
		Codes []string `json:"recovery_codes"`
	}
	if res.decode(&added) != nil || len(added.Codes) == 0 {
		h.redirect(w, r, h.prefix+AccountPath, "passkey-added")
		return
	}
	v.F["passkey-name"].Value = ""
	v.NewCodes = &newCodes{Passkey: true, Codes: added.Codes}
	// The page holds the codes; like every page it is not cached.
	h.showAccount(w, r, c, v, http.StatusCreated)
}

// --- login with a passkey alone

// postLoginPasskeyBegin answers the script of the login page's passkey
// button with the options of navigator.credentials.get.
func (h *handler) postLoginPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	res := h.client(w, r).call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/passkey/begin", nil)
	ceremonyAnswer(w, res)
}

// passkeyRefused are the messages of a passkey login the API refused.
var passkeyRefused = map[string]string{
	"MFA_BAD_TOKEN":         "Logging in with the passkey took too long. Try again.",
	"LOGIN_BAD_CREDENTIALS": messages["MFA_BAD_PASSKEY"],
}

// postLoginPasskey logs in with the passkey the browser chose.
func (h *handler) postLoginPasskey(w http.ResponseWriter, r *http.Request) {
	v := h.loginView(w, r)
	if next := r.PostForm.Get("next"); safeNext(next) {
		v.Next = next
	}
	cred, ok := credential(r.PostForm)
	if !ok {
		v.fail("", messages["MFA_BAD_PASSKEY"])
		h.render(w, r, http.StatusUnprocessableEntity, "login", v)
		return
	}
	res := h.client(w, r).call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/passkey",
		map[string]any{"state": r.PostForm.Get("state"), "credential": cred})
	if res.ok() {
		h.loggedIn(w, r, v.Next)
		return
	}
	e := readError(res)
	switch msg, ok := passkeyRefused[e.code]; {
	case ok:
		v.fail("", msg)
	case e.fields != nil:
		v.fail("", messages["MFA_BAD_PASSKEY"])
	default:
		v.failAPI(e)
	}
	h.render(w, r, res.status, "login", v)
}

// --- a passkey as a login's second step

// postLoginMFAPasskey answers the script of the code form's passkey
// button with the options of navigator.credentials.get for the passkeys
// of the login's user. The answer goes to LoginMFAPath, as a code does.
func (h *handler) postLoginMFAPasskey(w http.ResponseWriter, r *http.Request) {
	res := h.client(w, r).call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa/passkey",
		map[string]string{"mfa_token": r.PostForm.Get("mfa_token")})
	ceremonyAnswer(w, res)
}

// --- a passkey as the first factor of a login that must add one

// postLoginSetupPasskeyBegin answers the script of the setup page's
// passkey form with the options of navigator.credentials.create, for the
// user of the login's mfa_token (a form field, never in the address). The
// answer goes to loginMFASetupPath, as the step "passkey".
func (h *handler) postLoginSetupPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	res := h.client(w, r).call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/mfa/passkeys/begin",
		map[string]string{"mfa_token": r.PostForm.Get("mfa_token")})
	ceremonyAnswer(w, res)
}
