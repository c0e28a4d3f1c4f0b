package cli

import (
	"flag"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/cookie"
)

// resolve reads the serve settings from args and the environment e.
func resolve(t *testing.T, e map[string]string, args ...string) (*config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r := settingFlags(fs, allSettings)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return r(func(k string) string { return e[k] })
}

func TestDefaults(t *testing.T) {
	c, err := resolve(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantBackends := []backendSpec{{"jwt", "bearer", "jwt"}, {"cookie", "cookie", "jwt"}}
	if !slices.Equal(c.Backends, wantBackends) {
		t.Errorf("Backends = %v, want %v", c.Backends, wantBackends)
	}
	if c.RedisURL != "" || c.RedisPrefix != "gatehouse:" {
		t.Errorf("RedisURL, RedisPrefix = %q, %q; want none and gatehouse:", c.RedisURL, c.RedisPrefix)
	}
	wantCookie := cookie.Config{Name: "gatehouse_auth", Path: "/", MaxAge: 15 * time.Minute, SameSite: http.SameSiteLaxMode}
	if c.Cookie != wantCookie {
		t.Errorf("Cookie = %+v, want %+v", c.Cookie, wantCookie)
	}
	if c.TrustedOrigins != nil {
		t.Errorf("TrustedOrigins = %q, want none", c.TrustedOrigins)
	}
}

func TestCookieSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want cookie.Config
	}{
		{
			"max age follows the access token lifetime", nil, []string{"--access-token-ttl", "1h"},
			cookie.Config{Name: "gatehouse_auth", Path: "/", MaxAge: time.Hour, SameSite: http.SameSiteLaxMode},
		},
		{
			"session cookie", map[string]string{"GATEHOUSE_COOKIE_MAX_AGE": "0"}, nil,
			cookie.Config{Name: "gatehouse_auth", Path: "/", SameSite: http.SameSiteLaxMode},
		},
		{
			"every setting",
			map[string]string{
				"GATEHOUSE_COOKIE_NAME": "sid", "GATEHOUSE_COOKIE_DOMAIN": "example.com", "GATEHOUSE_COOKIE_PATH": "/app",
				"GATEHOUSE_COOKIE_SAMESITE": "strict", "GATEHOUSE_COOKIE_MAX_AGE": "24h", "GATEHOUSE_COOKIE_SECURE": "false",
			},
			nil,
			cookie.Config{Name: "sid", Domain: "example.com", Path: "/app", MaxAge: 24 * time.Hour,
				SameSite: http.SameSiteStrictMode, InsecureNoSecure: true},
		},
		{
			"flags win", map[string]string{"GATEHOUSE_COOKIE_SAMESITE": "strict", "GATEHOUSE_COOKIE_SECURE": "false"},
			[]string{"--cookie-samesite", "none", "--cookie-secure", "--cookie-name", "__Host-auth"},
			cookie.Config{Name: "__Host-auth", Path: "/", MaxAge: 15 * time.Minute, SameSite: http.SameSiteNoneMode},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := resolve(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.Cookie != tc.want {
				t.Errorf("Cookie = %+v, want %+v", c.Cookie, tc.want)
			}
		})
	}
}

func TestRedisSettings(t *testing.T) {
	c, err := resolve(t, map[string]string{"GATEHOUSE_REDIS_URL": "redis://:pw@127.0.0.1:6379/2"},
		"--backends", "r=bearer+redis", "--redis-prefix", "app1:")
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisURL != "redis://:pw@127.0.0.1:6379/2" || c.RedisPrefix != "app1:" {
		t.Errorf("RedisURL, RedisPrefix = %q, %q", c.RedisURL, c.RedisPrefix)
	}
	if _, err := resolve(t, nil, "--backends", "r=bearer+redis", "--redis-prefix", "app1:"); err == nil ||
		!strings.Contains(err.Error(), "--redis-url") || !strings.Contains(err.Error(), `"r"`) {
		t.Errorf("redis strategy without --redis-url: %v, want an error naming the setting and the backend", err)
	}
	// Only the redis strategy needs Redis.
	if _, err := resolve(t, nil, "--backends", "a=bearer+database,b=cookie+database"); err != nil {
		t.Errorf("database strategy without Redis: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://127.0.0.1:6379/0":                        "redis://127.0.0.1:6379/0",
		"redis://:hunter2@127.0.0.1:6379/0":               "redis://:xxxxx@127.0.0.1:6379/0",
		"rediss://user:hunter2@h/1?dial_timeout=1s":       "rediss://user:xxxxx@h/1?...",
		"redis-sentinel://u:hunter2@h1,h2:26379/mymaster": "redis-sentinel://u:xxxxx@h1,h2:26379/mymaster",
		"redis-cluster://h1,h2?sentinel_password=hunter2": "redis-cluster://h1,h2?...",
		"unix://u:hunter2@/run/redis.sock?db=2":           "unix://u:xxxxx@/run/redis.sock?...",
		"redis://user@h/0":                                "redis://user@h/0",
		"hunter2":                                         "(not a URL)",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionSettings(t *testing.T) {
	c, err := resolve(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshIdleTTL != 336*time.Hour || c.RefreshAbsoluteTTL != 2160*time.Hour || c.RefreshGrace != 10*time.Second ||
		c.KeepSessionsOnPasswordChange || !c.sessionsOn() {
		t.Errorf("defaults: idle %v, absolute %v, grace %v, keep %v, on %v", c.RefreshIdleTTL, c.RefreshAbsoluteTTL,
			c.RefreshGrace, c.KeepSessionsOnPasswordChange, c.sessionsOn())
	}

	c, err = resolve(t, map[string]string{"GATEHOUSE_REFRESH_GRACE": "0", "GATEHOUSE_KEEP_SESSIONS_ON_PASSWORD_CHANGE": "true",
		"GATEHOUSE_REFRESH_IDLE_TTL": "1h"}, "--refresh-absolute-ttl", "1h")
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshGrace != 0 || !c.KeepSessionsOnPasswordChange || c.RefreshIdleTTL != time.Hour || c.RefreshAbsoluteTTL != time.Hour || !c.sessionsOn() {
		t.Errorf("settings: %+v", c)
	}

	// 0 in either lifetime turns sessions off, and then the other may be
	// anything.
	for _, args := range [][]string{
		{"--refresh-idle-ttl", "0"},
		{"--refresh-absolute-ttl", "0"},
		{"--refresh-absolute-ttl", "0", "--refresh-idle-ttl", "100000h"},
		{"--refresh-idle-ttl", "0s", "--refresh-absolute-ttl", "0"},
	} {
		c, err := resolve(t, nil, args...)
		if err != nil || c.sessionsOn() {
			t.Errorf("%q: %v, sessions on %v; want off", args, err, c != nil && c.sessionsOn())
		}
	}

	for _, tc := range []struct {
		env  map[string]string
		args []string
		want []string
	}{
		{nil, []string{"--refresh-idle-ttl", "2161h"},
			[]string{"--refresh-idle-ttl (GATEHOUSE_REFRESH_IDLE_TTL)", "--refresh-absolute-ttl (GATEHOUSE_REFRESH_ABSOLUTE_TTL)", "2161h", "2160h"}},
		{map[string]string{"GATEHOUSE_REFRESH_ABSOLUTE_TTL": "1h"}, nil,
			[]string{"--refresh-idle-ttl (GATEHOUSE_REFRESH_IDLE_TTL)", "--refresh-absolute-ttl (GATEHOUSE_REFRESH_ABSOLUTE_TTL)"}},
		{nil, []string{"--refresh-idle-ttl", "-1h"}, []string{"--refresh-idle-ttl", "negative"}},
		{map[string]string{"GATEHOUSE_REFRESH_ABSOLUTE_TTL": "-5m"}, nil, []string{"GATEHOUSE_REFRESH_ABSOLUTE_TTL", "negative"}},
		{nil, []string{"--refresh-grace", "-1s"}, []string{"--refresh-grace", "negative"}},
		{nil, []string{"--refresh-grace", "soon"}, []string{"--refresh-grace"}},
		{map[string]string{"GATEHOUSE_REFRESH_IDLE_TTL": "14d"}, nil, []string{"GATEHOUSE_REFRESH_IDLE_TTL"}},
		{map[string]string{"GATEHOUSE_KEEP_SESSIONS_ON_PASSWORD_CHANGE": "maybe"}, nil, []string{"GATEHOUSE_KEEP_SESSIONS_ON_PASSWORD_CHANGE"}},
	} {
		_, err := resolve(t, tc.env, tc.args...)
		if err == nil {
			t.Errorf("%v %q: no error", tc.env, tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v %q: %v; want it to name %s", tc.env, tc.args, err, w)
			}
		}
	}
}
