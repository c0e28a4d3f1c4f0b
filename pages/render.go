package pages

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// templates are the pages, each parsed with the shared layout.
var templates = func() map[string]*template.Template {
	base := template.Must(template.New("").ParseFS(assets, "assets/layout.html"))
	out := make(map[string]*template.Template)
	for _, name := range []string{"login", "login-mfa", "register", "forgot", "reset", "verify", "account", "logout", "message"} {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, "assets/"+name+".html"))
	}
	return out
}()

// view is what a page template sees.
type view struct {
	App, Prefix, Title string
	CSRF               string
	// HasLogin says whether /login and /account exist (a cookie backend).
	HasLogin bool
	// Notice is a success message, announced politely (role="status").
	Notice string
	// Errors sum up what went wrong, announced at once (role="alert") and
	// focused; each links to its field.
	Errors []problem
	// Message is the text of a page that has no form (403, 404).
	Message string
	// F are the form's fields by id.
	F map[string]*field
	// Next is where a login goes on to (a safe local path), Token the
	// token of a mail's link.
	Next, Token string
	OAuth       []oauthLink
	Account     *account
	NewKey      *newKey
	// MFAToken is the API's token of a login's second step, carried by
	// the code form.
	MFAToken string
	// TOTPSetup is an authenticator app being added, NewCodes recovery
	// codes just made: each is shown this once.
	TOTPSetup *totpSetup
	NewCodes  *newCodes
	// Passkeys says the API has passkeys: the page loads the passkey
	// script, which shows the forms that use them.
	Passkeys bool
	// SetupStep is the step of a login that adds a second factor before
	// it completes (setupIntro, setupApp, setupCodes); "" otherwise.
	SetupStep string
}

// problem is one entry of the error summary.
type problem struct {
	Field string // the id of the input it concerns; "" for the whole form
	Text  string
}

// field is one input.
type field struct {
	ID, Name, Label, Type, Autocomplete, Value, Hint, Error string
	Required                                                bool
	// Verbatim turns off what a phone's keyboard does to words (capitals,
	// spelling), for codes.
	Verbatim bool
}

type oauthLink struct{ Name, Label, URL string }

// fail records a problem with a field (id, or "" for the form).
func (v *view) fail(id, text string) {
	f, ok := v.F[id]
	switch {
	case ok && f.Error != "":
		return // one message per field
	case ok:
		f.Error = text
	default:
		id = ""
	}
	v.Errors = append(v.Errors, problem{Field: id, Text: text})
}

// failAPI records an API error: field problems (422) on their fields, in
// the form's order, anything else for the whole form. names are the API's
// fields of the form, in the form's order.
func (v *view) failAPI(e *apiError, names ...fieldName) {
	if e.fields == nil {
		v.fail("", e.message())
		return
	}
	left := len(e.fields)
	for _, n := range names {
		p, ok := e.fields[n.api]
		if !ok {
			continue
		}
		left--
		text := n.invalid
		if p.typ == "missing" {
			text = n.missing
		}
		if text == "" {
			text = p.msg
		}
		v.fail(n.id, text)
	}
	if left > 0 { // a field the form does not have: the API's own words
		for api, p := range e.fields {
			if !slices.ContainsFunc(names, func(n fieldName) bool { return n.api == api }) {
				v.fail("", api+": "+p.msg)
			}
		}
	}
}

// fieldName describes an API field on a form.
type fieldName struct {
	api              string // the field's name in the API
	id               string // the input's id
	missing, invalid string // messages; "" invalid keeps the API's own
}

// newView starts a page's view.
func (h *handler) newView(w http.ResponseWriter, r *http.Request, title string, fields ...*field) *view {
	v := &view{
		App: h.cfg.AppName, Prefix: h.prefix, Title: title, CSRF: h.csrf.token(w, r),
		HasLogin: h.cfg.CookieBackend != "", F: make(map[string]*field),
	}
	for _, f := range fields {
		v.F[f.ID] = f
	}
	return v
}

// render writes a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	if v.App == "" {
		v.App, v.Prefix, v.HasLogin = h.cfg.AppName, h.prefix, h.cfg.CookieBackend != ""
	}
	var buf bytes.Buffer
	if err := templates[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		// Only a broken template gets here; the tests render every page.
		http.Error(w, "pages: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	if v.Passkeys {
		hd.Set("Content-Security-Policy", scriptPolicy)
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes()) // a failed write means the client has gone
	}
}

// redirect answers a form with 303 to a path under the prefix, with an
// optional notice code for the next page.
func (h *handler) redirect(w http.ResponseWriter, r *http.Request, path, notice string) {
	if notice != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "notice=" + url.QueryEscape(notice)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// notices are the messages a redirect may ask the next page to show, by
// code: the query string names one, it never carries text.
var notices = map[string]string{
	"registered":       "Your account was created. We sent you an e-mail: open its link to confirm your address.",
	"link-sent":        "If an account uses this address and still needs confirming, we sent it a new link.",
	"verified":         "Your e-mail address is confirmed.",
	"reset-sent":       "If an account uses this address, we sent it a link to choose a new password. The link works once.",
	"password-reset":   "Your password was changed. Log in with the new one.",
	"logged-out":       "You are logged out.",
	"logged-out-all":   "You are logged out on every device.",
	"password-changed": "Your password was changed. Your other devices were logged out.",
	"session-ended":    "That device was logged out.",
	"sessions-ended":   "Your other devices were logged out.",
	"key-revoked":      "The API key was revoked. Requests made with it now fail.",
	"unlinked":         "The account was unlinked.",
	"mfa-off":          "Two-step verification is off. Your recovery codes no longer work.",
	"totp-removed":     "The authenticator app was removed. Logging in asks for one of your passkeys instead.",
	"passkey-removed":  "The passkey was removed.",
	"passkey-added":    "The passkey was added. You can use it to log in.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("notice")] }
