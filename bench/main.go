// Command bench measures Gatehouse under load against a bare net/http
// handler on the same machine, in the same run.
//
//	go run ./bench                 # every scenario, a few minutes
//	go run ./bench -quick          # a smoke test: every scenario answers 2xx
//	go run ./bench -scenarios jwt,login -json
//
// It builds the server, runs it as a child process on 127.0.0.1 per
// configuration (a fresh SQLite file, or a fresh PostgreSQL database, each
// time) and drives it with wrk when installed, else with a built-in
// generator. See BENCHMARKS.md for what each scenario measures. The exit
// status is 1 if any request failed or got an answer outside 2xx.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// options are the bench's flags.
type options struct {
	quick            bool
	requests         int
	concurrency      int
	loginRequests    int
	loginConcurrency int
	ceilingHashes    int
	scenarios        string
	loadgen          string
	postgresURL      string
	redisURL         string
	json             bool
}

func main() {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	var o options
	bare := fs.Bool("bare-server", false, "internal: serve the bare baseline handler and print its address")
	fs.BoolVar(&o.quick, "quick", false, "tiny request counts: a smoke test that every scenario answers 2xx")
	fs.IntVar(&o.requests, "requests", 50000, "requests per scenario (quick: 200)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "connections, each with one request in flight")
	fs.IntVar(&o.loginRequests, "login-requests", 640, "logins in the login storm (quick: 16)")
	fs.IntVar(&o.loginConcurrency, "login-concurrency", 64, "connections of the login storm")
	fs.IntVar(&o.ceilingHashes, "ceiling-hashes", 200, "password checks measuring the hash ceiling (quick: 4)")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma list of scenario names or prefixes (default all): jwt-hs256, jwt-hs256-forward, jwt-hs256-authorize, apikey, jwt-eddsa, db-sqlite, db-postgres, redis, login")
	fs.StringVar(&o.loadgen, "loadgen", "auto", "load generator: wrk, go, or auto (wrk if installed)")
	fs.StringVar(&o.postgresURL, "postgres-url", os.Getenv("GATEHOUSE_TEST_POSTGRES_URL"), "PostgreSQL server on which to create and drop a database (default $GATEHOUSE_TEST_POSTGRES_URL); unset skips db-postgres")
	fs.StringVar(&o.redisURL, "redis-url", os.Getenv("GATEHOUSE_TEST_REDIS_URL"), "Redis for the redis scenario (default $GATEHOUSE_TEST_REDIS_URL); unset skips it")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	_ = fs.Parse(os.Args[1:])
	if *bare {
		if err := serveBare(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]*int{"requests": &o.requests, "login-requests": &o.loginRequests, "ceiling-hashes": &o.ceilingHashes} {
			if !set[name] {
				*v = map[string]int{"requests": 200, "login-requests": 16, "ceiling-hashes": 4}[name]
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, o, os.Stderr)
	if rep != nil {
		if o.json {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep)
		} else {
			rep.writeTable(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// Report is everything one run measured.
type Report struct {
	Date        string       `json:"date"`
	Machine     string       `json:"machine"`
	Commit      string       `json:"commit,omitempty"`
	Loadgen     string       `json:"loadgen"`
	LoadBefore  string       `json:"load_before,omitempty"`
	LoadAfter   string       `json:"load_after,omitempty"`
	BareRPS     float64      `json:"bare_requests_per_second"`
	Results     []Result     `json:"results"`
	Login       *LoginReport `json:"login,omitempty"`
	Skipped     []string     `json:"skipped,omitempty"`
	Failures    []string     `json:"failures,omitempty"`
	WallSeconds float64      `json:"wall_seconds"`
}

// run measures the bare handler, then every selected scenario. It returns
// the report with an error if anything failed.
func run(ctx context.Context, o options, progress io.Writer) (*Report, error) {
	start := time.Now()
	gen, err := pickGenerator(o.loadgen)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if w, ok := gen.(wrkGen); ok {
		w.dir = dir
		gen = w
	}
	rep := &Report{
		Date:       time.Now().UTC().Format(time.RFC3339),
		Machine:    machine(),
		Commit:     commit(),
		Loadgen:    gen.Name(),
		LoadBefore: loadavg(),
	}
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "bench: "+format+"\n", args...) }
	fail := func(format string, args ...any) {
		rep.Failures = append(rep.Failures, fmt.Sprintf(format, args...))
		logf(format, args...)
	}

	logf("building the server")
	bin, err := buildGatehouse(ctx, dir)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}

	// The baseline, in a process of its own like the server.
	bare, err := startChild(ctx, self, []string{"-bare-server"}, nil, dir)
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	res, err := measure(ctx, gen, Load{Method: "GET", URL: bare.URL + "/", Requests: o.requests, Concurrency: o.concurrency})
	bare.stop()
	if err != nil {
		return nil, fmt.Errorf("bare: %w", err)
	}
	logf("bare: %.0f req/s", res.RPS())
	rep.BareRPS = res.RPS()
	rep.Results = append(rep.Results, newResult("bare", "GET / (net/http, {\"ok\":true})", o.concurrency, res))

	for _, cfg := range configs() {
		var scs []scenario
		for _, sc := range cfg.scenarios {
			if selected(o.scenarios, sc.name) {
				scs = append(scs, sc)
			}
		}
		if len(scs) == 0 {
			continue
		}
		switch {
		case cfg.postgres && o.postgresURL == "":
			rep.Skipped = append(rep.Skipped, cfg.name+": no PostgreSQL (set -postgres-url or GATEHOUSE_TEST_POSTGRES_URL)")
			continue
		case cfg.redis && o.redisURL == "":
			rep.Skipped = append(rep.Skipped, cfg.name+": no Redis (set -redis-url or GATEHOUSE_TEST_REDIS_URL)")
			continue
		}
		if err := runConfig(ctx, o, gen, bin, dir, cfg, scs, rep, logf, fail); err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			fail("%s: %v", cfg.name, err)
		}
	}
	rep.LoadAfter = loadavg()
	rep.WallSeconds = time.Since(start).Seconds()
	if len(rep.Failures) > 0 {
		return rep, fmt.Errorf("%d failures:\n  %s", len(rep.Failures), strings.Join(rep.Failures, "\n  "))
	}
	return rep, nil
}

// pickGenerator returns the generator -loadgen names.
func pickGenerator(name string) (generator, error) {
	switch name {
	case "go":
		return goGen{}, nil
	case "wrk", "auto":
		path, err := exec.LookPath("wrk")
		if err == nil {
			return wrkGen{path: path}, nil
		}
		if name == "auto" {
			return goGen{}, nil
		}
		return nil, errors.New("-loadgen wrk: wrk is not installed")
	}
	return nil, fmt.Errorf("-loadgen %q: want wrk, go or auto", name)
}

// writeTable prints the report as aligned columns.
func (r *Report) writeTable(w io.Writer) {
	fmt.Fprintf(w, "%s  %s  commit %s  loadgen %s\n", r.Date, r.Machine, r.Commit, r.Loadgen)
	fmt.Fprintf(w, "load average before: %s  after: %s\n\n", r.LoadBefore, r.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequest\tconc\trequests\treq/s\tp50\tp99\tvs bare\t")
	for _, res := range r.Results {
		vs := "-"
		switch {
		case res.Scenario == "bare":
			vs = "1.00x"
		case res.Ratio > 0:
			vs = fmt.Sprintf("%.2fx", res.Ratio)
		case r.Login != nil && res.Scenario == "login":
			vs = fmt.Sprintf("%.0f%% ceil", r.Login.PercentOfCeiling)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t\n",
			res.Scenario, res.Request, res.Concurrency, res.Requests, res.RPS, fmtMs(res.P50ms), fmtMs(res.P99ms), vs)
	}
	_ = tw.Flush() // w is standard output: a failed write has nowhere better to be reported
	if l := r.Login; l != nil {
		fmt.Fprintf(w, "\nlogin: %.1f/s = %.0f%% of the hash ceiling (%.1f checks/s, %s, %d goroutines); p99 %s at %d clients\n",
			l.LoginsPerSecond, l.PercentOfCeiling, l.CeilingPerSecond, l.Hasher, l.Goroutines, fmtMs(l.P99ms), l.Concurrency)
		if l.Memory != nil {
			fmt.Fprintf(w, "server memory during the login storm: peak VmRSS %.1f MiB, VmHWM %.1f MiB\n",
				float64(l.Memory.PeakRSS)/(1<<20), float64(l.Memory.HWM)/(1<<20))
		} else {
			fmt.Fprintf(w, "server memory: not available (%s)\n", l.MemoryUnavailable)
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "FAILED %s\n", f)
	}
	fmt.Fprintf(w, "wall time %.1fs\n", r.WallSeconds)
}

// fmtMs formats milliseconds with about three significant digits.
func fmtMs(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

// machine describes the CPU the run had.
func machine() string {
	model := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs (GOMAXPROCS %d), %s", model, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
}

// commit returns the checked-out commit, marked if the tree has changes.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(st) > 0 {
		c += "+changes"
	}
	return c
}

// loadavg returns the 1, 5 and 15 minute load averages, if the system says.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}
