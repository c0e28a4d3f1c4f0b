package postgres_test

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/tcpproxy"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

// throughProxy returns connString with the server replaced by a proxy to
// it, which the test can stop and start, and a short connect timeout.
func throughProxy(t *testing.T, connString string) (string, *tcpproxy.Proxy) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		t.Skip("the test server is reached by a Unix socket: cannot put a proxy in front of it")
	}
	p := tcpproxy.New(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	host, port, _ := net.SplitHostPort(p.Addr())
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			t.Fatal("bad URL")
		}
		u.Host = p.Addr()
		q := u.Query()
		q.Set("connect_timeout", "2")
		u.RawQuery = q.Encode()
		return u.String(), p
	}
	// A keyword/value string: later keywords override earlier ones.
	return connString + " host=" + host + " port=" + port + " connect_timeout=2", p
}

// When PostgreSQL goes away, the stores fail closed: every call answers
// CodeUnavailable promptly rather than hanging or passing a deleted token.
// When it comes back, the pool reconnects by itself.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	connString, proxy := throughProxy(t, postgrestest.URL(t))
	ctx := t.Context()
	db, err := postgres.Open(ctx, connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	users, tokens, revocations := postgres.NewUserStore(db), postgres.NewTokenStore(db), postgres.NewRevocations(db)
	roles, apiKeys := postgres.NewRoleStore(db), postgres.NewAPIKeyStore(db)
	settings, nonces := postgres.NewSettingStore(db), postgres.NewNonceStore(db)
	u := &gatehouse.User{Email: "down@example.com", HashedPassword: "h"}
	if err := users.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	rec := gatehouse.TokenRecord{Hash: "f00d", UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)}
	if err := tokens.CreateToken(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := revocations.Revoke(ctx, "jti", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	works := func() {
		t.Helper()
		if _, err := tokens.FindToken(ctx, rec.Hash); err != nil {
			t.Errorf("FindToken: %v", err)
		}
		if revoked, err := revocations.Revoked(ctx, "jti"); err != nil || !revoked {
			t.Errorf("Revoked = %v, %v; want true, nil", revoked, err)
		}
	}
	works()

	for round := range 2 {
		proxy.Stop()
		calls := []struct {
			name string
			call func() error
		}{
			{"FindToken", func() error { _, err := tokens.FindToken(ctx, rec.Hash); return err }},
			{"Revoked", func() error { _, err := revocations.Revoked(ctx, "jti"); return err }},
			{"FindUserByID", func() error { _, err := users.FindUserByID(ctx, u.ID); return err }},
			{"CreateToken", func() error {
				return tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: "beef", UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)})
			}},
			{"TouchToken", func() error { return tokens.TouchToken(ctx, rec.Hash, time.Now()) }},
			{"DeleteUserTokens", func() error { _, err := tokens.DeleteUserTokens(ctx, u.ID); return err }},
			{"UserRoles", func() error { _, err := roles.UserRoles(ctx, u.ID); return err }},
			{"SetUserRoles", func() error { return roles.SetUserRoles(ctx, u.ID, nil) }},
			{"FindAPIKey", func() error { _, err := apiKeys.FindAPIKey(ctx, "f00d", time.Now()); return err }},
			{"Setting", func() error { _, err := settings.Setting(ctx, gatehouse.SettingMFARequired); return err }},
			{"SetSetting", func() error { return settings.SetSetting(ctx, "k", "v") }},
			{"UseNonce", func() error { return nonces.UseNonce(ctx, "nonce", time.Now().Add(time.Hour)) }},
			{"Ping", func() error { return db.Ping(ctx) }},
		}
		for _, c := range calls {
			start := time.Now()
			err := c.call()
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("round %d: %s with PostgreSQL down took %v", round, c.name, d)
			}
			if gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
				t.Errorf("round %d: %s with PostgreSQL down: %v, want %q", round, c.name, err, gatehouse.CodeUnavailable)
			}
		}
		proxy.Start()
		// The pool drops the dead connections and dials again.
		start := time.Now()
		for db.Ping(ctx) != nil {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("round %d: no reconnection %v after PostgreSQL came back", round, time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		}
		works()
	}
}
