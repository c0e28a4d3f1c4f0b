package cli_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/cli"
)

// runCmd runs the gatehouse command with args and returns its output.
func runCmd(t *testing.T, o cli.Options, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut strings.Builder
	err = cli.RunWith(context.Background(), args, strings.NewReader(""), &out, &errOut, o)
	return out.String(), errOut.String(), err
}

// mustRun runs the gatehouse command and fails the test if it fails.
func mustRun(t *testing.T, o cli.Options, args ...string) string {
	t.Helper()
	stdout, stderr, err := runCmd(t, o, args...)
	if err != nil {
		t.Fatalf("gatehouse %q: %v\nstderr:\n%s", args, err, stderr)
	}
	return stdout
}

type listedKey struct {
	Kid       string     `json:"kid"`
	Algorithm string     `json:"algorithm"`
	CreatedAt time.Time  `json:"created_at"`
	State     string     `json:"state"`
	RetiredAt *time.Time `json:"retired_at"`
}

func listKeys(t *testing.T, o cli.Options, dbURL string) []listedKey {
	t.Helper()
	out := mustRun(t, o, "keys", "list", "--json", "--database-url", dbURL)
	var keys []listedKey
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatalf("keys list --json: %v\n%s", err, out)
	}
	return keys
}

var kidRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// TestKeysCommands runs keys list, rotate and retire on SQLite.
func TestKeysCommands(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	o := opts(env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_JWT_ALGORITHM": "EdDSA"})

	if out := mustRun(t, o, "keys", "list", "--database-url", dbURL); out != "" {
		t.Errorf("keys list of a fresh database: %q, want nothing", out)
	}
	if keys := listKeys(t, o, dbURL); keys == nil || len(keys) != 0 {
		t.Errorf("keys list --json of a fresh database: %v, want []", keys)
	}

	// HS256 has no keys of its own.
	hs := opts(env{"GATEHOUSE_SECRET": testSecret})
	_, _, err := runCmd(t, hs, "keys", "rotate", "--database-url", dbURL)
	if code := cli.ExitCode(err); code != 1 || err.Error() != "keys rotate: HS256 keys are the secret; rotate GATEHOUSE_SECRET instead" {
		t.Errorf("keys rotate with --jwt-algorithm HS256: exit %d, %v", code, err)
	}
	_, _, err = runCmd(t, o, "keys", "rotate", "--algorithm", "HS256", "--database-url", dbURL)
	if code := cli.ExitCode(err); code != 2 || !strings.Contains(err.Error(), "HS256 keys are the secret; rotate GATEHOUSE_SECRET instead") {
		t.Errorf("keys rotate --algorithm HS256: exit %d, %v", code, err)
	}

	// rotate prints the new kid; the configured algorithm is the default.
	first := strings.TrimSpace(mustRun(t, o, "keys", "rotate", "--database-url", dbURL))
	if !kidRE.MatchString(first) {
		t.Fatalf("keys rotate printed %q, want a kid", first)
	}
	es := strings.TrimSpace(mustRun(t, o, "keys", "rotate", "--algorithm", "ES256", "--database-url", dbURL))
	second := strings.TrimSpace(mustRun(t, o, "keys", "rotate", "--database-url", dbURL))
	if !kidRE.MatchString(es) || !kidRE.MatchString(second) || first == second || es == first || es == second {
		t.Fatalf("kids %q, %q, %q: want three different kids", first, es, second)
	}

	keys := listKeys(t, o, dbURL)
	if len(keys) != 3 {
		t.Fatalf("keys list: %+v, want 3 keys", keys)
	}
	for i, want := range []struct{ kid, alg string }{{second, "EdDSA"}, {es, "ES256"}, {first, "EdDSA"}} {
		k := keys[i]
		if k.Kid != want.kid || k.Algorithm != want.alg || k.State != "active" || k.RetiredAt != nil ||
			time.Since(k.CreatedAt) > time.Minute || k.CreatedAt.Location() != time.UTC {
			t.Errorf("key %d: %+v, want %s %s active, created just now (newest first)", i, k, want.kid, want.alg)
		}
	}
	if !keys[0].CreatedAt.After(keys[1].CreatedAt) || !keys[1].CreatedAt.After(keys[2].CreatedAt) {
		t.Errorf("keys not newest first: %+v", keys)
	}
	text := mustRun(t, o, "keys", "list", "--database-url", dbURL)
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	lineRE := regexp.MustCompile(`^(\S+) +(EdDSA|ES256) +(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) +(active|retired at \S+)$`)
	for i, l := range lines {
		if m := lineRE.FindStringSubmatch(l); len(lines) != 3 || m == nil || m[1] != keys[i].Kid || m[4] != "active" {
			t.Errorf("keys list line %d: %q; all:\n%s", i, l, text)
		}
	}
	if strings.Contains(text, "PRIVATE") || strings.Contains(mustRun(t, o, "keys", "list", "--json", "--database-url", dbURL), "private") {
		t.Error("keys list shows private keys")
	}

	// retire: one of two active EdDSA keys may go; flags may follow the
	// kid.
	out := mustRun(t, o, "keys", "retire", first, "--database-url", dbURL, "--access-token-ttl", "1h")
	if !strings.Contains(out, "retired "+first) || !strings.Contains(out, "verifies tokens until") {
		t.Errorf("keys retire: %q", out)
	}
	keys = listKeys(t, o, dbURL)
	if k := keys[2]; k.Kid != first || k.State != "retired" || k.RetiredAt == nil || time.Since(*k.RetiredAt) > time.Minute {
		t.Errorf("retired key: %+v", k)
	}
	text = mustRun(t, o, "keys", "list", "--database-url", dbURL)
	if !regexp.MustCompile(first + ` +EdDSA +\S+ +retired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n`).MatchString(text) {
		t.Errorf("keys list after retire:\n%s", text)
	}
	// Retiring again changes nothing.
	retiredAt := *keys[2].RetiredAt
	if out := mustRun(t, o, "keys", "retire", first, "--database-url", dbURL); !strings.Contains(out, "already retired") {
		t.Errorf("keys retire of a retired key: %q", out)
	}
	if k := listKeys(t, o, dbURL)[2]; !k.RetiredAt.Equal(retiredAt) {
		t.Errorf("retiring again moved the retirement from %v to %v", retiredAt, k.RetiredAt)
	}

	// The last active key of the configured algorithm needs --force; one of
	// another algorithm does not.
	_, _, err = runCmd(t, o, "keys", "retire", second, "--database-url", dbURL)
	if code := cli.ExitCode(err); code != 1 || !strings.Contains(err.Error(), "only active EdDSA key") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("retiring the only active EdDSA key: exit %d, %v", code, err)
	}
	if k := listKeys(t, o, dbURL)[0]; k.State != "active" {
		t.Errorf("a refused retire retired the key: %+v", k)
	}
	mustRun(t, o, "keys", "retire", "--force", second, "--database-url", dbURL)
	mustRun(t, o, "keys", "retire", es, "--database-url", dbURL)
	for _, k := range listKeys(t, o, dbURL) {
		if k.State != "retired" {
			t.Errorf("key %+v not retired", k)
		}
	}

	_, _, err = runCmd(t, o, "keys", "retire", "no-such-kid", "--database-url", dbURL)
	if code := cli.ExitCode(err); code != 1 || !strings.Contains(err.Error(), `no key "no-such-kid"`) {
		t.Errorf("retiring an unknown kid: exit %d, %v", code, err)
	}

	// A server started now generates a new key, as none is active.
	s := startServer(t, env{"GATEHOUSE_SECRET": testSecret, "GATEHOUSE_JWT_ALGORITHM": "EdDSA"}, "--database-url", dbURL)
	if err := s.Stop(t); err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(t, o, dbURL); len(keys) != 4 || keys[0].State != "active" || keys[0].Algorithm != "EdDSA" {
		t.Errorf("after a server start with no active key: %+v, want a new active EdDSA key first", keys)
	}

	// A rotation with another secret would leave the servers a key they
	// cannot open: refused.
	other := opts(env{"GATEHOUSE_SECRET": strings.Repeat("x", 32), "GATEHOUSE_JWT_ALGORITHM": "EdDSA"})
	_, _, err = runCmd(t, other, "keys", "rotate", "--database-url", dbURL)
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET") {
		t.Errorf("keys rotate with another secret: %v, want an error naming GATEHOUSE_SECRET", err)
	}
	if keys := listKeys(t, o, dbURL); len(keys) != 4 {
		t.Errorf("a refused rotation stored a key: %d keys", len(keys))
	}
}

// TestKeysRotateSecretFile checks that with SQLite and no secret, keys
// rotate seals with the secret file serve uses, so the server can open
// the key.
func TestKeysRotateSecretFile(t *testing.T) {
	t.Parallel()
	dbURL, _ := sqliteURL(t)
	o := opts(env{"GATEHOUSE_JWT_ALGORITHM": "ES256"})
	kid := strings.TrimSpace(mustRun(t, o, "keys", "rotate", "--database-url", dbURL))
	s := startServer(t, env{"GATEHOUSE_JWT_ALGORITHM": "ES256"}, "--database-url", dbURL)
	status, b := do(t, "GET", s.URL+"/.well-known/jwks.json", nil, nil)
	if status != 200 || !strings.Contains(string(b), `"kid":"`+kid+`"`) {
		t.Errorf("JWKS: %d %s, want the rotated key %s", status, b, kid)
	}
}

// TestKeysPostgresNeedsSecret checks that keys rotate refuses to seal a
// key without the shared secret on PostgreSQL.
func TestKeysPostgresNeedsSecret(t *testing.T) {
	t.Parallel()
	_, _, err := runCmd(t, opts(env{"GATEHOUSE_JWT_ALGORITHM": "EdDSA"}), "keys", "rotate",
		"--database-url", "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	if code := cli.ExitCode(err); code != 1 || !strings.Contains(err.Error(), "GATEHOUSE_SECRET") {
		t.Errorf("keys rotate on PostgreSQL without a secret: exit %d, %v", code, err)
	}
}
