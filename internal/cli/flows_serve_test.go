package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/webhook"
)

// postJSON posts v as JSON with the given Host header ("" for the URL's)
// and returns the status and body.
func postJSON(t *testing.T, u string, v any, host string) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// mails returns the .eml files in dir, oldest first.
func mails(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	for _, n := range names {
		if !strings.HasPrefix(filepath.Base(n), ".") { // a file still being written
			done = append(done, n)
		}
	}
	slices.Sort(done)
	return done
}

// waitMail waits until dir holds n mails (they are sent off the request
// path) and returns the n-th.
func waitMail(t *testing.T, dir string, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := mails(t, dir); len(m) >= n {
			return m[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail %d did not arrive in %s within 10s", n, dir)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parsedMail is a mail read back from an .eml file.
type parsedMail struct {
	Header     mail.Header
	Text, HTML string
}

// readMail parses an .eml file: RFC 5322 headers, a multipart/alternative
// body with a text and an HTML part (quoted-printable is decoded by
// mime/multipart).
func readMail(t *testing.T, path string) parsedMail {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600: it holds a token", filepath.Base(path), fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	m := parsedMail{Header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch pt {
		case "text/plain":
			m.Text = string(b)
		case "text/html":
			m.HTML = string(b)
		default:
			t.Errorf("unexpected part %q", pt)
		}
	}
	if m.Text == "" || m.HTML == "" {
		t.Fatalf("mail lacks a part: text %q, html %q", m.Text, m.HTML)
	}
	return m
}

var linkRE = regexp.MustCompile(`https?://\S+\?token=[A-Za-z0-9._~%+-]+`)

// tokenFrom returns the token of the link in the text part, which must
// start with want (PUBLIC_URL/verify or PUBLIC_URL/reset-password).
func tokenFrom(t *testing.T, m parsedMail, want string) string {
	t.Helper()
	link := linkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no link in the text part:\n%s", m.Text)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != want {
		t.Fatalf("link %s, want %s?token=...", got, want)
	}
	token := u.Query().Get("token")
	if token == "" {
		t.Fatalf("link %s has no token", link)
	}
	if !strings.Contains(m.HTML, want+"?token=") {
		t.Errorf("the HTML part lacks the link %s?token=...", want)
	}
	return token
}

func detail(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	var code string
	if json.Unmarshal(e.Detail, &code) == nil {
		return code
	}
	var obj struct{ Code, Reason string }
	json.Unmarshal(e.Detail, &obj)
	return obj.Code
}

// TestServeAccountFlows runs e-mail verification and password reset end to
// end, with mails written to a directory, through the routes and the pages
// the links open. Requests come with Host: evil.example; the links must
// still use --public-url (security checklist 85).
func TestServeAccountFlows(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	dir := filepath.Join(t.TempDir(), "mails") // created by the server
	const public = "https://auth.example.com"
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_MAIL_DIR": dir},
		"--database-url", dbURL, "--public-url", public, "--verify-token-ttl", "30m")
	const evil = "evil.example"
	register(t, s.URL, "ann@example.com", testPassword)

	// Unknown e-mails get the same answer and no mail.
	for _, route := range []string{"/auth/request-verify-token", "/auth/forgot-password"} {
		if status, b := postJSON(t, s.URL+route, map[string]string{"email": "nobody@example.com"}, evil); status != http.StatusAccepted {
			t.Fatalf("POST %s for an unknown e-mail: %d %s, want 202", route, status, b)
		}
	}

	// Verification.
	if status, b := postJSON(t, s.URL+"/auth/request-verify-token", map[string]string{"email": "ann@example.com"}, evil); status != http.StatusAccepted {
		t.Fatalf("request-verify-token: %d %s", status, b)
	}
	m := readMail(t, waitMail(t, dir, 1))
	if to := m.Header.Get("To"); !strings.Contains(to, "ann@example.com") {
		t.Errorf("To = %q", to)
	}
	if from := m.Header.Get("From"); !strings.Contains(from, "noreply@auth.example.com") {
		t.Errorf("From = %q, want the default sender at the public URL's host", from)
	}
	if !strings.Contains(m.Text, "30 minutes") {
		t.Errorf("the mail does not give the --verify-token-ttl of 30 minutes:\n%s", m.Text)
	}
	if strings.Contains(m.Text+m.HTML, evil) {
		t.Error("the mail holds the request's Host header")
	}
	token := tokenFrom(t, m, public+"/verify")

	// The page the link opens (on this server; the public URL is a
	// stand-in) puts the token in a form to post, forbids referrers and
	// runs no script.
	resp, page := send(t, "GET", s.URL+"/verify?token="+url.QueryEscape(token), nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Referrer-Policy") != "no-referrer" ||
		!strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "default-src 'none';") ||
		strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src") {
		t.Errorf("GET /verify: %d, headers %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(string(page), `<form method="post" action="/verify">`) ||
		!strings.Contains(string(page), `<input type="hidden" name="token" value="`+token+`">`) {
		t.Errorf("GET /verify: the page lacks the form posting the token to /verify:\n%s", page)
	}
	if resp, _ := send(t, "GET", s.URL+"/pages/app.css", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /pages/app.css: %d", resp.StatusCode)
	}

	status, b := postJSON(t, s.URL+"/auth/verify", map[string]string{"token": token}, evil)
	var u struct {
		Email      string `json:"email"`
		IsVerified bool   `json:"is_verified"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &u) != nil || !u.IsVerified || u.Email != "ann@example.com" {
		t.Fatalf("verify: %d %s, want 200 and a verified user", status, b)
	}
	if status, b := postJSON(t, s.URL+"/auth/verify", map[string]string{"token": token}, ""); status != http.StatusBadRequest ||
		detail(t, b) != "VERIFY_USER_ALREADY_VERIFIED" {
		t.Errorf("verify again: %d %s, want 400 VERIFY_USER_ALREADY_VERIFIED", status, b)
	}
	if status, b := postJSON(t, s.URL+"/auth/verify", map[string]string{"token": token + "x"}, ""); status != http.StatusBadRequest ||
		detail(t, b) != "VERIFY_USER_BAD_TOKEN" {
		t.Errorf("verify with a bad token: %d %s, want 400 VERIFY_USER_BAD_TOKEN", status, b)
	}

	// Password reset.
	if status, b := postJSON(t, s.URL+"/auth/forgot-password", map[string]string{"email": "ann@example.com"}, evil); status != http.StatusAccepted {
		t.Fatalf("forgot-password: %d %s", status, b)
	}
	m = readMail(t, waitMail(t, dir, 2))
	if strings.Contains(m.Text+m.HTML, evil) {
		t.Error("the mail holds the request's Host header")
	}
	token = tokenFrom(t, m, public+"/reset-password")
	resp, page = send(t, "GET", s.URL+"/reset-password?token="+url.QueryEscape(token), nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /reset-password: %d, headers %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(string(page), `<input type="hidden" name="token" value="`+token+`">`) || !strings.Contains(string(page), `name="password"`) {
		t.Errorf("GET /reset-password: the page lacks the token's hidden field or the password field")
	}

	if status, b := postJSON(t, s.URL+"/auth/reset-password", map[string]string{"token": token, "password": "short"}, ""); status != http.StatusBadRequest ||
		detail(t, b) != "RESET_PASSWORD_INVALID_PASSWORD" {
		t.Errorf("reset with a short password: %d %s, want 400 RESET_PASSWORD_INVALID_PASSWORD", status, b)
	}
	// Asking for a reset changes nothing yet (checklist 86).
	login(t, s.URL, "ann@example.com", testPassword)

	const newPassword = "a-brand-new-passphrase"
	if status, b := postJSON(t, s.URL+"/auth/reset-password", map[string]string{"token": token, "password": newPassword}, evil); status != http.StatusOK {
		t.Fatalf("reset-password: %d %s", status, b)
	}
	login(t, s.URL, "ann@example.com", newPassword)
	form := url.Values{"username": {"ann@example.com"}, "password": {testPassword}}
	if status, b := do(t, "POST", s.URL+"/auth/jwt/login", strings.NewReader(form.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); status != http.StatusBadRequest {
		t.Errorf("login with the old password: %d %s, want 400", status, b)
	}
	if status, b := postJSON(t, s.URL+"/auth/reset-password", map[string]string{"token": token, "password": "yet-another-passphrase"}, ""); status != http.StatusBadRequest ||
		detail(t, b) != "RESET_PASSWORD_BAD_TOKEN" {
		t.Errorf("reusing the reset token: %d %s, want 400 RESET_PASSWORD_BAD_TOKEN", status, b)
	}

	// Shutdown delivers what is queued; there were exactly two mails.
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if n := len(mails(t, dir)); n != 2 {
		t.Errorf("%d mails, want 2 (none for unknown e-mails)", n)
	}
	if log := s.Log.String(); strings.Contains(log, token) {
		t.Error("the log holds a reset token")
	}
}

// TestServePublicURLPath checks that with a public URL that has a path (a
// reverse proxy mounting the server there), the links and the pages' forms
// go under that path.
func TestServePublicURLPath(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	dir := t.TempDir()
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_MAIL_DIR": dir, "GATEHOUSE_PUBLIC_URL": "https://example.com/gatehouse/"},
		"--database-url", dbURL)
	register(t, s.URL, "bea@example.com", testPassword)
	if status, b := postJSON(t, s.URL+"/auth/forgot-password", map[string]string{"email": "bea@example.com"}, ""); status != http.StatusAccepted {
		t.Fatalf("forgot-password: %d %s", status, b)
	}
	tokenFrom(t, readMail(t, waitMail(t, dir, 1)), "https://example.com/gatehouse/reset-password")
	_, page := send(t, "GET", s.URL+"/reset-password", nil, nil)
	if !strings.Contains(string(page), `href="/gatehouse/forgot-password"`) ||
		!strings.Contains(string(page), `href="/gatehouse/pages/app.css"`) {
		t.Errorf("the page does not link under the public URL's path:\n%s", page)
	}
}

// TestServeMailLog checks that without mail settings the mails are only
// logged, without their body and its token.
func TestServeMailLog(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL)
	register(t, s.URL, "cid@example.com", testPassword)
	if status, b := postJSON(t, s.URL+"/auth/forgot-password", map[string]string{"email": "cid@example.com"}, ""); status != http.StatusAccepted {
		t.Fatalf("forgot-password: %d %s", status, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Log.String(), "cid@example.com") {
		if time.Now().After(deadline) {
			t.Fatalf("the mail was not logged within 10s:\n%s", s.Log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if log := s.Log.String(); strings.Contains(log, "token=") || strings.Contains(log, "/reset-password") {
		t.Errorf("the log holds the link:\n%s", log)
	}
}

// TestServeWebhook checks that account events reach the webhook, signed
// with the configured secret.
func TestServeWebhook(t *testing.T) {
	t.Parallel()
	secret := []byte("a webhook secret of at least 32 bytes!")
	type delivery struct {
		header http.Header
		body   []byte
		err    error
	}
	got := make(chan delivery, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		err := webhook.Verify(secret, r.Header.Get("X-Gatehouse-Timestamp"), r.Header.Get("X-Gatehouse-Signature"), b, time.Now(), time.Minute)
		got <- delivery{r.Header.Clone(), b, err}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_WEBHOOK_SECRET": string(secret)},
		"--database-url", dbURL, "--webhook-url", receiver.URL+"/hooks/gatehouse")
	register(t, s.URL, "dan@example.com", testPassword)

	select {
	case d := <-got:
		if d.err != nil {
			t.Errorf("webhook.Verify: %v", d.err)
		}
		if wrong := webhook.Verify([]byte("another secret of at least 32 bytes!!"), d.header.Get("X-Gatehouse-Timestamp"),
			d.header.Get("X-Gatehouse-Signature"), d.body, time.Now(), time.Minute); wrong == nil {
			t.Error("the delivery verifies under another secret")
		}
		if ev := d.header.Get("X-Gatehouse-Event"); ev != "user.registered" {
			t.Errorf("X-Gatehouse-Event = %q, want user.registered", ev)
		}
		var p struct {
			Event string `json:"event"`
			User  struct {
				Email string `json:"email"`
			} `json:"user"`
		}
		if err := json.Unmarshal(d.body, &p); err != nil || p.Event != "user.registered" || p.User.Email != "dan@example.com" {
			t.Errorf("body %s: %v", d.body, err)
		}
		if bytes.Contains(d.body, []byte("password")) || bytes.Contains(d.body, []byte("argon2")) {
			t.Errorf("the body holds a password or hash: %s", d.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook delivery within 10s of the registration")
	}
	if strings.Contains(s.Log.String(), string(secret)) {
		t.Error("the log holds the webhook secret")
	}
}

// TestServeUserFields registers a user with custom fields of
// --user-fields and reads them back.
func TestServeUserFields(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_USER_FIELDS": "first_name:string:required,age:int,birthday:time"},
		"--database-url", dbURL)

	status, b := postJSON(t, s.URL+"/auth/register", map[string]any{"email": "eve@example.com", "password": testPassword}, "")
	if status != http.StatusUnprocessableEntity {
		t.Errorf("register without the required first_name: %d %s, want 422", status, b)
	}
	status, b = postJSON(t, s.URL+"/auth/register", map[string]any{
		"email": "eve@example.com", "password": testPassword, "first_name": "Eve", "birthday": "2000-01-02T03:04:05+01:00",
	}, "")
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, b)
	}
	status, u := me(t, s.URL, login(t, s.URL, "eve@example.com", testPassword))
	if status != http.StatusOK {
		t.Fatalf("GET /users/me: %d", status)
	}
	if u["first_name"] != "Eve" || u["birthday"] != "2000-01-02T02:04:05Z" {
		t.Errorf("GET /users/me = %v, want first_name Eve and birthday 2000-01-02T02:04:05Z", u)
	}
	if v, ok := u["age"]; !ok || v != nil {
		t.Errorf("age = %v (present: %v), want null", v, ok)
	}
}
