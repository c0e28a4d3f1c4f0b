package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// benchSecret is the fixed signing secret of every server the bench starts.
const benchSecret = "gatehouse-bench-secret-0123456789abcdef"

// buildGatehouse compiles the server into dir and returns the binary's path.
func buildGatehouse(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	// #nosec G204 -- a fixed command; dir is the bench's own temporary directory
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gatehouse/gatehouse/cmd/gatehouse")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build gatehouse: %v: %s", err, out)
	}
	return bin, nil
}

// child is a server running as a child process.
type child struct {
	URL  string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	mu   sync.Mutex
	tail []string // the last lines of its standard error
}

var listeningRE = regexp.MustCompile(`listening on (http://[^\s"\\]+)`)

// startChild runs bin with args and env (on top of a PATH and HOME) in dir
// and waits for the "listening on http://..." line on its standard error.
func startChild(ctx context.Context, bin string, args, env []string, dir string) (*child, error) {
	cmd := exec.Command(bin, args...) // #nosec G204 -- bin is the server the bench just built, args are its own flags
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			c.mu.Lock()
			c.tail = append(c.tail, line)
			if len(c.tail) > 20 {
				c.tail = c.tail[1:]
			}
			c.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
		close(c.done)
	}()
	select {
	case c.URL = <-addr:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%s exited before listening:\n%s", filepath.Base(bin), c.log())
	case <-time.After(60 * time.Second):
		c.stop()
		return nil, fmt.Errorf("%s did not listen within 60s:\n%s", filepath.Base(bin), c.log())
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// log returns the last lines the child wrote to standard error.
func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.tail, "\n")
}

// stop asks the child to shut down and kills it after 10 seconds.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// pid returns the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// serveBare is the -bare-server mode: the baseline, a net/http handler that
// answers {"ok":true} to everything, in a process of its own like the
// server it is compared with.
func serveBare() error {
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := listenLoopback()
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "listening on http://"+ln.Addr().String())
	return srv.Serve(ln)
}

// listenLoopback listens on a free port of 127.0.0.1.
func listenLoopback() (net.Listener, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}

// memory is what /proc/PID/status says about a process's resident memory.
type memory struct {
	PeakRSS uint64 `json:"peak_rss_bytes"` // largest VmRSS sampled
	HWM     uint64 `json:"hwm_bytes"`      // VmHWM: peak RSS over the process's life
}

// sampleMemory reads /proc/pid/status every interval until stop is closed,
// then returns the largest VmRSS seen and the final VmHWM.
func sampleMemory(pid int, interval time.Duration, stop <-chan struct{}) (memory, error) {
	var m memory
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		rss, hwm, err := readStatus(pid)
		if err != nil {
			return m, err
		}
		m.PeakRSS, m.HWM = max(m.PeakRSS, rss), hwm
		select {
		case <-stop:
			rss, hwm, err := readStatus(pid)
			if err == nil {
				m.PeakRSS, m.HWM = max(m.PeakRSS, rss), hwm
			}
			return m, err
		case <-tick.C:
		}
	}
}

// readStatus returns VmRSS and VmHWM of pid in bytes.
func readStatus(pid int) (rss, hwm uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	return parseStatus(string(b))
}

// parseStatus reads VmRSS and VmHWM, in bytes, from a /proc/PID/status.
func parseStatus(s string) (rss, hwm uint64, err error) {
	var haveRSS, haveHWM bool
	for line := range strings.Lines(s) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("proc status: bad %s line %q", name, line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("proc status: bad %s line %q", name, line)
		}
		if name == "VmRSS" {
			rss, haveRSS = kb<<10, true
		} else {
			hwm, haveHWM = kb<<10, true
		}
	}
	if !haveRSS || !haveHWM {
		return 0, 0, errors.New("proc status: no VmRSS or VmHWM")
	}
	return rss, hwm, nil
}

// createPostgres makes an empty database with a random name on the server
// of adminURL, the way postgres/postgrestest does, and returns its URL and
// a function that drops it.
func createPostgres(ctx context.Context, adminURL string) (dbURL string, drop func() error, err error) {
	var b [8]byte
	rand.Read(b[:])
	name := "gatehouse_bench_" + hex.EncodeToString(b[:])
	if strings.HasPrefix(adminURL, "postgres://") || strings.HasPrefix(adminURL, "postgresql://") {
		u, err := url.Parse(adminURL)
		if err != nil {
			return "", nil, errors.New("postgres: the URL is not valid") // url's errors quote the password
		}
		u.Path, u.RawPath = "/"+name, ""
		dbURL = u.String()
	} else {
		dbURL = adminURL + " dbname=" + name
	}
	if err := pgExec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("postgres: %w", err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return pgExec(ctx, adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return dbURL, drop, nil
}

// pgExec runs one statement on a connection of its own: CREATE and DROP
// DATABASE cannot run in a transaction.
func pgExec(ctx context.Context, connString, sql string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// redisPrefix returns a key prefix of the bench's own, so that a shared
// Redis database is left as it was, and a function that deletes its keys.
func redisPrefix(redisURL string) (prefix string, cleanup func() error, err error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return "", nil, errors.New("redis: the URL is not valid")
	}
	var b [8]byte
	rand.Read(b[:])
	prefix = "gatehouse-bench-" + hex.EncodeToString(b[:]) + ":"
	cleanup = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client := redis.NewClient(opts)
		defer client.Close()
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		return client.Del(ctx, keys...).Err()
	}
	return prefix, cleanup, nil
}
