package cli_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/tcpproxy"
	"github.com/gatehouse/gatehouse/redis/redistest"
)

// store is the state of a store in a phase of TestFaults.
type store int

const (
	storeUp       store = iota
	storeDown           // its proxy is stopped: live connections cut, new ones refused
	storeSettling       // its proxy is back, but connections broken by the cut may still fail
)

// faultPhase is a phase of TestFaults. Each is entered while the load
// runs. A clock ticks before and after the proxies are cut or restored:
// phase k is tick 2k, the change from phase k to k+1 is tick 2k+1. A
// request that starts and ends on one even tick met that phase's stores
// only; one that saw an odd tick may have met either phase's.
type faultPhase struct {
	name      string
	redis, db store
}

var faultPhases = []faultPhase{
	{"up", storeUp, storeUp},
	{"redis down", storeDown, storeUp},
	{"redis back", storeSettling, storeUp},
	{"database down", storeUp, storeDown},
	{"both down", storeDown, storeDown},
	{"both back", storeSettling, storeSettling},
	{"recovered", storeUp, storeUp},
}

// What the load does. Every request needs the database (the user), and
// each but registration needs Redis too (sessions, JWT revocations, the
// redis strategy's tokens).
const (
	opRegister = "register"
	opLogin    = "login"
	opMe       = "GET /users/me"
	opRevoked  = "GET /users/me revoked"
)

// allowedStatuses lists the statuses op may answer in phase p. With a
// store down, a request that needs it gets 503: never a 200 for a token
// that could not be checked, never a 401 for a good token (its client
// would throw it away), never a 500. A registration needs only the database: its 201
// means the user is stored, its 503 while the database is down means it is
// not. A revoked token may get 401 during an outage when a reachable store
// already tells it is dead. While a store settles, either answer is right.
func allowedStatuses(op string, p faultPhase) []int {
	worst := storeUp
	switch {
	case p.redis == storeDown || p.db == storeDown:
		worst = storeDown
	case p.redis == storeSettling || p.db == storeSettling:
		worst = storeSettling
	}
	switch op {
	case opRegister:
		return map[store][]int{storeUp: {201}, storeDown: {503}, storeSettling: {201, 503}}[p.db]
	case opRevoked:
		return map[store][]int{storeUp: {401}, storeDown: {401, 503}, storeSettling: {401, 503}}[worst]
	}
	return map[store][]int{storeUp: {200}, storeDown: {503}, storeSettling: {200, 503}}[worst]
}

// loadRecord is one request of the load.
type loadRecord struct {
	op, what string // what: the backend or e-mail
	from, to int    // the ticks at its start and at its end
	reply    reply
}

// phases returns the phases r may have met.
func (r loadRecord) phases() []faultPhase { return faultPhases[r.from/2 : (r.to+1)/2+1] }

// allowed lists the statuses r may answer.
func (r loadRecord) allowed() []int {
	var want []int
	for _, p := range r.phases() {
		want = append(want, allowedStatuses(r.op, p)...)
	}
	return want
}

// ok reports whether r answered a status allowed in a phase it met.
func (r loadRecord) ok() bool {
	return r.reply.err == nil && slices.Contains(r.allowed(), r.reply.status)
}

// faultBackends are the token kinds of the load: a JWT (revocations and
// sessions in Redis), an opaque token in the database and one in Redis.
var faultBackends = []string{"jwt", "db", "r"}

// TestFaults runs a load of registrations, logins and authenticated
// requests with every token kind while the test cuts Redis, then the
// database, then both, through TCP proxies, and restores them (security
// checklist 56: store failures fail closed). Every answer must be allowed
// in its phase, /readyz names the store that is down, and after recovery
// every user that got 201 exists and logs in, and every token kind works.
func TestFaults(t *testing.T) {
	t.Parallel()
	pgBase, redisBase := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL"), os.Getenv("GATEHOUSE_TEST_REDIS_URL")
	if pgBase == "" || redisBase == "" {
		t.Skip("set GATEHOUSE_TEST_POSTGRES_URL=postgres://... and GATEHOUSE_TEST_REDIS_URL=redis://... to run the fault tests")
	}
	const (
		workers = 8
		rounds  = 3 // iterations per worker wholly inside each phase
	)

	directDB := freshPostgres(t)
	pgURL, err := url.Parse(directDB)
	if err != nil {
		t.Fatal(err)
	}
	pgProxy := tcpproxy.New(t, pgURL.Host)
	pgURL.Host = pgProxy.Addr()
	redisURL, err := url.Parse(redisBase)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS_URL: %v", err)
	}
	redisProxy := tcpproxy.New(t, redisURL.Host)
	redisURL.Host = redisProxy.Addr()
	rdb := redistest.NewAt(t, redisBase) // the prefix; its keys are deleted directly, whatever the proxy's state

	e := env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_REDIS_URL": redisURL.String(), "GATEHOUSE_REDIS_PREFIX": rdb.Prefix}
	s := startServer(t, e, "--database-url", pgURL.String(), "--backends", "jwt=bearer+jwt,db=bearer+database,r=bearer+redis",
		"--rate-limit", "off")
	createUser(t, e, directDB, "--email", "root@example.com", "--superuser")
	root := loginBearer(t, s.URL, "jwt", "root@example.com", testPassword)

	// Each worker has a user with a live and a revoked token of each kind.
	type identity struct {
		email          string
		tokens, logged map[string]string
	}
	ids := make([]identity, workers)
	for w := range ids {
		id := identity{email: fmt.Sprintf("worker-%d@example.com", w), tokens: map[string]string{}, logged: map[string]string{}}
		register(t, s.URL, id.email, testPassword)
		for _, b := range faultBackends {
			id.tokens[b] = loginBearer(t, s.URL, b, id.email, testPassword)
			id.logged[b] = loginBearer(t, s.URL, b, id.email, testPassword)
			if resp, body := send(t, "POST", s.URL+"/auth/"+b+"/logout", nil, bearerHeader(id.logged[b])); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("logout at %s: %d %s", b, resp.StatusCode, body)
			}
		}
		ids[w] = id
	}

	c := newClient(t)
	var tick atomic.Int32
	progress := make(chan int, workers) // the phase of an iteration that stayed in it
	quit := make(chan struct{})
	records := make([][]loadRecord, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			id := ids[w]
			add := func(op, what string, f func() reply) reply {
				from := int(tick.Load())
				r := f()
				records[w] = append(records[w], loadRecord{op: op, what: what, from: from, to: int(tick.Load()), reply: r})
				return r
			}
			me := func(op, what, token string) {
				add(op, what, func() reply { return fetch(c, "GET", s.URL+"/users/me", nil, bearerHeader(token)) })
			}
			for i := 0; ; i++ {
				select {
				case <-quit:
					return
				default:
				}
				start := int(tick.Load())
				email := fmt.Sprintf("load-%d-%d@example.com", w, i)
				add(opRegister, email, func() reply {
					return fetch(c, "POST", s.URL+"/auth/register", jsonBody(map[string]string{"email": email, "password": testPassword}), nil)
				})
				b := faultBackends[i%len(faultBackends)]
				form := url.Values{"username": {id.email}, "password": {testPassword}}.Encode()
				r := add(opLogin, b, func() reply {
					return fetch(c, "POST", s.URL+"/auth/"+b+"/login", []byte(form),
						http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
				})
				var fresh pair
				if r.status == http.StatusOK && json.Unmarshal(r.body, &fresh) == nil && fresh.AccessToken != "" {
					me(opMe, "fresh "+b, fresh.AccessToken)
				}
				for _, b := range faultBackends {
					me(opMe, b, id.tokens[b])
					me(opRevoked, b, id.logged[b])
				}
				if start%2 == 0 && int(tick.Load()) == start {
					select {
					case progress <- start / 2:
					case <-quit:
						return
					}
				}
			}
		})
	}

	// The controller: set the stores of each phase, check /readyz, and
	// wait for rounds clean iterations of every worker before the next.
	deadline := time.After(25 * time.Second)
	clean := make([]int, len(faultPhases))
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(quit)
			wg.Wait()
		}
	}
	defer stop()
	for i, p := range faultPhases {
		if i > 0 {
			tick.Store(int32(2*i - 1))
		}
		for _, x := range []struct {
			proxy *tcpproxy.Proxy
			state store
		}{{redisProxy, p.redis}, {pgProxy, p.db}} {
			if x.state == storeDown {
				x.proxy.Stop()
			} else {
				x.proxy.Start()
			}
		}
		// The instance answers from memory what the stores told it while
		// its change feeds are up; a cut store's feed is noticed within a
		// few heartbeats, and the phase begins when it has been (requests
		// before then belong to the transition, where either answer is
		// allowed, as they would be mid-request).
		for feed, state := range map[string]store{"redis": p.redis, "database": p.db} {
			want := map[store]float64{storeUp: 1, storeDown: 0}[state]
			for cacheUp(t, s.URL, feed) != want {
				select {
				case <-deadline:
					stop()
					t.Fatalf("%s: gatehouse_cache_up{feed=%q} is not %v within the test's 25s", p.name, feed, want)
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		tick.Store(int32(2 * i))
		if p.redis == storeDown || p.db == storeDown {
			want := map[store]string{storeUp: "ok", storeDown: "unavailable"}
			status, checks := readyz(t, s.URL)
			if status != http.StatusServiceUnavailable || checks["redis"] != want[p.redis] || checks["database"] != want[p.db] {
				t.Errorf("%s: GET /readyz: %d %v, want 503 with redis %s, database %s", p.name, status, checks, want[p.redis], want[p.db])
			}
		} else {
			// The clients reconnect by themselves (go-redis retries a
			// refused dial once a second): wait for it.
			for {
				status, checks := readyz(t, s.URL)
				if status == http.StatusOK && checks["database"] == "ok" && checks["redis"] == "ok" {
					break
				}
				if p.redis == storeUp && p.db == storeUp {
					t.Fatalf("%s: GET /readyz: %d %v, want 200", p.name, status, checks)
				}
				select {
				case <-deadline:
					stop()
					t.Fatalf("%s: GET /readyz: %d %v, want 200 within the test's 25s", p.name, status, checks)
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		for clean[i] < workers*rounds {
			select {
			case q := <-progress:
				clean[q]++
			case <-deadline:
				stop()
				t.Fatalf("%s: %d of %d iterations after 25s", p.name, clean[i], workers*rounds)
			}
		}
	}
	stop()

	// Every answer was allowed in its phase.
	created := map[string]bool{}
	var refused []string // registrations refused with the database wholly down
	counts := map[string]int{}
	for _, recs := range records {
		for _, r := range recs {
			met := r.phases()
			when := met[0].name
			if len(met) > 1 {
				when = met[0].name + " to " + met[len(met)-1].name
			}
			counts[fmt.Sprintf("%s in %s: %s", r.op, when, r.reply.outcome())]++
			if !r.ok() {
				t.Errorf("%s %s in %s: %s; want one of %v", r.op, r.what, when, r.reply, r.allowed())
			}
			if r.op != opRegister {
				continue
			}
			switch {
			case r.reply.status == http.StatusCreated:
				created[r.what] = true
			case len(met) == 1 && met[0].db == storeDown:
				refused = append(refused, r.what)
			}
		}
	}
	if testing.Verbose() {
		for _, k := range slices.Sorted(maps.Keys(counts)) {
			t.Logf("%4d × %s", counts[k], k)
		}
	}
	if len(created) == 0 || len(refused) == 0 {
		t.Errorf("%d registrations got 201 and %d got 503 during the database outage; the load missed a phase", len(created), len(refused))
	}

	// Nothing acknowledged was lost, and nothing refused was stored.
	countUsers := func(email string) int {
		status, b := do(t, "GET", s.URL+"/users?email="+url.QueryEscape(email), nil, bearerHeader(root))
		var page struct {
			Total int `json:"total"`
		}
		if err := json.Unmarshal(b, &page); status != http.StatusOK || err != nil {
			t.Fatalf("GET /users?email=%s: %d %s", email, status, b)
		}
		return page.Total
	}
	for email := range created {
		if n := countUsers(email); n != 1 {
			t.Errorf("%s got 201 but %d users have that e-mail", email, n)
			continue
		}
		if resp, b := loginForm(t, s.URL, "jwt", email, testPassword, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s got 201 but cannot log in: %d %s", email, resp.StatusCode, b)
		}
	}
	for _, email := range refused {
		if n := countUsers(email); n != 0 {
			t.Errorf("%s got 503 with the database unreachable, yet %d users have that e-mail", email, n)
		}
	}

	// Every token kind works again: the tokens from before the outage,
	// new logins; revoked tokens stay revoked.
	for _, id := range ids {
		for _, b := range faultBackends {
			if status := meAs(t, s.URL, bearerHeader(id.tokens[b])); status != http.StatusOK {
				t.Errorf("after recovery, GET /users/me with %s's %s token from before the outage: %d, want 200", id.email, b, status)
			}
			if status := meAs(t, s.URL, bearerHeader(id.logged[b])); status != http.StatusUnauthorized {
				t.Errorf("after recovery, GET /users/me with %s's revoked %s token: %d, want 401", id.email, b, status)
			}
		}
	}
	for _, b := range faultBackends {
		p := loginPair(t, s.URL, b, ids[0].email, testPassword)
		if status := meAs(t, s.URL, bearerHeader(p.AccessToken)); status != http.StatusOK {
			t.Errorf("after recovery, GET /users/me with a new %s token: %d, want 200", b, status)
		}
		if status, body, _ := refresh(t, s.URL, b, p.RefreshToken); status != http.StatusOK {
			t.Errorf("after recovery, refresh at %s: %d %s, want 200", b, status, body)
		}
	}
}

// cacheUp reads gatehouse_cache_up for a change feed from /metrics: whether
// the server answers from memory what that feed's stores said.
func cacheUp(t *testing.T, base, feed string) float64 {
	t.Helper()
	resp, b := send(t, "GET", base+"/metrics", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	prefix := `gatehouse_cache_up{feed="` + feed + `"} `
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("GET /metrics: %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("GET /metrics lacks %s", prefix)
	return 0
}
