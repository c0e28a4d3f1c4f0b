package pages_test

import (
	"encoding/base32"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
	"github.com/gatehouse/gatehouse/webauthntest"
)

// setupForm reads the hidden fields of the setup page p: the mfa_token,
// the secret and its otpauth:// address.
func setupForm(t *testing.T, p page) (token string, secret []byte, form url.Values) {
	t.Helper()
	m, sm, um := mfaTokenRE.FindStringSubmatch(p.body), secretRE.FindStringSubmatch(p.body), uriRE.FindStringSubmatch(p.body)
	if m == nil || sm == nil || um == nil {
		t.Fatalf("the setup page lacks the mfa_token, the secret or the address\n%s", p.body)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(sm[1])
	if err != nil {
		t.Fatal(err)
	}
	return m[1], secret, url.Values{"mfa_token": {m[1]}, "step": {"confirm"}, "secret": {sm[1]}, "otpauth_uri": {html.UnescapeString(um[1])}}
}

// with returns a copy of form with key set to value.
func with(form url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// TestLoginMFASetup logs in as a user who must have a second factor and
// has none: the login adds an authenticator app, shows the recovery codes
// once, and completes with Continue.
func TestLoginMFASetup(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true, sessions: true})
	s.register("cat@example.com")
	s.require(gatehouse.MFARequiredEveryone)
	b := s.browser()

	setup := b.submit("/login", url.Values{"email": {"cat@example.com"}, "password": {pw}, "next": {"/account?tab=security"}})
	wantPage(t, setup, http.StatusOK, "<h1>Set up two-step verification</h1>", "This site requires two-step verification on your account.",
		"Add this account to your authenticator app", `action="/login/mfa/setup"`, `<input type="hidden" name="step" value="confirm">`,
		`<label for="totp-code">Code from your app</label>`, `autocomplete="one-time-code"`, `<label for="totp-uri">Setup address</label>`,
		`<input type="hidden" name="next" value="/account?tab=security">`, `id="totp-secret"`,
		passkeyScript, `id="setup-passkey" data-passkey="create" data-begin="/login/mfa/setup/passkey/begin" hidden`)
	checkAccessible(t, setup)
	if strings.Contains(setCookies(setup), "gatehouse_auth=") {
		t.Error("the password step set the auth cookie")
	}
	token, secret, form := setupForm(t, setup)
	form.Set("next", "/account?tab=security")
	wantRedirect(t, b.get("/account"), "/login?next=%2Faccount")

	// Before the app is added, Continue does not complete the login.
	p := b.submitOn(setup, "/login/mfa/setup", url.Values{"mfa_token": {token}, "step": {"finish"}})
	wantPage(t, p, http.StatusUnprocessableEntity, "<li>Add an authenticator app or a passkey before you go on.</li>", "Set up an authenticator app",
		`id="setup-passkey"`)

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   []string
	}{
		{"wrong code", with(form, "code", wrongCode(secret, s.clock.Now())), http.StatusBadRequest,
			[]string{`<a href="#totp-code">That code is not right, or was already used.</a>`, `aria-invalid="true"`, `id="totp-secret"`,
				mfaTokenRE.FindString(setup.body)}},
		{"no code", with(form, "code", " "), http.StatusUnprocessableEntity,
			[]string{`<a href="#totp-code">Enter the 6-digit code your app shows.</a>`, `id="totp-secret"`}},
		{"malformed code", with(form, "code", "12"), http.StatusBadRequest,
			[]string{`<a href="#totp-code">That code is not right, or was already used.</a>`}},
		{"bad token", with(form, "mfa_token", "ghm_not-a-token", "code", "123456"), http.StatusBadRequest,
			[]string{"<h1>Log in</h1>", "This login has expired. Log in again.", `<input type="hidden" name="next" value="/account?tab=security">`}},
		{"no token", with(form, "mfa_token", "", "code", "123456"), http.StatusBadRequest,
			[]string{"<h1>Log in</h1>", "This login has expired. Log in again."}},
		{"unknown step", with(form, "step", "skip"), http.StatusBadRequest, []string{"This form asks for nothing this page does."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.submitOn(setup, "/login/mfa/setup", tc.form)
			wantPage(t, p, tc.status, tc.want...)
			checkAccessible(t, p)
			if strings.Contains(setCookies(p), "gatehouse_auth=") {
				t.Error("a failed step set the auth cookie")
			}
		})
	}
	// Without the CSRF token, nothing reaches the API.
	wantPage(t, b.post("/login/mfa/setup", with(form, "code", totp.Code(secret, totp.Step(s.clock.Now()))), b.sameOrigin()),
		http.StatusForbidden, "This form has expired")
	wantRedirect(t, b.get("/login/mfa/setup"), "/login")

	codesPage := b.submitOn(setup, "/login/mfa/setup", with(form, "code", totp.Code(secret, totp.Step(s.clock.Now()))))
	wantPage(t, codesPage, http.StatusOK, `role="status"`, "Two-step verification is on: save your recovery codes", "shown only this once",
		`<input type="hidden" name="step" value="finish">`, `<button type="submit">Continue</button>`, mfaTokenRE.FindString(setup.body),
		`<input type="hidden" name="next" value="/account?tab=security">`)
	checkAccessible(t, codesPage)
	if n := len(codesRE.FindAllString(codesPage.body, -1)); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	if strings.Contains(codesPage.body, `id="totp-secret"`) || strings.Contains(setCookies(codesPage), "gatehouse_auth=") {
		t.Error("the codes page shows the key again, or logged in before Continue")
	}
	// Sent twice, the code finds the app on: the login asks for a code.
	s.clock.next()
	p = b.submitOn(setup, "/login/mfa/setup", with(form, "code", totp.Code(secret, totp.Step(s.clock.Now()))))
	wantPage(t, p, http.StatusBadRequest, "<li>Two-step verification is already on for this account. Enter a code from your authenticator app to log in.</li>",
		`action="/login/mfa"`, `<label for="code">Code</label>`)

	done := b.submitOn(codesPage, "/login/mfa/setup", url.Values{"mfa_token": {token}, "step": {"finish"}, "next": {"/account?tab=security"}})
	wantRedirect(t, done, "/account?tab=security")
	if !strings.Contains(setCookies(done), "gatehouse_auth=") {
		t.Errorf("Continue did not pass on the API's cookies: %q", setCookies(done))
	}
	wantPage(t, b.get("/account"), http.StatusOK, `<dd id="account-email">cat@example.com</dd>`, "Two-step verification is <strong>on</strong>",
		"You have 10 unused recovery codes.", `id="mfa-required"`)
	// The token completed its login.
	wantPage(t, b.submitOn(codesPage, "/login/mfa/setup", url.Values{"mfa_token": {token}, "step": {"finish"}}), http.StatusBadRequest,
		"<h1>Log in</h1>", "This login has expired. Log in again.")
	// The next login asks for the app's code.
	other := s.browser()
	form2 := passwordStep(t, other, url.Values{"email": {"cat@example.com"}, "password": {pw}})
	s.clock.next()
	wantRedirect(t, secondStep(other, form2, totp.Code(secret, totp.Step(s.clock.Now()))), "/account")
}

// TestLoginMFASetupElsewhere begins the setup from the address a
// provider's login (OAuth) redirects to: GET shows what is due and
// changes nothing; its button begins.
func TestLoginMFASetupElsewhere(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true})
	s.register("dan@example.com")
	s.require(gatehouse.MFARequiredEveryone)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/auth/cookie/login",
		strings.NewReader(url.Values{"username": {"dan@example.com"}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Detail   string `json:"detail"`
		MFAToken string `json:"mfa_token"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || err != nil || body.Detail != "LOGIN_MFA_SETUP_REQUIRED" {
		t.Fatalf("API login: %d %+v %v", res.StatusCode, body, err)
	}

	b := s.browser()
	intro := b.get("/login/mfa?setup=1&mfa_token=" + url.QueryEscape(body.MFAToken))
	wantPage(t, intro, http.StatusOK, "<h1>Set up two-step verification</h1>", "Before you log in, add an authenticator app",
		`<input type="hidden" name="step" value="begin">`, "Set up an authenticator app")
	checkAccessible(t, intro)
	if m := mfaTokenRE.FindStringSubmatch(intro.body); m == nil || m[1] != body.MFAToken {
		t.Fatal("the page does not carry the mfa_token of the address")
	}
	if strings.Contains(intro.body, `id="totp-secret"`) {
		t.Error("GET began the setup")
	}
	wantPage(t, b.submitOn(intro, "/login/mfa/setup", url.Values{"mfa_token": {"ghm_x"}, "step": {"begin"}}), http.StatusBadRequest,
		"<h1>Log in</h1>", "This login has expired. Log in again.")
	setup := b.submitOn(intro, "/login/mfa/setup", url.Values{"mfa_token": {body.MFAToken}, "step": {"begin"}})
	wantPage(t, setup, http.StatusOK, "Add this account to your authenticator app", `id="totp-secret"`)
	_, secret, form := setupForm(t, setup)
	codes := b.submitOn(setup, "/login/mfa/setup", with(form, "code", totp.Code(secret, totp.Step(s.clock.Now()))))
	wantPage(t, codes, http.StatusOK, "save your recovery codes")
	wantRedirect(t, b.submitOn(codes, "/login/mfa/setup", url.Values{"mfa_token": {body.MFAToken}, "step": {"finish"}}), "/account")
	wantPage(t, b.get("/account"), http.StatusOK, `<dd id="account-email">dan@example.com</dd>`)
}

// TestLoginMFASetupPasskey logs in as a user who must have a second
// factor and has none, and adds a passkey in place of the app, with
// webauthntest playing the browser: the setup page's passkey form gets
// its options from /login/mfa/setup/passkey/begin, its answer goes to
// /login/mfa/setup, the recovery codes show once, and Continue completes
// the login.
func TestLoginMFASetupPasskey(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true, sessions: true})
	s.register("kim@example.com")
	s.require(gatehouse.MFARequiredEveryone)
	b := s.browser()
	laptop, stranger := webauthntest.New(s.origin), webauthntest.New(s.origin)

	setup := b.submit("/login", url.Values{"email": {"kim@example.com"}, "password": {pw}, "next": {"/account?tab=security"}})
	wantPage(t, setup, http.StatusOK, "<h1>Set up two-step verification</h1>", passkeyScript,
		`<form method="post" action="/login/mfa/setup" id="setup-passkey" data-passkey="create" data-begin="/login/mfa/setup/passkey/begin" hidden aria-labelledby="setup-passkey-title" novalidate>`,
		`<h2 id="setup-passkey-title">Or add a passkey instead</h2>`, `<input type="hidden" name="step" value="passkey">`,
		`<label for="passkey-name">Name of the passkey</label>`, `<button type="submit" class="secondary">Add a passkey instead</button>`,
		"Add this account to your authenticator app", `id="totp-secret"`)
	checkAccessible(t, setup)
	token, _, app := setupForm(t, setup)
	if strings.Contains(setup.body, "mfa_token=") {
		t.Error("the setup page puts the mfa_token in an address")
	}
	// The passkey form carries what the app's form does: a failure shows
	// the app's key again.
	passkeyForm := func(kv ...string) url.Values {
		return with(url.Values{"mfa_token": {token}, "step": {"passkey"}, "secret": app["secret"], "otpauth_uri": app["otpauth_uri"],
			"next": {"/account?tab=security"}}, kv...)
	}

	status, header, body := b.script(setup, "/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {token}})
	opts, state := readOptions(t, status, body)
	if header.Get("Content-Type") != "application/json" || header.Get("Cache-Control") != "no-store" || state == "" {
		t.Errorf("begin: Content-Type %q, Cache-Control %q, state %q", header.Get("Content-Type"), header.Get("Cache-Control"), state)
	}
	status, _, body = b.script(setup, "/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {"ghm_nope"}})
	wantScriptError(t, status, body, http.StatusBadRequest, "This login has expired. Log in again.")
	cred, err := laptop.Create(opts)
	if err != nil {
		t.Fatal(err)
	}

	// fresh begins another ceremony and answers it with a.
	fresh := func(a *webauthntest.Authenticator) (string, string) {
		o, st := b.begin(t, setup, "/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {token}})
		c, err := a.Create(o)
		if err != nil {
			t.Fatal(err)
		}
		return st, string(c)
	}
	const notChecked = "<li>The passkey was not added: your browser&#39;s answer did not check out, or this passkey is on your account already.</li>"
	for _, tc := range []struct {
		name   string
		form   func() url.Values
		status int
		want   []string
	}{
		{"no answer", func() url.Values { return passkeyForm("state", state) }, http.StatusUnprocessableEntity,
			[]string{"<li>The passkey was not added: your browser sent no answer. Try again, in a browser that has passkeys.</li>",
				`id="totp-secret"`, `id="setup-passkey"`}},
		{"not JSON", func() url.Values { return passkeyForm("state", state, "credential", "{nope") }, http.StatusUnprocessableEntity,
			[]string{"<li>The passkey was not added: your browser sent no answer."}},
		{"an answer to other options", func() url.Values {
			st, _ := fresh(stranger)
			return passkeyForm("state", st, "credential", string(cred))
		}, http.StatusBadRequest, []string{notChecked, `id="totp-secret"`, mfaTokenRE.FindString(setup.body)}},
		{"no state", func() url.Values { return passkeyForm("credential", string(cred)) }, http.StatusUnprocessableEntity,
			[]string{"<li>The passkey was not added: your browser sent no answer."}},
		{"empty answer, no app shown", func() url.Values {
			f := passkeyForm("state", state, "credential", "{}")
			f.Del("secret")
			return f
		}, http.StatusBadRequest, []string{notChecked, "Set up an authenticator app", `<input type="hidden" name="step" value="begin">`}},
		{"long name", func() url.Values {
			st, c := fresh(stranger)
			return passkeyForm("state", st, "credential", c, "name", strings.Repeat("n", 65))
		}, http.StatusUnprocessableEntity, []string{`<a href="#passkey-name">Enter a name of at most 64 characters.</a>`,
			// The form shows without the script, with its message.
			`id="setup-passkey" data-passkey="create" data-begin="/login/mfa/setup/passkey/begin" aria-labelledby="setup-passkey-title"`,
			`value="nnnnnnnn`, `aria-invalid="true"`}},
		{"bad token", func() url.Values {
			return passkeyForm("mfa_token", "ghm_not-a-token", "state", state, "credential", string(cred))
		},
			http.StatusBadRequest, []string{"<h1>Log in</h1>", "This login has expired. Log in again.",
				`<input type="hidden" name="next" value="/account?tab=security">`}},
		{"no token", func() url.Values { return passkeyForm("mfa_token", "", "state", state, "credential", string(cred)) },
			http.StatusBadRequest, []string{"<h1>Log in</h1>", "This login has expired. Log in again."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.submitOn(setup, "/login/mfa/setup", tc.form())
			wantPage(t, p, tc.status, append([]string{`role="alert"`}, tc.want...)...)
			checkAccessible(t, p)
			if strings.Contains(setCookies(p), "gatehouse_auth=") || codesRE.MatchString(p.body) {
				t.Error("a refused passkey logged in or showed recovery codes")
			}
		})
	}
	// Without the CSRF token nothing reaches the API; a GET goes to the login.
	wantPage(t, b.post("/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {token}}, b.sameOrigin()), http.StatusForbidden,
		"This form has expired")
	wantPage(t, b.post("/login/mfa/setup", passkeyForm("state", state, "credential", string(cred)), b.sameOrigin()), http.StatusForbidden,
		"This form has expired")
	wantRedirect(t, b.get("/login/mfa/setup/passkey/begin"), "/login")

	codes := b.submitOn(setup, "/login/mfa/setup", passkeyForm("state", state, "credential", string(cred), "name", " laptop "))
	wantPage(t, codes, http.StatusCreated, `role="status"`, `<h2 id="new-codes-title">Your passkey was added: save your recovery codes</h2>`,
		"If you cannot use your passkey, each of these codes logs you in once", "shown only this once",
		`<input type="hidden" name="step" value="finish">`, `<button type="submit">Continue</button>`, mfaTokenRE.FindString(setup.body),
		`<input type="hidden" name="next" value="/account?tab=security">`)
	checkAccessible(t, codes)
	if n := len(codesRE.FindAllString(codes.body, -1)); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	if strings.Contains(codes.body, `id="totp-secret"`) || strings.Contains(codes.body, `id="setup-passkey"`) || strings.Contains(codes.body, "<script") ||
		strings.Contains(setCookies(codes), "gatehouse_auth=") {
		t.Error("the codes page shows the setup forms again, or logged in before Continue")
	}
	// Sent twice, the answer finds a factor on: the login asks for it.
	p := b.submitOn(setup, "/login/mfa/setup", passkeyForm("state", state, "credential", string(cred)))
	wantPage(t, p, http.StatusBadRequest,
		"<li>Two-step verification is already on for this account. Use your passkey, or a code from your authenticator app, to log in.</li>",
		`action="/login/mfa"`, `id="passkey-step"`, mfaTokenRE.FindString(setup.body))
	status, _, body = b.script(setup, "/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {token}})
	wantScriptError(t, status, body, http.StatusBadRequest, "Two-step verification is already on for this account.")

	done := b.submitOn(codes, "/login/mfa/setup", url.Values{"mfa_token": {token}, "step": {"finish"}, "next": {"/account?tab=security"}})
	wantRedirect(t, done, "/account?tab=security")
	if !strings.Contains(setCookies(done), "gatehouse_auth=") {
		t.Errorf("Continue did not pass on the API's cookies: %q", setCookies(done))
	}
	wantPage(t, b.get("/account"), http.StatusOK, `<dd id="account-email">kim@example.com</dd>`, "<td>laptop</td>",
		"Two-step verification is <strong>on</strong>: after your password, logging in asks for one of your passkeys.",
		"You have 10 unused recovery codes.", `id="mfa-required"`)
	// The token completed its login.
	status, _, body = b.script(codes, "/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {token}})
	wantScriptError(t, status, body, http.StatusBadRequest, "This login has expired. Log in again.")

	// The next login asks for the passkey.
	other := s.browser()
	step := passwordStep(t, other, url.Values{"email": {"kim@example.com"}, "password": {pw}})
	o, _ := other.begin(t, step, "/login/mfa/passkey", url.Values{"mfa_token": {mfaTokenRE.FindStringSubmatch(step.body)[1]}})
	assertion, err := laptop.Get(o)
	if err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, other.submitOn(step, "/login/mfa", url.Values{"mfa_token": {mfaTokenRE.FindStringSubmatch(step.body)[1]},
		"credential": {string(assertion)}}), "/account")

	t.Run("expired", func(t *testing.T) {
		s.register("lea@example.com")
		b := s.browser()
		setup := b.submit("/login", url.Values{"email": {"lea@example.com"}, "password": {pw}})
		wantPage(t, setup, http.StatusOK, `id="setup-passkey"`)
		token := mfaTokenRE.FindStringSubmatch(setup.body)[1]
		o, st := b.begin(t, setup, "/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {token}})
		c, err := webauthntest.New(s.origin).Create(o)
		if err != nil {
			t.Fatal(err)
		}
		for range 11 { // past the five minutes a login's second step may wait
			s.clock.next()
		}
		p := b.submitOn(setup, "/login/mfa/setup", url.Values{"mfa_token": {token}, "step": {"passkey"}, "state": {st}, "credential": {string(c)}})
		wantPage(t, p, http.StatusBadRequest, "<h1>Log in</h1>", `role="alert"`, "<li>This login has expired. Log in again.</li>")
		checkAccessible(t, p)
		status, _, body := b.script(setup, "/login/mfa/setup/passkey/begin", url.Values{"mfa_token": {token}})
		wantScriptError(t, status, body, http.StatusBadRequest, "This login has expired. Log in again.")
	})
}
