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
		`<input type="hidden" name="next" value="/account?tab=security">`, `id="totp-secret"`)
	checkAccessible(t, setup)
	if strings.Contains(setCookies(setup), "gatehouse_auth=") {
		t.Error("the password step set the auth cookie")
	}
	token, secret, form := setupForm(t, setup)
	form.Set("next", "/account?tab=security")
	wantRedirect(t, b.get("/account"), "/login?next=%2Faccount")

	// Before the app is added, Continue does not complete the login.
	p := b.submitOn(setup, "/login/mfa/setup", url.Values{"mfa_token": {token}, "step": {"finish"}})
	wantPage(t, p, http.StatusUnprocessableEntity, "<li>Add an authenticator app before you go on.</li>", "Set up an authenticator app")

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
