package cli_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestServeThrottlesAndAudits checks the server's wiring of the limiter,
// the trusted proxies and the audit log: password guessing ends in 429
// with Retry-After, X-Forwarded-For from an untrusted peer changes nothing,
// and a superuser reads the attempts at GET /audit.
func TestServeThrottlesAndAudits(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	e := env{"GATEHOUSE_SECRET": testSecret}
	createUser(t, e, dbURL, "--email", "root@example.com", "--superuser", "--verified")
	s := startServer(t, e, "--database-url", dbURL)
	register(t, s.URL, "victim@example.com", testPassword)

	guess := func(i int) (int, http.Header, []byte) {
		form := url.Values{"username": {"victim@example.com"}, "password": {"wrong-guess-" + strconv.Itoa(i)}}
		req, _ := http.NewRequest("POST", s.URL+"/auth/jwt/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// A client cannot pick the address it is counted under: the
		// peer is not a trusted proxy.
		req.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i%250))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b json.RawMessage
		json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, resp.Header, b
	}
	throttled := -1
	for i := range 50 {
		status, h, b := guess(i)
		if status == http.StatusBadRequest {
			continue
		}
		if status != http.StatusTooManyRequests || string(b) != `{"detail":"TOO_MANY_REQUESTS"}` {
			t.Fatalf("guess %d: %d %s, want 400 or 429 TOO_MANY_REQUESTS", i, status, b)
		}
		if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 {
			t.Fatalf("guess %d: Retry-After %q, want whole seconds", i, h.Get("Retry-After"))
		}
		throttled = i
		break
	}
	// The (account, address) rule allows a burst of 10 failures.
	if throttled != 10 {
		t.Fatalf("first 429 at guess %d, want 10 (after the burst of the account+address rule)", throttled)
	}

	root := login(t, s.URL, "root@example.com", testPassword)
	status, b := do(t, "GET", s.URL+"/audit?event=login.failed&limit=100", nil, http.Header{"Authorization": {"Bearer " + root}})
	if status != http.StatusOK {
		t.Fatalf("GET /audit: %d %s", status, b)
	}
	var page struct {
		Items []struct {
			Event   string `json:"event"`
			IP      string `json:"ip"`
			Outcome string `json:"outcome"`
			Detail  string `json:"detail"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	failures, denied := 0, 0
	for _, it := range page.Items {
		if it.IP != "127.0.0.1" {
			t.Errorf("audit event with IP %q, want the peer 127.0.0.1", it.IP)
		}
		switch it.Detail {
		case "LOGIN_BAD_CREDENTIALS":
			failures++
		case "TOO_MANY_REQUESTS":
			denied++
		}
	}
	if failures != 10 || denied != 1 || page.Total != 11 {
		t.Errorf("audit: %d bad-credential and %d throttled events of %d, want 10, 1 and 11\n%s", failures, denied, page.Total, b)
	}
	if strings.Contains(string(b), "wrong-guess") {
		t.Error("the audit log holds a guessed password")
	}

	// Ordinary users may not read it. (Not the victim: from this address
	// its account is throttled now, right password or not.)
	register(t, s.URL, "bystander@example.com", testPassword)
	user := login(t, s.URL, "bystander@example.com", testPassword)
	if status, b := do(t, "GET", s.URL+"/audit", nil, http.Header{"Authorization": {"Bearer " + user}}); status != http.StatusForbidden {
		t.Errorf("GET /audit as a user: %d %s, want 403", status, b)
	}
}

// TestServeRateLimitOff checks that --rate-limit off lets every guess
// through to the password check.
func TestServeRateLimitOff(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret}, "--database-url", dbURL, "--rate-limit", "off")
	register(t, s.URL, "ann@example.com", testPassword)
	for i := range 30 {
		form := url.Values{"username": {"ann@example.com"}, "password": {"nope-" + strconv.Itoa(i)}}
		status, b := do(t, "POST", s.URL+"/auth/jwt/login", strings.NewReader(form.Encode()),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		if status != http.StatusBadRequest {
			t.Fatalf("guess %d with limits off: %d %s, want 400", i, status, b)
		}
	}
	login(t, s.URL, "ann@example.com", testPassword)
}
