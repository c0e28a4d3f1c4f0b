package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/redis/redistest"
)

// racers is how many clients the concurrency tests release at once.
const racers = 16

// reply is the answer to a request sent off the test's goroutine, where
// t.Fatal may not be called: a transport error is kept, not reported.
type reply struct {
	status int
	body   []byte
	err    error
}

// outcome names a reply for counting: the status, then the error code of
// an error body ("400 REGISTER_USER_ALREADY_EXISTS"), or "error" when no
// answer came.
func (r reply) outcome() string {
	if r.err != nil {
		return "error"
	}
	if r.status < 400 {
		return fmt.Sprint(r.status)
	}
	var e struct {
		Detail json.RawMessage `json:"detail"`
	}
	json.Unmarshal(r.body, &e)
	var code string
	if json.Unmarshal(e.Detail, &code) != nil {
		var obj struct{ Code string }
		json.Unmarshal(e.Detail, &obj)
		code = obj.Code
	}
	if code == "" {
		return fmt.Sprint(r.status)
	}
	return fmt.Sprintf("%d %s", r.status, code)
}

func (r reply) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %.200s", r.status, r.body)
}

// newClient returns an HTTP client that keeps enough idle connections for
// every racer, so that the second round does not wait for new ones.
func newClient(t *testing.T) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4 * racers
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// fetch sends a request, bounded by 10 seconds, from any goroutine. A
// non-nil body is sent as JSON unless h sets another Content-Type.
func fetch(c *http.Client, method, u string, body []byte, h http.Header) reply {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return reply{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, body: b, err: err}
}

func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// together runs f(0), ..., f(n-1) on n goroutines that wait until all are
// ready and are then released at once, and returns the replies in order.
func together(n int, f func(i int) reply) []reply {
	replies := make([]reply, n)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			replies[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return replies
}

// tally counts the outcomes of replies.
func tally(replies []reply) map[string]int {
	n := map[string]int{}
	for _, r := range replies {
		n[r.outcome()]++
	}
	return n
}

// checkTally fails the test unless replies have exactly the outcomes of
// want, showing one reply of every outcome it did not want.
func checkTally(t *testing.T, what string, replies []reply, want map[string]int) {
	t.Helper()
	got := tally(replies)
	if maps.Equal(got, want) {
		return
	}
	var seen []string
	for _, r := range replies {
		if o := r.outcome(); want[o] == 0 && !slices.Contains(seen, o) {
			seen = append(seen, o)
			t.Logf("%s: a reply %s", what, r)
		}
	}
	t.Errorf("%s: outcomes %v, want %v", what, got, want)
}

// engine is a set of stores the concurrency tests run on.
type engine struct {
	name string
	// open makes fresh stores, or skips the test, and returns the server's
	// environment, database URL and backends.
	open func(t *testing.T) (env, string, string)
}

// engines are SQLite, always; PostgreSQL with GATEHOUSE_TEST_POSTGRES_URL;
// sessions, revocations and the redis strategy in Redis with
// GATEHOUSE_TEST_REDIS_URL, over either database.
var engines = []engine{
	{"sqlite", func(t *testing.T) (env, string, string) {
		dbURL, _ := sqliteURL(t)
		return env{"GATEHOUSE_SECRET": testSecret}, dbURL, "jwt=bearer+jwt,db=bearer+database"
	}},
	{"postgres", func(t *testing.T) (env, string, string) {
		return env{"GATEHOUSE_SECRET": testSecret}, freshPostgres(t), "jwt=bearer+jwt,db=bearer+database"
	}},
	{"sqlite+redis", func(t *testing.T) (env, string, string) {
		rdb := redistest.New(t)
		dbURL, _ := sqliteURL(t)
		e := env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_REDIS_URL": os.Getenv("GATEHOUSE_TEST_REDIS_URL"), "GATEHOUSE_REDIS_PREFIX": rdb.Prefix}
		return e, dbURL, "jwt=bearer+jwt,db=bearer+database,r=bearer+redis"
	}},
	{"postgres+redis", func(t *testing.T) (env, string, string) {
		rdb := redistest.New(t)
		e := env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_REDIS_URL": os.Getenv("GATEHOUSE_TEST_REDIS_URL"), "GATEHOUSE_REDIS_PREFIX": rdb.Prefix}
		return e, freshPostgres(t), "jwt=bearer+jwt,db=bearer+database,r=bearer+redis"
	}},
}

// TestConcurrency releases racers clients at once on what only one of them
// may win: registering one e-mail, redeeming one reset or verification
// token, refreshing with one refresh token without a grace window. Exactly
// one wins, the others get the contract's error, and none gets a 500.
// Within the grace window (README "Sessions and refresh tokens") every
// refresh wins, with the same successor.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			t.Parallel()
			testConcurrency(t, eng)
		})
	}
}

func testConcurrency(t *testing.T, eng engine) {
	e, dbURL, backends := eng.open(t)
	const public = "https://auth.example.com"
	dir := filepath.Join(t.TempDir(), "mails")
	withMail := maps.Clone(e)
	withMail["GATEHOUSE_MAIL_DIR"] = dir
	common := []string{"--database-url", dbURL, "--backends", backends, "--rate-limit", "off", "--public-url", public}
	// s spends refresh tokens at once; g, on the same stores, has the
	// default grace window.
	s := startServer(t, withMail, append(common, "--refresh-grace", "0")...)
	g := startServer(t, e, common...)
	createUser(t, e, dbURL, "--email", "root@example.com", "--superuser")
	root := loginBearer(t, s.URL, "jwt", "root@example.com", testPassword)
	c := newClient(t)
	sentMails := 0

	t.Run("register", func(t *testing.T) {
		// One address, spelt in two cases: e-mails are unique ignoring case.
		replies := together(racers, func(i int) reply {
			email := "Race@Example.com"
			if i%2 == 0 {
				email = "race@example.com"
			}
			return fetch(c, "POST", s.URL+"/auth/register", jsonBody(map[string]string{"email": email, "password": testPassword}), nil)
		})
		checkTally(t, "POST /auth/register", replies, map[string]int{"201": 1, "400 REGISTER_USER_ALREADY_EXISTS": racers - 1})
		status, b := do(t, "GET", s.URL+"/users?email=race@example.com", nil, bearerHeader(root))
		var page struct {
			Total int `json:"total"`
		}
		if err := json.Unmarshal(b, &page); status != http.StatusOK || err != nil || page.Total != 1 {
			t.Errorf("GET /users?email=race@example.com: %d %s, want 200 and one user", status, b)
		}
		login(t, s.URL, "RACE@example.com", testPassword)
	})

	t.Run("reset password", func(t *testing.T) {
		register(t, s.URL, "reset@example.com", testPassword)
		if status, b := postJSON(t, s.URL+"/auth/forgot-password", map[string]string{"email": "reset@example.com"}, ""); status != http.StatusAccepted {
			t.Fatalf("forgot-password: %d %s", status, b)
		}
		sentMails++
		token := tokenFrom(t, readMail(t, waitMail(t, dir, sentMails)), public+"/reset-password")
		passwords := make([]string, racers)
		for i := range passwords {
			passwords[i] = fmt.Sprintf("new-passphrase-number-%02d", i)
		}
		replies := together(racers, func(i int) reply {
			return fetch(c, "POST", s.URL+"/auth/reset-password", jsonBody(map[string]string{"token": token, "password": passwords[i]}), nil)
		})
		checkTally(t, "POST /auth/reset-password", replies, map[string]int{"200": 1, "400 RESET_PASSWORD_BAD_TOKEN": racers - 1})
		// The password is the winner's: every client told 200 was told its
		// password is set.
		var won, works []int
		for i, r := range replies {
			if r.status == http.StatusOK {
				won = append(won, i)
			}
			form := url.Values{"username": {"reset@example.com"}, "password": {passwords[i]}}
			if status, _ := do(t, "POST", s.URL+"/auth/jwt/login", strings.NewReader(form.Encode()),
				http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); status == http.StatusOK {
				works = append(works, i)
			}
		}
		if !slices.Equal(won, works) {
			t.Errorf("resets %v answered 200, the passwords of %v log in; want one and the same", won, works)
		}
		if len(won) > 1 {
			t.Errorf("one reset token redeemed %d times at once: gatehouse.Manager.ResetPassword must write the new hash "+
				"only while the stored one is still the one the token was made for (UserUpdate.IfHashedPassword)", len(won))
		}
	})

	t.Run("verify", func(t *testing.T) {
		register(t, s.URL, "verify@example.com", testPassword)
		if status, b := postJSON(t, s.URL+"/auth/request-verify-token", map[string]string{"email": "verify@example.com"}, ""); status != http.StatusAccepted {
			t.Fatalf("request-verify-token: %d %s", status, b)
		}
		sentMails++
		token := tokenFrom(t, readMail(t, waitMail(t, dir, sentMails)), public+"/verify")
		replies := together(racers, func(int) reply {
			return fetch(c, "POST", s.URL+"/auth/verify", jsonBody(map[string]string{"token": token}), nil)
		})
		// The contract: a token used again meets a verified user, which is
		// VERIFY_USER_ALREADY_VERIFIED (the token itself stays good).
		checkTally(t, "POST /auth/verify", replies, map[string]int{"200": 1, "400 VERIFY_USER_ALREADY_VERIFIED": racers - 1})
		if n := tally(replies)["200"]; n > 1 {
			t.Errorf("one verification token redeemed %d times at once, each running the AfterVerify hook: "+
				"gatehouse.Manager.Verify must set is_verified only while it is false (UserUpdate.IfVerified)", n)
		}
		if status, m := me(t, s.URL, login(t, s.URL, "verify@example.com", testPassword)); status != http.StatusOK || m["is_verified"] != true {
			t.Errorf("GET /users/me after the verification: %d %v", status, m)
		}
	})

	register(t, s.URL, "refresh@example.com", testPassword)
	for name := range strings.SplitSeq(backends, ",") {
		name, _, _ = strings.Cut(name, "=")
		refreshAll := func(base, token string) []reply {
			body := jsonBody(map[string]string{"refresh_token": token})
			return together(racers, func(int) reply {
				return fetch(c, "POST", base+"/auth/"+name+"/refresh", body, nil)
			})
		}

		// Without grace the first refresh spends the token; every other
		// is a reuse, which ends the session: the winner's pair dies too.
		t.Run("refresh without grace "+name, func(t *testing.T) {
			p := loginPair(t, s.URL, name, "refresh@example.com", testPassword)
			replies := refreshAll(s.URL, p.RefreshToken)
			checkTally(t, "POST /auth/"+name+"/refresh", replies, map[string]int{"200": 1, "401 REFRESH_TOKEN_REUSED": racers - 1})
			var won pair
			for _, r := range replies {
				if r.status == http.StatusOK {
					if err := json.Unmarshal(r.body, &won); err != nil || won.RefreshToken == "" {
						t.Fatalf("refresh: %s", r)
					}
				}
			}
			if won.RefreshToken == "" {
				return
			}
			if status, body, _ := refresh(t, s.URL, name, won.RefreshToken); status != http.StatusUnauthorized || detail(t, []byte(body)) != "REFRESH_TOKEN_INVALID" {
				t.Errorf("refresh with the winner's token: %d %s, want 401 REFRESH_TOKEN_INVALID", status, body)
			}
			for what, tok := range map[string]string{"the login's": p.AccessToken, "the winner's": won.AccessToken} {
				if status := meAs(t, s.URL, bearerHeader(tok)); status != http.StatusUnauthorized {
					t.Errorf("GET /users/me with %s access token: %d, want 401", what, status)
				}
			}
		})

		// Within the grace window every racer gets the same successor and
		// the session lives on. The spent token is a reuse again once its
		// successor is spent.
		t.Run("refresh with grace "+name, func(t *testing.T) {
			p := loginPair(t, g.URL, name, "refresh@example.com", testPassword)
			replies := refreshAll(g.URL, p.RefreshToken)
			checkTally(t, "POST /auth/"+name+"/refresh", replies, map[string]int{"200": racers})
			next := map[string]bool{}
			for _, r := range replies {
				var got pair
				if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil {
					continue
				}
				next[got.RefreshToken] = true
				if status := meAs(t, g.URL, bearerHeader(got.AccessToken)); status != http.StatusOK {
					t.Errorf("GET /users/me with a refreshed access token: %d, want 200", status)
				}
			}
			if len(next) != 1 {
				t.Fatalf("%d different refresh tokens, want one successor", len(next))
			}
			successor := slices.Collect(maps.Keys(next))[0]
			status, body, last := refresh(t, g.URL, name, successor)
			if status != http.StatusOK {
				t.Fatalf("refresh with the successor: %d %s, want 200", status, body)
			}
			if status, body, _ := refresh(t, g.URL, name, p.RefreshToken); status != http.StatusUnauthorized || detail(t, []byte(body)) != "REFRESH_TOKEN_REUSED" {
				t.Errorf("the first token after its successor was spent: %d %s, want 401 REFRESH_TOKEN_REUSED", status, body)
			}
			if status := meAs(t, g.URL, bearerHeader(last.AccessToken)); status != http.StatusUnauthorized {
				t.Errorf("GET /users/me after the reuse: %d, want 401", status)
			}
		})
	}
}
