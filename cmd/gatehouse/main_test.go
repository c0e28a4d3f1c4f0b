package main

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain runs main itself when the test binary is started as the
// gatehouse command by the tests below.
func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_MAIN_CHILD") == "1" {
		os.Args = append([]string{"gatehouse"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// command returns the test binary set up to run as gatehouse with args, in
// a fresh working directory and without any GATEHOUSE_ setting of the
// environment it runs in.
func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GATEHOUSE_MAIN_CHILD=1")
	return cmd
}

// TestServeSIGTERM starts the command with no configuration at all, as a
// fresh checkout would, and stops it with SIGTERM.
func TestServeSIGTERM(t *testing.T) {
	t.Parallel()
	cmd := command(t, "serve", "--addr", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var log []string
	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:[0-9]+)`)
	var base string
	timeout := time.After(30 * time.Second)
	for base == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before listening:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, line)
			if m := listening.FindStringSubmatch(line); m != nil {
				base = m[1]
			}
		case <-timeout:
			t.Fatalf("serve did not listen within 30s:\n%s", strings.Join(log, "\n"))
		}
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}
	for _, f := range []string{"gatehouse.db", "gatehouse.db.secret"} {
		if _, err := os.Stat(filepath.Join(cmd.Dir, f)); err != nil {
			t.Errorf("no configuration: %v", err)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10s of SIGTERM")
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "GATEHOUSE_DATABASE_URL"},
		{[]string{"bogus"}, 2, `gatehouse: unknown command "bogus"`},
		{[]string{"serve", "--bogus"}, 2, "bogus"},
		{[]string{"serve", "--access-token-ttl", "soon"}, 1, "--access-token-ttl"},
		{[]string{"serve", "--refresh-idle-ttl", "-1h"}, 1, "--refresh-idle-ttl"},
		{[]string{"serve", "--refresh-idle-ttl", "2000h", "--refresh-absolute-ttl", "1000h"}, 1, "--refresh-absolute-ttl"},
		{[]string{"keys"}, 2, "list, rotate, retire"},
		{[]string{"keys", "retire"}, 2, "missing KID"},
		{[]string{"keys", "rotate"}, 1, "HS256 keys are the secret; rotate GATEHOUSE_SECRET instead"},
	} {
		cmd := command(t, c.args...)
		out, err := cmd.CombinedOutput()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(string(out), c.want) {
			t.Errorf("gatehouse %q: exit %d, output %q; want exit %d and %q", c.args, code, out, c.code, c.want)
		}
	}
}
