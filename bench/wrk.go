package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wrkGen drives wrk (github.com/wg/wrk) with one thread and Concurrency
// connections. wrk runs for a duration; the Lua script stops it after
// Requests answers, counts the answers outside 2xx (wrk itself counts only
// those >= 400) and prints the count from done().
type wrkGen struct {
	path string // the wrk binary
	dir  string // where scripts are written
}

func (wrkGen) Name() string { return "wrk" }

func (g wrkGen) Run(ctx context.Context, l Load) (Stats, error) {
	if l.Requests <= 0 || l.Concurrency <= 0 {
		return Stats{}, fmt.Errorf("wrk: need requests and concurrency > 0, have %d and %d", l.Requests, l.Concurrency)
	}
	script, err := os.CreateTemp(g.dir, "load-*.lua")
	if err != nil {
		return Stats{}, err
	}
	defer os.Remove(script.Name())
	if _, err := script.WriteString(wrkScript(l)); err != nil {
		_ = script.Close() // the write error is the one worth reporting
		return Stats{}, err
	}
	if err := script.Close(); err != nil {
		return Stats{}, err
	}
	// The duration is only a bound: the script stops wrk after Requests
	// answers. A connection never exceeds the budget by more than one
	// request, so more connections than requests would not be honest.
	conns := min(l.Concurrency, l.Requests)
	// #nosec G204 -- g.path is the wrk found on PATH; the arguments are numbers, a temp file and our own URL
	cmd := exec.CommandContext(ctx, g.path,
		"-t1", "-c"+strconv.Itoa(conns), "-d10m", "--timeout", "30s", "--latency",
		"-s", filepath.Clean(script.Name()), l.URL)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Stats{}, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return Stats{}, fmt.Errorf("wrk: %w", err)
	}
	// wrk's main thread sleeps for the whole -d even after the script has
	// stopped the load, unless interrupted: SIGINT ends the sleep, and wrk
	// then reports as usual.
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if line == wrkStopped {
			_ = cmd.Process.Signal(os.Interrupt)
			continue
		}
		out.WriteString(line + "\n")
	}
	if err := cmd.Wait(); err != nil {
		return Stats{}, fmt.Errorf("wrk: %v: %s%s", err, out.String(), stderr.String())
	}
	return parseWrk(out.String())
}

// wrkStopped is the line the script prints when the budget is spent.
const wrkStopped = "bench: budget spent"

// wrkScript returns the Lua script for l.
func wrkScript(l Load) string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = %s\n", luaString(l.Method))
	if len(l.Body) > 0 {
		fmt.Fprintf(&b, "wrk.body = %s\n", luaString(string(l.Body)))
	}
	keys := make([]string, 0, len(l.Header))
	for k := range l.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "wrk.headers[%s] = %s\n", luaString(k), luaString(strings.Join(l.Header[k], ", ")))
	}
	fmt.Fprintf(&b, `
local limit = %d
local threads = {}
function setup(thread) table.insert(threads, thread) end
answers, other = 0, 0
function response(status, headers, body)
  answers = answers + 1
  if status < 200 or status > 299 then other = other + 1 end
  if answers == limit then
    io.write("%s\n")
    io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("other") end
  io.write(string.format("bench non-2xx: %%d\n", n))
end
`, l.Requests, wrkStopped)
	return b.String()
}

// luaString quotes s as a Lua string literal.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var (
	wrkPercentileRE = regexp.MustCompile(`^\s*(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m|h)\s*$`)
	wrkTotalRE      = regexp.MustCompile(`^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),`)
	wrkErrorsRE     = regexp.MustCompile(`^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRE     = regexp.MustCompile(`^bench non-2xx: (\d+)$`)
)

// parseWrk reads the report of wrk --latency run with wrkScript.
func parseWrk(out string) (Stats, error) {
	var (
		s                           Stats
		haveTotal, haveP50, haveP99 bool
		haveNon2xx                  bool
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := wrkPercentileRE.FindStringSubmatch(line); m != nil {
			d, err := wrkDuration(m[2], m[3])
			if err != nil {
				return Stats{}, err
			}
			if m[1] == "50" {
				s.P50, haveP50 = d, true
			} else {
				s.P99, haveP99 = d, true
			}
		} else if m := wrkTotalRE.FindStringSubmatch(line); m != nil {
			s.Requests, _ = strconv.Atoi(m[1])
			d, err := wrkDuration(m[2], m[3])
			if err != nil {
				return Stats{}, err
			}
			s.Elapsed, haveTotal = d, true
		} else if m := wrkErrorsRE.FindStringSubmatch(line); m != nil {
			for _, v := range m[1:] {
				n, _ := strconv.Atoi(v)
				s.Errors += n
			}
		} else if m := wrkNon2xxRE.FindStringSubmatch(line); m != nil {
			s.Non2xx, _ = strconv.Atoi(m[1])
			haveNon2xx = true
		}
	}
	if !haveTotal || !haveP50 || !haveP99 || !haveNon2xx {
		return Stats{}, fmt.Errorf("wrk: unexpected output:\n%s", out)
	}
	return s, nil
}

// wrkDuration converts a number and one of wrk's time units.
func wrkDuration(num, unit string) (time.Duration, error) {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("wrk: bad duration %q: %w", num+unit, err)
	}
	scale := map[string]time.Duration{
		"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	}[unit]
	return time.Duration(f * float64(scale)), nil
}
