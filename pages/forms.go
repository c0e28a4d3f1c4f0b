package pages

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// post wraps a form handler: the request must not be cross-site, its form
// must parse, and its CSRF token must match the cookie, or it gets a 403
// page and goes no further.
func (h *handler) post(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			status := http.StatusBadRequest
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				status = http.StatusRequestEntityTooLarge
			}
			h.render(w, r, status, "message", &view{Title: "The form could not be read",
				Message: "Go back, reload the page and try again."})
			return
		}
		if h.origin.Check(r) != nil || h.csrf.check(r) != nil {
			v := h.newView(w, r, "This form has expired")
			v.Message = "We could not accept this form: it came from another site, or its page was open for too long. " +
				"Nothing was changed. Go back, reload the page and try again."
			h.render(w, r, http.StatusForbidden, "message", v)
			return
		}
		next(w, r)
	}
}

// safeNext reports whether next is a path on this site to send a browser
// to after login: a local absolute path, never "//host" or "/\host",
// which browsers read as another site.
func safeNext(next string) bool {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) ||
		strings.ContainsFunc(next, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

func emailField(autocomplete string) *field {
	return &field{ID: "email", Name: "email", Label: "E-mail address", Type: "email", Autocomplete: autocomplete, Required: true}
}

func newPasswordFields() []*field {
	return []*field{
		{ID: "password", Name: "password", Label: "New password", Type: "password", Autocomplete: "new-password", Required: true},
		{ID: "password-confirm", Name: "password_confirm", Label: "New password again", Type: "password", Autocomplete: "new-password", Required: true},
	}
}

var (
	emailName = fieldName{api: "email", id: "email",
		missing: "Enter your e-mail address.", invalid: "Enter an e-mail address such as name@example.com."}
	passwordName = fieldName{api: "password", id: "password", missing: "Enter a password."}
)

// checkConfirm compares the two new passwords of a form; a mismatch is a
// problem of the second field.
func checkConfirm(v *view, r *http.Request) bool {
	if r.PostForm.Get("password") == r.PostForm.Get("password_confirm") {
		return true
	}
	v.fail("password-confirm", "The two passwords do not match.")
	return false
}

// --- login

func (h *handler) loginView(w http.ResponseWriter, r *http.Request) *view {
	v := h.newView(w, r, "Log in", emailField("username"),
		&field{ID: "password", Name: "password", Label: "Password", Type: "password", Autocomplete: "current-password", Required: true})
	for _, name := range h.cfg.OAuthProviders {
		u := h.prefix + "/auth/" + name + "/authorize?redirect=true"
		if h.cfg.OAuthReturnURL != "" {
			u += "&return_to=" + url.QueryEscape(h.cfg.OAuthReturnURL)
		}
		v.OAuth = append(v.OAuth, oauthLink{Name: name, Label: "Log in with " + strings.ToUpper(name[:1]) + name[1:], URL: u})
	}
	v.Passkeys = h.passkeysOn(h.client(w, r))
	return v
}

func (h *handler) getLogin(w http.ResponseWriter, r *http.Request) {
	v := h.loginView(w, r)
	if next := r.URL.Query().Get("next"); safeNext(next) {
		v.Next = next
	}
	v.Notice = notice(r)
	h.render(w, r, http.StatusOK, "login", v)
}

func (h *handler) postLogin(w http.ResponseWriter, r *http.Request) {
	v := h.loginView(w, r)
	email := r.PostForm.Get("email")
	v.F["email"].Value = email
	if next := r.PostForm.Get("next"); safeNext(next) {
		v.Next = next
	}
	res := h.client(w, r).call(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/login",
		url.Values{"username": {email}, "password": {r.PostForm.Get("password")}})
	if res.ok() {
		next := v.Next
		if next == "" {
			next = h.prefix + AccountPath
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if token, setup, ok := mfaStep(res); ok {
		// The password was right; a second step is due, or adding a
		// second factor first. The mfa_token stays in forms, out of URLs:
		// with it alone, a factor can be added to this login.
		if setup {
			h.setupBegin(w, r, h.client(w, r), token, v.Next)
			return
		}
		h.render(w, r, http.StatusOK, "login-mfa", h.loginMFAView(w, r, token, v.Next))
		return
	}
	v.failAPI(readError(res),
		fieldName{api: "username", id: "email", missing: "Enter your e-mail address."},
		fieldName{api: "password", id: "password", missing: "Enter your password."})
	h.render(w, r, res.status, "login", v)
}

// --- register

func (h *handler) registerView(w http.ResponseWriter, r *http.Request) *view {
	return h.newView(w, r, "Create an account", append([]*field{emailField("email")}, newPasswordFields()...)...)
}

func (h *handler) getRegister(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "register", h.registerView(w, r))
}

// postRegister creates the account, then asks for the verification mail:
// the API sends it on request only.
func (h *handler) postRegister(w http.ResponseWriter, r *http.Request) {
	v := h.registerView(w, r)
	email := r.PostForm.Get("email")
	v.F["email"].Value = email
	if !checkConfirm(v, r) {
		h.render(w, r, http.StatusUnprocessableEntity, "register", v)
		return
	}
	c := h.client(w, r)
	res := c.call(http.MethodPost, "/auth/register", map[string]string{"email": email, "password": r.PostForm.Get("password")})
	if !res.ok() {
		e := readError(res)
		if e.code == "REGISTER_INVALID_PASSWORD" {
			v.fail("password", e.message())
		} else {
			v.failAPI(e, emailName, passwordName)
		}
		h.render(w, r, res.status, "register", v)
		return
	}
	// The account exists either way; a failure to queue the mail leaves
	// the "ask for a new link" form of the next page.
	c.call(http.MethodPost, "/auth/request-verify-token", map[string]string{"email": email})
	h.redirect(w, r, h.prefix+VerifyPath, "registered")
}

// --- forgot password

func (h *handler) getForgot(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "Forgot your password?", emailField("email"))
	v.Notice = notice(r)
	h.render(w, r, http.StatusOK, "forgot", v)
}

func (h *handler) postForgot(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "Forgot your password?", emailField("email"))
	email := r.PostForm.Get("email")
	v.F["email"].Value = email
	res := h.client(w, r).call(http.MethodPost, "/auth/forgot-password", map[string]string{"email": email})
	if res.ok() {
		h.redirect(w, r, h.prefix+ForgotPasswordPath, "reset-sent")
		return
	}
	v.failAPI(readError(res), emailName)
	h.render(w, r, res.status, "forgot", v)
}

// --- reset password

func (h *handler) getReset(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "Choose a new password", newPasswordFields()...)
	v.Token = r.URL.Query().Get("token")
	h.render(w, r, http.StatusOK, "reset", v)
}

func (h *handler) postReset(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "Choose a new password", newPasswordFields()...)
	v.Token = r.PostForm.Get("token")
	if !checkConfirm(v, r) {
		h.render(w, r, http.StatusUnprocessableEntity, "reset", v)
		return
	}
	res := h.client(w, r).call(http.MethodPost, "/auth/reset-password",
		map[string]string{"token": v.Token, "password": r.PostForm.Get("password")})
	if res.ok() {
		if h.cfg.CookieBackend != "" {
			h.redirect(w, r, h.prefix+LoginPath, "password-reset")
			return
		}
		v.Token, v.Notice = "", notices["password-reset"]
		h.render(w, r, http.StatusOK, "reset", v)
		return
	}
	e := readError(res)
	if e.code == "RESET_PASSWORD_INVALID_PASSWORD" {
		v.fail("password", e.message())
	} else {
		v.failAPI(e, passwordName, fieldName{api: "token", missing: messages["RESET_PASSWORD_BAD_TOKEN"]})
	}
	h.render(w, r, res.status, "reset", v)
}

// --- verify

func (h *handler) getVerify(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "Confirm your e-mail address", emailField("email"))
	v.Token = r.URL.Query().Get("token")
	v.Notice = notice(r)
	h.render(w, r, http.StatusOK, "verify", v)
}

// postVerify confirms the token of a mail's link, or, without a token,
// asks for a new link.
func (h *handler) postVerify(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "Confirm your e-mail address", emailField("email"))
	c := h.client(w, r)
	if token := r.PostForm.Get("token"); token != "" {
		res := c.call(http.MethodPost, "/auth/verify", map[string]string{"token": token})
		switch {
		case res.ok() && h.cfg.CookieBackend != "":
			h.redirect(w, r, h.prefix+LoginPath, "verified")
		case res.ok():
			h.redirect(w, r, h.prefix+VerifyPath, "verified")
		default:
			// The form to ask for a new link shows instead of the token's.
			v.failAPI(readError(res))
			h.render(w, r, res.status, "verify", v)
		}
		return
	}
	email := r.PostForm.Get("email")
	v.F["email"].Value = email
	res := c.call(http.MethodPost, "/auth/request-verify-token", map[string]string{"email": email})
	if res.ok() {
		h.redirect(w, r, h.prefix+VerifyPath, "link-sent")
		return
	}
	v.failAPI(readError(res), emailName)
	h.render(w, r, res.status, "verify", v)
}

// --- logout

// getLogout asks to confirm: a GET changes nothing, so that no link (or
// image) on another site can log the user out.
func (h *handler) getLogout(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "logout", h.newView(w, r, "Log out"))
}

func (h *handler) postLogout(w http.ResponseWriter, r *http.Request) {
	res := h.client(w, r).authed(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/logout", nil)
	if res.ok() || res.status == http.StatusUnauthorized { // logged out already
		h.redirect(w, r, h.prefix+LoginPath, "logged-out")
		return
	}
	v := h.newView(w, r, "Log out")
	v.failAPI(readError(res))
	h.render(w, r, res.status, "logout", v)
}
