package pages_test

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/totp"
)

// clock is a settable clock for the second factors.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// next moves the clock to the next 30 s step, whose code is unused.
func (c *clock) next() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(30 * time.Second)
}

// testSeal stands in for the server's sealing of TOTP secrets:
// reversible, and visibly not the secret.
func testSeal(plain []byte) ([]byte, error) {
	out := []byte("sealed:")
	for i := len(plain) - 1; i >= 0; i-- {
		out = append(out, plain[i])
	}
	return out, nil
}

// testOpen is testSeal's inverse.
func testOpen(sealed []byte) ([]byte, error) {
	body, ok := bytes.CutPrefix(sealed, []byte("sealed:"))
	if !ok {
		return nil, errors.New("not sealed by testSeal")
	}
	out := make([]byte, len(body))
	for i, b := range body {
		out[len(body)-1-i] = b
	}
	return out, nil
}

var (
	secretRE   = regexp.MustCompile(`<input type="hidden" name="secret" value="([A-Z2-7]+)">`)
	uriRE      = regexp.MustCompile(`<input type="hidden" name="otpauth_uri" value="([^"]+)">`)
	groupsRE   = regexp.MustCompile(`<input id="totp-secret" class="key" type="text" readonly value="([^"]+)"`)
	codesRE    = regexp.MustCompile(`<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>`)
	mfaTokenRE = regexp.MustCompile(`<input type="hidden" name="mfa_token" value="(ghm_[^"]+)">`)
)

// sameOrigin are the headers of a browser's form post to its own site.
func (b *browser) sameOrigin() http.Header {
	return http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {b.s.URL}}
}

// submitOn fills in a form of the page p, as a browser would: with the
// page's CSRF token, posted to action.
func (b *browser) submitOn(p page, action string, form url.Values) page {
	b.s.t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		b.s.t.Fatalf("no CSRF token on the page of the form to %s\n%s", action, p.body)
	}
	form.Set("csrf_token", m[1])
	return b.post(action, form, b.sameOrigin())
}

// checkAccessible checks what TestPagesRender checks of every page: a
// label for each input, no script or inline style, a CSRF token in forms.
func checkAccessible(t *testing.T, p page) {
	t.Helper()
	for _, m := range inputID.FindAllStringSubmatch(p.body, -1) {
		if !strings.Contains(p.body, `<label for="`+m[1]+`">`) {
			t.Errorf("input %q has no label", m[1])
		}
	}
	if m := inline(p.body); m != "" {
		t.Errorf("page has a script or inline style %q", m)
	}
	if n := strings.Count(p.body, "<form"); n != strings.Count(p.body, `<input type="hidden" name="csrf_token" value="`) {
		t.Errorf("%d forms, not each with a CSRF token", n)
	}
	checkPageHeaders(t, p)
}

// wrongCode returns six digits that are none of the codes the app could
// show around now.
func wrongCode(secret []byte, now time.Time) string {
	step := totp.Step(now)
	valid := []string{totp.Code(secret, step-1), totp.Code(secret, step), totp.Code(secret, step+1)}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !slices.Contains(valid, c) {
			return c
		}
	}
	panic("unreachable")
}

// setCookies returns the Set-Cookie lines of an answer, joined.
func setCookies(p page) string { return strings.Join(p.header.Values("Set-Cookie"), "\n") }

// enrol turns an authenticator app on through the account page of a
// logged-in browser, and returns its secret and recovery codes.
func enrol(t *testing.T, s *site, b *browser) ([]byte, []string) {
	t.Helper()
	account := b.get("/account")
	wantPage(t, account, http.StatusOK, `<h2 id="mfa-title">Two-step verification</h2>`,
		"Two-step verification is <strong>off</strong>", `action="/account/mfa/totp"`, "Turn on two-step verification")

	setup := b.submitOn(account, "/account/mfa/totp", url.Values{})
	wantPage(t, setup, http.StatusOK, "Add this account to your authenticator app", "or add this key by hand",
		`action="/account/mfa/totp/confirm"`, `<label for="totp-code">`, `autocomplete="one-time-code"`, `id="totp-setup"`)
	checkAccessible(t, setup)
	m := secretRE.FindStringSubmatch(setup.body)
	if m == nil {
		t.Fatalf("no secret on the setup page\n%s", setup.body)
	}
	encoded := m[1]
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(encoded)
	if err != nil {
		t.Fatalf("secret %q: %v", encoded, err)
	}
	// The key to type is the secret in groups of four.
	g := groupsRE.FindStringSubmatch(setup.body)
	if g == nil {
		t.Fatal("no key to type on the setup page")
	}
	groups := strings.Split(g[1], " ")
	for i, grp := range groups {
		if len(grp) != 4 && !(i == len(groups)-1 && len(grp) > 0 && len(grp) < 4) {
			t.Errorf("key %q: group %q is not of four characters", g[1], grp)
		}
	}
	if strings.Join(groups, "") != encoded {
		t.Errorf("key %q is not the secret %q", g[1], encoded)
	}
	// The otpauth:// address, as text, carries the same secret.
	u := uriRE.FindStringSubmatch(setup.body)
	if u == nil {
		t.Fatal("no otpauth address on the setup page")
	}
	uri, err := url.Parse(html.UnescapeString(u[1]))
	if err != nil || uri.Scheme != "otpauth" || uri.Query().Get("secret") != encoded {
		t.Errorf("otpauth address %q does not carry the secret (%v)", u[1], err)
	}
	if !strings.Contains(setup.body, `<input id="totp-uri" class="key" type="text" readonly value="`+u[1]+`"`) {
		t.Error("the otpauth address is not shown")
	}
	if strings.Contains(setup.body, "<img") {
		t.Error("the setup page has an image")
	}

	// A wrong first code changes nothing, and shows the key again.
	wrong := b.submitOn(setup, "/account/mfa/totp/confirm",
		url.Values{"secret": {encoded}, "otpauth_uri": {uri.String()}, "code": {wrongCode(secret, s.clock.Now())}})
	wantPage(t, wrong, http.StatusBadRequest, `role="alert"`, `<a href="#totp-code">That code is not right, or was already used.</a>`,
		`aria-invalid="true"`, `value="`+g[1]+`"`, "Two-step verification is <strong>off</strong>")
	checkAccessible(t, wrong)
	empty := b.submitOn(setup, "/account/mfa/totp/confirm", url.Values{"secret": {encoded}, "otpauth_uri": {uri.String()}})
	wantPage(t, empty, http.StatusUnprocessableEntity, `<a href="#totp-code">Enter the 6-digit code your app shows.</a>`, `value="`+g[1]+`"`)

	// The right code turns it on; the recovery codes are shown once.
	on := b.submitOn(wrong, "/account/mfa/totp/confirm",
		url.Values{"secret": {encoded}, "otpauth_uri": {uri.String()}, "code": {totp.Code(secret, totp.Step(s.clock.Now()))}})
	wantPage(t, on, http.StatusOK, `role="status"`, "Two-step verification is on: save your recovery codes",
		"shown only this once", "Store them now somewhere safe", "Two-step verification is <strong>on</strong>",
		"You have 10 unused recovery codes.")
	checkAccessible(t, on)
	if strings.Contains(on.body, `id="totp-secret"`) {
		t.Error("the key is still shown once the app is on")
	}
	var codes []string
	for _, c := range codesRE.FindAllStringSubmatch(on.body, -1) {
		codes = append(codes, c[1])
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10\n%s", len(codes), on.body)
	}
	again := b.get("/account")
	wantPage(t, again, http.StatusOK, "Two-step verification is <strong>on</strong>", "You have 10 unused recovery codes.",
		"New recovery codes", `action="/account/mfa/recovery-codes"`, `action="/account/mfa/totp/disable"`,
		"Turn off two-step verification", `<label for="mfa-password">`)
	checkAccessible(t, again)
	if strings.Contains(again.body, codes[0]) {
		t.Error("the recovery codes are shown a second time")
	}
	return secret, codes
}

// passwordStep logs in with the password and returns the code form.
func passwordStep(t *testing.T, b *browser, form url.Values) page {
	t.Helper()
	p := b.submit("/login", form)
	wantPage(t, p, http.StatusOK, "<h1>Two-step verification</h1>",
		"Enter the code from your authenticator app, or a recovery code", `action="/login/mfa"`,
		`<label for="code">Code</label>`, `name="code" type="text" autocomplete="one-time-code"`, `aria-describedby="code-hint"`)
	checkAccessible(t, p)
	if strings.Contains(p.body, "inputmode") {
		t.Error("the code field is numeric: recovery codes hold letters")
	}
	if strings.Contains(setCookies(p), "gatehouse_auth=") {
		t.Error("the password step set the auth cookie")
	}
	if mfaTokenRE.FindStringSubmatch(p.body) == nil {
		t.Fatalf("no mfa_token on the code form\n%s", p.body)
	}
	return p
}

// secondStep posts the code form of p with code.
func secondStep(b *browser, p page, code string) page {
	b.s.t.Helper()
	form := url.Values{"mfa_token": {mfaTokenRE.FindStringSubmatch(p.body)[1]}, "code": {code}}
	if m := regexp.MustCompile(`<input type="hidden" name="next" value="([^"]+)">`).FindStringSubmatch(p.body); m != nil {
		form.Set("next", html.UnescapeString(m[1]))
	}
	return b.submitOn(p, "/login/mfa", form)
}

func TestMFA(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true, sessions: true})
	s.register("ann@example.com")
	b := s.browser()
	b.login("ann@example.com") // no second factor yet
	secret, codes := enrol(t, s, b)
	wantRedirect(t, b.submit("/logout", url.Values{}), "/login?notice=logged-out")
	wantRedirect(t, b.get("/account"), "/login?next=%2Faccount")

	// Log in: the password, then the code form, which keeps next.
	login := url.Values{"email": {"ann@example.com"}, "password": {pw}, "next": {"/account?tab=security"}}
	form := passwordStep(t, b, login)
	wantPage(t, form, http.StatusOK, `<input type="hidden" name="next" value="/account?tab=security">`)
	wantRedirect(t, b.get("/account"), "/login?next=%2Faccount")
	// A wrong code, and the code that turned the app on (spent), re-show
	// the form with the message.
	for _, code := range []string{wrongCode(secret, s.clock.Now()), totp.Code(secret, totp.Step(s.clock.Now()))} {
		p := secondStep(b, form, code)
		wantPage(t, p, http.StatusBadRequest, `role="alert"`, "<title>Error: Two-step verification – Acme</title>",
			`<a href="#code">That code is not right, or was already used.</a>`, `aria-invalid="true"`, `action="/login/mfa"`,
			mfaTokenRE.FindStringSubmatch(form.body)[0], `name="next" value="/account?tab=security"`)
		checkAccessible(t, p)
		if strings.Contains(p.body, `value="`+code+`"`) {
			t.Error("the code form shows the code back")
		}
		form = p
	}
	wantPage(t, secondStep(b, form, " "), http.StatusUnprocessableEntity,
		`<a href="#code">Enter the code from your authenticator app, or a recovery code.</a>`)
	s.clock.next()
	p := secondStep(b, form, totp.Code(secret, totp.Step(s.clock.Now())))
	wantRedirect(t, p, "/account?tab=security")
	if !strings.Contains(setCookies(p), "gatehouse_auth=") || !strings.Contains(setCookies(p), "gatehouse_auth_refresh=") {
		t.Errorf("the second step did not pass on the API's cookies: %q", setCookies(p))
	}
	wantPage(t, b.get("/account"), http.StatusOK, `<dd id="account-email">ann@example.com</dd>`)
	// The token completed its login: it cannot complete another, and the
	// login form comes back.
	p = secondStep(b, form, codes[5])
	wantPage(t, p, http.StatusBadRequest, "<h1>Log in</h1>", `<label for="email">`, "This login has expired. Log in again.")
	checkAccessible(t, p)

	t.Run("recovery code", func(t *testing.T) {
		b := s.browser()
		form := passwordStep(t, b, url.Values{"email": {"ann@example.com"}, "password": {pw}})
		// Typed loosely: capitals, a space for the hyphen.
		wantRedirect(t, secondStep(b, form, strings.ToUpper(strings.Replace(codes[0], "-", " ", 1))), "/account")
		wantPage(t, b.get("/account"), http.StatusOK, "You have 9 unused recovery codes.")
		// Used once only.
		other := s.browser()
		wantPage(t, secondStep(other, passwordStep(t, other, url.Values{"email": {"ann@example.com"}, "password": {pw}}), codes[0]),
			http.StatusBadRequest, "That code is not right, or was already used.")
	})

	t.Run("bad token", func(t *testing.T) {
		b := s.browser()
		form := passwordStep(t, b, url.Values{"email": {"ann@example.com"}, "password": {pw}})
		p := b.submitOn(form, "/login/mfa", url.Values{"mfa_token": {"ghm_not-a-token"}, "code": {"123456"}, "next": {"/somewhere"}})
		wantPage(t, p, http.StatusBadRequest, "<h1>Log in</h1>", "This login has expired. Log in again.",
			`<input type="hidden" name="next" value="/somewhere">`)
		wantPage(t, b.submitOn(form, "/login/mfa", url.Values{"code": {"123456"}}), http.StatusBadRequest,
			"<h1>Log in</h1>", "This login has expired. Log in again.")
		// Without the CSRF token, nothing reaches the API.
		wantPage(t, b.post("/login/mfa", url.Values{"mfa_token": {"ghm_x"}, "code": {"123456"}}, b.sameOrigin()),
			http.StatusForbidden, "This form has expired")
		// The form's address opened on its own leads to the login.
		wantRedirect(t, b.get("/login/mfa"), "/login")
	})

	t.Run("began elsewhere", func(t *testing.T) {
		// A provider's login (OAuth) sends the browser to the code form
		// with the mfa_token the API handed out.
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/auth/cookie/login",
			strings.NewReader(url.Values{"username": {"ann@example.com"}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			MFAToken string `json:"mfa_token"`
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || err != nil || body.MFAToken == "" {
			t.Fatalf("API login: %d, %v", res.StatusCode, err)
		}
		b := s.browser()
		form := b.get("/login/mfa?mfa_token=" + url.QueryEscape(body.MFAToken))
		wantPage(t, form, http.StatusOK, `action="/login/mfa"`)
		if m := mfaTokenRE.FindStringSubmatch(form.body); m == nil || m[1] != body.MFAToken {
			t.Fatalf("the code form does not carry the mfa_token of the address")
		}
		s.clock.next()
		wantRedirect(t, secondStep(b, form, totp.Code(secret, totp.Step(s.clock.Now()))), "/account")
	})

	t.Run("new recovery codes", func(t *testing.T) {
		account := b.get("/account")
		s.clock.next()
		p := b.submitOn(account, "/account/mfa/recovery-codes", url.Values{"code": {wrongCode(secret, s.clock.Now())}})
		wantPage(t, p, http.StatusBadRequest, `<a href="#new-codes-code">That code is not right, or was already used.</a>`,
			"Two-step verification is <strong>on</strong>")
		checkAccessible(t, p)
		wantPage(t, b.submitOn(account, "/account/mfa/recovery-codes", url.Values{"code": {""}}), http.StatusUnprocessableEntity,
			`<a href="#new-codes-code">Enter the code your authenticator app shows, or a recovery code.</a>`)
		p = b.submitOn(account, "/account/mfa/recovery-codes", url.Values{"code": {totp.Code(secret, totp.Step(s.clock.Now()))}})
		wantPage(t, p, http.StatusOK, `role="status"`, "Your new recovery codes", "Your old recovery codes no longer work.",
			"shown only this once", "You have 10 unused recovery codes.")
		checkAccessible(t, p)
		fresh := codesRE.FindAllStringSubmatch(p.body, -1)
		if len(fresh) != 10 || slices.Contains(codes, fresh[0][1]) {
			t.Fatalf("%d new codes, or an old one among them", len(fresh))
		}
		// An old code no longer logs in; a new one does.
		other := s.browser()
		wantPage(t, secondStep(other, passwordStep(t, other, url.Values{"email": {"ann@example.com"}, "password": {pw}}), codes[1]),
			http.StatusBadRequest, "That code is not right, or was already used.")
		other = s.browser()
		wantRedirect(t, secondStep(other, passwordStep(t, other, url.Values{"email": {"ann@example.com"}, "password": {pw}}), fresh[1][1]),
			"/account")
		codes = nil
		for _, c := range fresh {
			codes = append(codes, c[1])
		}
	})

	t.Run("turn off", func(t *testing.T) {
		account := b.get("/account")
		p := b.submitOn(account, "/account/mfa/totp/disable", url.Values{"password": {"not-the-password"}})
		wantPage(t, p, http.StatusBadRequest, `<a href="#mfa-password">That password is not right.</a>`,
			"Two-step verification is <strong>on</strong>")
		checkAccessible(t, p)
		wantPage(t, b.submitOn(account, "/account/mfa/totp/disable", url.Values{"password": {""}}), http.StatusUnprocessableEntity,
			`<a href="#mfa-password">Enter your password.</a>`)
		wantRedirect(t, b.submitOn(account, "/account/mfa/totp/disable", url.Values{"password": {pw}}), "/account?notice=mfa-off")
		wantPage(t, b.get("/account?notice=mfa-off"), http.StatusOK,
			`<p class="notice" role="status">Two-step verification is off. Your recovery codes no longer work.</p>`,
			"Two-step verification is <strong>off</strong>", "Turn on two-step verification")
		// The password alone logs in again.
		s.browser().login("ann@example.com")
		wantRedirect(t, b.get("/account/mfa/totp/disable"), "/account")
	})
}

// TestMFAPendingLogin checks a second step whose app was turned off
// meanwhile: the login form comes back, and the password alone works.
func TestMFAPendingLogin(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{mfa: true})
	s.register("bea@example.com")
	b := s.browser()
	b.login("bea@example.com")
	secret, _ := enrol(t, s, b)
	other := s.browser()
	form := passwordStep(t, other, url.Values{"email": {"bea@example.com"}, "password": {pw}})
	wantRedirect(t, b.submitOn(b.get("/account"), "/account/mfa/totp/disable", url.Values{"password": {pw}}), "/account?notice=mfa-off")
	s.clock.next()
	p := secondStep(other, form, totp.Code(secret, totp.Step(s.clock.Now())))
	wantPage(t, p, http.StatusBadRequest, "<h1>Log in</h1>", "Two-step verification is not turned on for this account. Log in again.")
	other.login("bea@example.com")

	// Turning on twice: the second setup's confirm finds it on already.
	enrol(t, s, b)
	p = b.submitOn(b.get("/account"), "/account/mfa/totp/confirm",
		url.Values{"secret": {"AAAAAAAAAAAAAAAA"}, "otpauth_uri": {"otpauth://totp/x?secret=AAAAAAAAAAAAAAAA"}, "code": {"123456"}})
	wantPage(t, p, http.StatusBadRequest, "Two-step verification is already on for this account.",
		"Two-step verification is <strong>on</strong>")
	if strings.Contains(p.body, `id="totp-secret"`) {
		t.Error("a setup is shown though the app is on")
	}
}

// TestMFAOff checks that an API without second factors (GET
// /users/me/mfa answers 404) hides the section.
func TestMFAOff(t *testing.T) {
	t.Parallel()
	s := newSite(t, options{sessions: true})
	s.register("ann@example.com")
	b := s.browser()
	b.login("ann@example.com")
	if res := b.get("/users/me/mfa"); res.status != http.StatusNotFound {
		t.Fatalf("GET /users/me/mfa without MFA: %d, want 404", res.status)
	}
	account := b.get("/account")
	wantPage(t, account, http.StatusOK, `<dd id="account-email">ann@example.com</dd>`, "Where you are logged in")
	for _, absent := range []string{`id="mfa-title"`, "/account/mfa/", "recovery code"} {
		if strings.Contains(account.body, absent) {
			t.Errorf("the page shows %q though the API has no second factors", absent)
		}
	}
	// A form posted all the same reaches a missing API route.
	p := b.submitOn(account, "/account/mfa/totp", url.Values{})
	wantPage(t, p, http.StatusNotFound, `role="alert"`, "Two-step verification is not available on this site.")
	if strings.Contains(p.body, `id="mfa-title"`) {
		t.Error("the section shows after a failed form")
	}
	wantRedirect(t, b.get("/account/mfa/totp"), "/account")
}
