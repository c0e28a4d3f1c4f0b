package pages_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/webauthntest"
)

// api sends a JSON request to the API with the browser's cookies, as a
// script of the site would.
func (b *browser) api(method, path string, body any) page {
	b.s.t.Helper()
	var r *strings.Reader
	if body == nil {
		r = strings.NewReader("")
	} else {
		j, err := json.Marshal(body)
		if err != nil {
			b.s.t.Fatal(err)
		}
		r = strings.NewReader(string(j))
	}
	req, _ := http.NewRequest(method, b.s.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range b.sameOrigin() {
		req.Header[k] = v
	}
	return b.do(req)
}

// ceremony is the first half of a WebAuthn ceremony, as the API answers it.
type ceremony struct {
	Options json.RawMessage `json:"options"`
	State   string          `json:"state"`
}

func readCeremony(t *testing.T, p page) ceremony {
	t.Helper()
	var c ceremony
	if p.status != http.StatusOK || json.Unmarshal([]byte(p.body), &c) != nil || len(c.Options) == 0 {
		t.Fatalf("ceremony: %d %s, want 200 and options", p.status, p.body)
	}
	return c
}

// addPasskeyAPI adds a passkey of a to the logged-in browser's user
// through the API, and returns its id.
func addPasskeyAPI(t *testing.T, b *browser, a *webauthntest.Authenticator, name string) string {
	t.Helper()
	c := readCeremony(t, b.api(http.MethodPost, "/users/me/mfa/passkeys/begin", nil))
	cred, err := a.Create(c.Options)
	if err != nil {
		t.Fatal(err)
	}
	res := b.api(http.MethodPost, "/users/me/mfa/passkeys", map[string]any{"state": c.State, "credential": json.RawMessage(cred), "name": name})
	var added struct{ ID string }
	if res.status != http.StatusCreated || json.Unmarshal([]byte(res.body), &added) != nil {
		t.Fatalf("add passkey %s: %d %s", name, res.status, res.body)
	}
	return added.ID
}

// require sets who must have a second factor.
func (s *site) require(who string) {
	s.t.Helper()
	if err := s.settings.SetSetting(context.Background(), gatehouse.SettingMFARequired, who); err != nil {
		s.t.Fatal(err)
	}
}

var passkeyRowRE = regexp.MustCompile(`<tr id="passkey-([^"]+)">\n<td>([^<]*)</td>\n<td>([^<]*)</td>\n<td>([^<]*)</td>`)

// TestAccountPasskeys lists the passkeys on the account page and removes
// them for the password, up to the last of a user who must keep one.
func TestAccountPasskeys(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true, sessions: true})
	s.register("ann@example.com")
	b := s.browser()
	b.login("ann@example.com")

	p := b.get("/account")
	wantPage(t, p, http.StatusOK, `<h3 id="passkeys-title">Passkeys</h3>`, `<p id="passkeys-none">You have no passkeys.</p>`,
		"Two-step verification is <strong>off</strong>", "or for a passkey", "Turn on two-step verification")
	if strings.Contains(p.body, `id="mfa-required"`) {
		t.Error("the page says a second factor is required, though nobody must have one")
	}

	laptop, phone := webauthntest.New(s.origin), webauthntest.New(s.origin)
	laptopID := addPasskeyAPI(t, b, laptop, "laptop")
	s.clock.next() // passkeys list by creation time
	phoneID := addPasskeyAPI(t, b, phone, "phone <1>")
	account := b.get("/account")
	wantPage(t, account, http.StatusOK,
		"Two-step verification is <strong>on</strong>: after your password, logging in asks for one of your passkeys.",
		"You have 10 unused recovery codes.", "Add an authenticator app",
		`<summary>Remove <span class="visually-hidden">the passkey phone &lt;1&gt;</span></summary>`,
		`action="/account/mfa/passkeys/remove"`, `<input type="hidden" name="passkey" value="`+phoneID+`">`,
		`<label for="passkey-password-`+laptopID+`">Your password</label>`, "To remove the passkey “laptop”.")
	checkAccessible(t, account)
	rows := passkeyRowRE.FindAllStringSubmatch(account.body, -1)
	if len(rows) != 2 || rows[0][1] != laptopID || rows[0][2] != "laptop" || rows[1][2] != "phone &lt;1&gt;" ||
		rows[0][4] != "Never" || !strings.HasSuffix(rows[0][3], " UTC") {
		t.Fatalf("passkey rows %q, want laptop then phone, added at a time, never used", rows)
	}
	if strings.Contains(account.body, "<details open>") {
		t.Error("a remove form is open though nothing failed")
	}

	unknown := gatehouse.NewID().String()
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   []string
	}{
		{"wrong password", url.Values{"passkey": {phoneID}, "password": {"not-the-password"}}, http.StatusBadRequest,
			[]string{`<a href="#passkey-password-` + phoneID + `">That password is not right.</a>`, "<details open>",
				`id="passkey-password-` + phoneID + `-error"`}},
		{"no password", url.Values{"passkey": {phoneID}}, http.StatusUnprocessableEntity,
			[]string{`<a href="#passkey-password-` + phoneID + `">Enter your password.</a>`, "<details open>"}},
		{"unknown passkey", url.Values{"passkey": {unknown}, "password": {pw}}, http.StatusNotFound,
			[]string{"<li>This item does not exist any more.</li>", "phone &lt;1&gt;"}},
		{"malformed id", url.Values{"passkey": {"../totp"}, "password": {pw}}, http.StatusNotFound,
			[]string{"<li>This item does not exist any more.</li>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.submitOn(account, "/account/mfa/passkeys/remove", tc.form)
			wantPage(t, p, tc.status, append([]string{`role="alert"`, "<h1>Your account</h1>"}, tc.want...)...)
			checkAccessible(t, p)
			if n := len(passkeyRowRE.FindAllString(p.body, -1)); n != 2 {
				t.Errorf("%d passkeys listed after a failed removal, want 2", n)
			}
		})
	}
	// Without the CSRF token, nothing reaches the API.
	wantPage(t, b.post("/account/mfa/passkeys/remove", url.Values{"passkey": {phoneID}, "password": {pw}}, b.sameOrigin()),
		http.StatusForbidden, "This form has expired")
	wantRedirect(t, b.get("/account/mfa/passkeys/remove"), "/account")

	wantRedirect(t, b.submitOn(account, "/account/mfa/passkeys/remove", url.Values{"passkey": {phoneID}, "password": {pw}}),
		"/account?notice=passkey-removed")
	p = b.get("/account?notice=passkey-removed")
	wantPage(t, p, http.StatusOK, `<p class="notice" role="status">The passkey was removed.</p>`, "laptop")
	if strings.Contains(p.body, "phone &lt;1&gt;") {
		t.Error("the removed passkey is still listed")
	}

	// A user who must have a second factor keeps the last one.
	s.require(gatehouse.MFARequiredEveryone)
	account = b.get("/account")
	wantPage(t, account, http.StatusOK, `<p id="mfa-required" class="required"><strong>Required for your account.</strong>`)
	p = b.submitOn(account, "/account/mfa/passkeys/remove", url.Values{"passkey": {laptopID}, "password": {pw}})
	wantPage(t, p, http.StatusBadRequest, `<a href="#passkey-password-`+laptopID+`">You must keep a second factor: this site requires one on your account.`,
		"<details open>", "laptop")
	checkAccessible(t, p)
	s.require(gatehouse.MFARequiredNobody)
	wantRedirect(t, b.submitOn(account, "/account/mfa/passkeys/remove", url.Values{"passkey": {laptopID}, "password": {pw}}),
		"/account?notice=passkey-removed")
	wantPage(t, b.get("/account"), http.StatusOK, `<p id="passkeys-none">You have no passkeys.</p>`,
		"Two-step verification is <strong>off</strong>")
}

// TestAccountTOTPRequired turns off an authenticator app: refused while
// it is the last factor of a user who must have one, and with a passkey
// left the notice says the passkeys still ask.
func TestAccountTOTPRequired(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true})
	s.register("bea@example.com")
	b := s.browser()
	b.login("bea@example.com")
	enrol(t, s, b)
	s.require(gatehouse.MFARequiredEveryone)
	account := b.get("/account")
	wantPage(t, account, http.StatusOK, `id="mfa-required"`, "Turn off two-step verification")
	p := b.submitOn(account, "/account/mfa/totp/disable", url.Values{"password": {pw}})
	wantPage(t, p, http.StatusBadRequest, `<a href="#mfa-password">You must keep a second factor: this site requires one on your account.`,
		"Two-step verification is <strong>on</strong>")
	checkAccessible(t, p)

	addPasskeyAPI(t, b, webauthntest.New(s.origin), "key")
	account = b.get("/account")
	wantPage(t, account, http.StatusOK, "a code from your authenticator app or one of your passkeys", "Remove the authenticator app",
		"Logging in then asks for one of your passkeys instead.")
	wantRedirect(t, b.submitOn(account, "/account/mfa/totp/disable", url.Values{"password": {pw}}), "/account?notice=totp-removed")
	wantPage(t, b.get("/account?notice=totp-removed"), http.StatusOK,
		"The authenticator app was removed. Logging in asks for one of your passkeys instead.",
		"Two-step verification is <strong>on</strong>: after your password, logging in asks for one of your passkeys.")
}

// script posts a form to a passkey route answering JSON, as passkey.js
// does: the CSRF token of the page p, and fields.
func (b *browser) script(p page, path string, fields url.Values) (int, http.Header, map[string]json.RawMessage) {
	b.s.t.Helper()
	got := b.submitOn(p, path, fields)
	var body map[string]json.RawMessage
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		b.s.t.Fatalf("POST %s: %d %q is not JSON", path, got.status, got.body)
	}
	return got.status, got.header, body
}

// readOptions reads a begin route's answer: its options and state.
func readOptions(t *testing.T, status int, body map[string]json.RawMessage) (json.RawMessage, string) {
	t.Helper()
	var state string
	if status != http.StatusOK || len(body["options"]) == 0 || json.Unmarshal(body["options"], &struct{ PublicKey any }{}) != nil {
		t.Fatalf("begin: %d %s, want 200 and options", status, body)
	}
	if raw, ok := body["state"]; ok {
		if err := json.Unmarshal(raw, &state); err != nil {
			t.Fatal(err)
		}
	}
	return body["options"], state
}

// begin posts to a begin route and reads its options and state.
func (b *browser) begin(t *testing.T, p page, path string, fields url.Values) (json.RawMessage, string) {
	t.Helper()
	status, _, body := b.script(p, path, fields)
	return readOptions(t, status, body)
}

// wantScriptError checks a begin route's refusal: its status and message.
func wantScriptError(t *testing.T, status int, body map[string]json.RawMessage, wantStatus int, want string) {
	t.Helper()
	var msg string
	if status != wantStatus || json.Unmarshal(body["error"], &msg) != nil || msg != want {
		t.Errorf("got %d %s, want %d and the message %q", status, body, wantStatus, want)
	}
}

// TestPasskeyForms drives the routes passkey.js posts to, with
// webauthntest playing the browser: adding a passkey on the account page,
// logging in with it alone, and using it as a login's second step.
func TestPasskeyForms(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true, sessions: true})
	s.register("eve@example.com")
	b := s.browser()
	b.login("eve@example.com")
	laptop := webauthntest.New(s.origin)

	account := b.get("/account")
	wantPage(t, account, http.StatusOK, passkeyScript, `<form method="post" action="/account/mfa/passkeys" id="passkey-add" data-passkey="create" data-begin="/account/mfa/passkeys/begin" hidden`,
		`<label for="passkey-name">Name of the passkey</label>`, `<p data-passkey-fallback>`)
	checkAccessible(t, account)
	status, header, body := b.script(account, "/account/mfa/passkeys/begin", url.Values{})
	opts, state := readOptions(t, status, body)
	if header.Get("Content-Type") != "application/json" || header.Get("Cache-Control") != "no-store" || state == "" {
		t.Errorf("begin: Content-Type %q, Cache-Control %q, state %q", header.Get("Content-Type"), header.Get("Cache-Control"), state)
	}
	cred, err := laptop.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	// The first passkey is the first second factor: recovery codes, once.
	added := b.submitOn(account, "/account/mfa/passkeys", url.Values{"state": {state}, "credential": {string(cred)}, "name": {" laptop "}})
	wantPage(t, added, http.StatusCreated, `role="status"`, "Your passkey was added: save your recovery codes", "If you cannot use your passkey",
		"shown only this once", "<td>laptop</td>", "Two-step verification is <strong>on</strong>")
	checkAccessible(t, added)
	if n := len(codesRE.FindAllString(added.body, -1)); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}

	stranger := webauthntest.New(s.origin) // holds a passkey the site never stored
	for _, tc := range []struct {
		name   string
		form   func() url.Values
		status int
		want   string
	}{
		{"state used", func() url.Values { return url.Values{"state": {state}, "credential": {string(cred)}} }, http.StatusBadRequest,
			"<li>The passkey was not added: it took too long. Try again.</li>"},
		{"no answer", func() url.Values { return url.Values{"state": {state}} }, http.StatusUnprocessableEntity,
			"<li>The passkey was not added: your browser sent no answer."},
		{"not JSON", func() url.Values { return url.Values{"state": {state}, "credential": {"{nope"}} }, http.StatusUnprocessableEntity,
			"<li>The passkey was not added: your browser sent no answer."},
		{"an answer to other options", func() url.Values {
			_, st := b.begin(t, account, "/account/mfa/passkeys/begin", url.Values{})
			return url.Values{"state": {st}, "credential": {string(cred)}}
		}, http.StatusBadRequest, "<li>The passkey was not added: your browser&#39;s answer did not check out, or this passkey is on your account already.</li>"},
		{"long name", func() url.Values {
			o, st := b.begin(t, account, "/account/mfa/passkeys/begin", url.Values{})
			c, err := stranger.Create(o)
			if err != nil {
				t.Fatal(err)
			}
			return url.Values{"state": {st}, "credential": {string(c)}, "name": {strings.Repeat("n", 65)}}
		}, http.StatusUnprocessableEntity, `<a href="#passkey-name">Enter a name of at most 64 characters.</a>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.submitOn(account, "/account/mfa/passkeys", tc.form())
			wantPage(t, p, tc.status, `role="alert"`, tc.want, "<td>laptop</td>")
			checkAccessible(t, p)
		})
	}
	// Without the CSRF token nothing reaches the API; a GET goes back.
	for _, path := range []string{"/account/mfa/passkeys/begin", "/account/mfa/passkeys", "/login/passkey/begin", "/login/passkey", "/login/mfa/passkey"} {
		wantPage(t, b.post(path, url.Values{"state": {state}, "credential": {string(cred)}}, b.sameOrigin()), http.StatusForbidden, "This form has expired")
	}
	wantRedirect(t, b.get("/account/mfa/passkeys/begin"), "/account")
	wantRedirect(t, b.get("/login/passkey"), "/login")
	// A second passkey comes without codes.
	s.clock.next()
	phone := webauthntest.New(s.origin)
	status, _, body = b.script(account, "/account/mfa/passkeys/begin", url.Values{})
	opts, state = readOptions(t, status, body)
	if cred, err = phone.Create(opts); err != nil {
		t.Fatal(err)
	}
	wantRedirect(t, b.submitOn(account, "/account/mfa/passkeys", url.Values{"state": {state}, "credential": {string(cred)}, "name": {"phone"}}),
		"/account?notice=passkey-added")
	wantPage(t, b.get("/account?notice=passkey-added"), http.StatusOK, "The passkey was added. You can use it to log in.", "<td>phone</td>")

	t.Run("login", func(t *testing.T) {
		b := s.browser()
		login := b.get("/login?next=/account?tab=passkeys")
		wantPage(t, login, http.StatusOK, passkeyScript, `<form method="post" action="/login/passkey" id="passkey-login" data-passkey="get" data-begin="/login/passkey/begin" hidden>`,
			"Log in with a passkey", `<input type="hidden" name="next" value="/account?tab=passkeys">`)
		checkAccessible(t, login)
		status, _, body := b.script(login, "/login/passkey/begin", url.Values{})
		opts, state := readOptions(t, status, body)
		assertion, err := phone.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		p := b.submitOn(login, "/login/passkey", url.Values{"state": {state}, "credential": {string(assertion)}, "next": {"/account?tab=passkeys"}})
		wantRedirect(t, p, "/account?tab=passkeys")
		if !strings.Contains(setCookies(p), "gatehouse_auth=") {
			t.Errorf("the passkey login did not pass on the API's cookies: %q", setCookies(p))
		}
		used := map[string]string{}
		for _, row := range passkeyRowRE.FindAllStringSubmatch(b.get("/account").body, -1) {
			used[row[2]] = row[4]
		}
		if len(used) != 2 || used["phone"] == "Never" || used["laptop"] != "Never" {
			t.Errorf("last used %q, want the phone's only", used)
		}

		other := s.browser()
		login = other.get("/login")
		status, _, body = other.script(login, "/login/passkey/begin", url.Values{})
		opts, fresh := readOptions(t, status, body)
		unknown, err := stranger.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			want   string
		}{
			{"replayed", url.Values{"state": {state}, "credential": {string(assertion)}}, http.StatusBadRequest,
				"<li>Logging in with the passkey took too long. Try again.</li>"},
			{"unknown passkey", url.Values{"state": {fresh}, "credential": {string(unknown)}}, http.StatusBadRequest,
				"<li>That passkey was not accepted: it is not one of this account&#39;s, or it did not check that it is you.</li>"},
			{"no answer", url.Values{"state": {fresh}}, http.StatusUnprocessableEntity, "<li>That passkey was not accepted"},
			{"empty answer", url.Values{"state": {fresh}, "credential": {"{}"}}, http.StatusBadRequest, "<li>That passkey was not accepted"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := other.submitOn(login, "/login/passkey", tc.form)
				wantPage(t, p, tc.status, "<h1>Log in</h1>", `role="alert"`, tc.want, `id="passkey-login"`)
				checkAccessible(t, p)
				if strings.Contains(setCookies(p), "gatehouse_auth=") {
					t.Error("a refused passkey login set the auth cookie")
				}
			})
		}
	})

	t.Run("second step", func(t *testing.T) {
		b := s.browser()
		form := passwordStep(t, b, url.Values{"email": {"eve@example.com"}, "password": {pw}, "next": {"/account?tab=x"}})
		wantPage(t, form, http.StatusOK, passkeyScript, `<form method="post" action="/login/mfa" id="passkey-step" data-passkey="get" data-begin="/login/mfa/passkey" hidden>`,
			"Use a passkey")
		token := mfaTokenRE.FindStringSubmatch(form.body)[1]
		status, _, body := b.script(form, "/login/mfa/passkey", url.Values{"mfa_token": {"ghm_nope"}})
		wantScriptError(t, status, body, http.StatusBadRequest, "This login has expired. Log in again.")
		status, _, body = b.script(form, "/login/mfa/passkey", url.Values{"mfa_token": {token}})
		opts, _ := readOptions(t, status, body)
		// The options name this user's passkeys only.
		if _, err := stranger.Get(opts); err == nil {
			t.Error("another user's passkey answers the options of this login")
		}
		p := b.submitOn(form, "/login/mfa", url.Values{"mfa_token": {token}, "credential": {`{"id":"AAAA","type":"public-key"}`}})
		wantPage(t, p, http.StatusBadRequest, "<h1>Two-step verification</h1>", "<li>That passkey was not accepted", `id="passkey-step"`,
			mfaTokenRE.FindString(form.body))
		p = b.submitOn(form, "/login/mfa", url.Values{"mfa_token": {token}, "credential": {"nope"}})
		wantPage(t, p, http.StatusUnprocessableEntity, "<h1>Two-step verification</h1>", "<li>That passkey was not accepted")
		checkAccessible(t, p)
		assertion, err := laptop.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		p = b.submitOn(form, "/login/mfa", url.Values{"mfa_token": {token}, "credential": {string(assertion)}, "next": {"/account?tab=x"}})
		wantRedirect(t, p, "/account?tab=x")
		wantPage(t, b.get("/account"), http.StatusOK, `<dd id="account-email">eve@example.com</dd>`)
		// The token completed its login.
		wantPage(t, b.submitOn(form, "/login/mfa", url.Values{"mfa_token": {token}, "credential": {string(assertion)}}),
			http.StatusBadRequest, "<h1>Log in</h1>", "This login has expired. Log in again.")
	})

	t.Run("no passkey", func(t *testing.T) {
		// A user with an app only is told to use a code.
		s.register("fay@example.com")
		b := s.browser()
		b.login("fay@example.com")
		enrol(t, s, b)
		other := s.browser()
		form := passwordStep(t, other, url.Values{"email": {"fay@example.com"}, "password": {pw}})
		status, _, body := other.script(form, "/login/mfa/passkey", url.Values{"mfa_token": {mfaTokenRE.FindStringSubmatch(form.body)[1]}})
		wantScriptError(t, status, body, http.StatusBadRequest, "This account has no passkey. Use a code instead.")
	})

	t.Run("logged out", func(t *testing.T) {
		other := s.browser()
		login := other.get("/login")
		status, _, body := other.script(login, "/account/mfa/passkeys/begin", url.Values{})
		wantScriptError(t, status, body, http.StatusUnauthorized, "Your session has ended. Log in again.")
	})
}

// TestPasskeysOff checks that a site whose API has no passkeys loads no
// script and shows no passkey form.
func TestPasskeysOff(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{sessions: true})
	s.register("gus@example.com")
	b := s.browser()
	for _, path := range []string{"/login", "/login/mfa?mfa_token=ghm_x", "/login/mfa?mfa_token=ghm_x&setup=1"} {
		p := b.get(path)
		wantPage(t, p, http.StatusOK, "<h1>")
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, "data-passkey") {
			t.Errorf("%s offers passkeys, which the API does not have", path)
		}
	}
	b.login("gus@example.com")
	if p := b.get("/account"); strings.Contains(p.body, "<script") || strings.Contains(p.body, "data-passkey") {
		t.Error("the account page offers passkeys, which the API does not have")
	}
	js := b.get("/pages/passkey.js")
	if js.status != http.StatusOK || js.header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(js.body, "navigator.credentials") || js.header.Get("ETag") == "" {
		t.Errorf("GET /pages/passkey.js: %d %q", js.status, js.header.Get("Content-Type"))
	}
	checkHeaders(t, js.header)
	if strings.Contains(js.body, "eval(") || strings.Contains(js.body, "innerHTML") || strings.Contains(js.body, "new Function") {
		t.Error("the script evaluates strings or writes HTML")
	}
}
