package redis_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/redis"
)

func TestParseURLSingle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		addr     string
		db       int
		user     string
		password string
		tls      bool
		network  string
	}{
		{url: "redis://127.0.0.1:6379/0", addr: "127.0.0.1:6379"},
		{url: "redis://localhost", addr: "localhost:6379"},
		{url: "redis://u:p%40ss@cache.example.com:7000/3", addr: "cache.example.com:7000", db: 3, user: "u", password: "p@ss"},
		{url: "redis://:secret@[::1]:6380/1", addr: "[::1]:6380", db: 1, password: "secret"},
		{url: "rediss://cache.example.com:6380", addr: "cache.example.com:6380", tls: true},
		{url: "unix:///run/redis.sock?db=2", addr: "/run/redis.sock", db: 2, network: "unix"},
	}
	for _, tt := range tests {
		mode, o, _, err := redis.ParseURLForTest(tt.url)
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if mode != redis.ModeSingle || o.Addr != tt.addr || o.DB != tt.db || o.Username != tt.user ||
			o.Password != tt.password || (o.TLSConfig != nil) != tt.tls {
			t.Errorf("%s: mode %s, addr %q, db %d, user %q, password %q, TLS %v; want single, %q, %d, %q, %q, %v",
				tt.url, mode, o.Addr, o.DB, o.Username, o.Password, o.TLSConfig != nil,
				tt.addr, tt.db, tt.user, tt.password, tt.tls)
		}
		if tt.network != "" && o.Network != tt.network {
			t.Errorf("%s: network %q, want %q", tt.url, o.Network, tt.network)
		}
	}
}

// A dead Redis must answer quickly: Gatehouse's short timeouts apply unless
// the URL sets its own.
func TestParseURLTimeouts(t *testing.T) {
	t.Parallel()
	_, o, _, err := redis.ParseURLForTest("redis://127.0.0.1:6379")
	if err != nil {
		t.Fatal(err)
	}
	if o.DialTimeout != 2*time.Second || o.ReadTimeout != time.Second || o.WriteTimeout != time.Second ||
		o.MaxRetries != 1 || o.DialerRetries != 1 || !o.ContextTimeoutEnabled {
		t.Errorf("defaults: dial %v, read %v, write %v, retries %d, dial retries %d, context timeouts %v; want 2s, 1s, 1s, 1, 1, true",
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled)
	}
	_, o, _, err = redis.ParseURLForTest("redis://127.0.0.1:6379?dial_timeout=5s&read_timeout=3s&write_timeout=4s&max_retries=3")
	if err != nil {
		t.Fatal(err)
	}
	if o.DialTimeout != 5*time.Second || o.ReadTimeout != 3*time.Second || o.WriteTimeout != 4*time.Second || o.MaxRetries != 3 {
		t.Errorf("from the URL: dial %v, read %v, write %v, retries %d; want 5s, 3s, 4s, 3",
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries)
	}
}

func TestParseURLSentinel(t *testing.T) {
	t.Parallel()
	mode, _, o, err := redis.ParseURLForTest(
		"redis-sentinel://u:pw@s1.example.com,s2.example.com:26380,[2001:db8::1]:26381/mymaster/2?sentinel_password=spw&sentinel_username=su&read_timeout=3s")
	if err != nil {
		t.Fatal(err)
	}
	if mode != redis.ModeSentinel {
		t.Fatalf("mode %s, want sentinel", mode)
	}
	if want := []string{"s1.example.com:26379", "s2.example.com:26380", "[2001:db8::1]:26381"}; !slices.Equal(o.Addrs, want) {
		t.Errorf("Addrs = %q, want %q", o.Addrs, want)
	}
	if o.MasterName != "mymaster" || o.DB != 2 || o.Username != "u" || o.Password != "pw" ||
		o.SentinelUsername != "su" || o.SentinelPassword != "spw" || o.TLSConfig != nil {
		t.Errorf("got master %q db %d user %q password %q sentinel user %q password %q TLS %v",
			o.MasterName, o.DB, o.Username, o.Password, o.SentinelUsername, o.SentinelPassword, o.TLSConfig != nil)
	}
	if o.ReadTimeout != 3*time.Second || o.DialTimeout != 2*time.Second || o.MaxRetries != 1 {
		t.Errorf("timeouts: read %v dial %v retries %d; want 3s, 2s, 1", o.ReadTimeout, o.DialTimeout, o.MaxRetries)
	}
	if f := o.Failover(); f.MasterName != "mymaster" || len(f.SentinelAddrs) != 3 {
		t.Errorf("Failover() = master %q, sentinels %q", f.MasterName, f.SentinelAddrs)
	}

	_, _, o, err = redis.ParseURLForTest("rediss-sentinel://s1.example.com,s2.example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	// Each node's certificate is checked against its own name.
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "" || o.DB != 0 {
		t.Errorf("rediss-sentinel: TLS %+v, db %d; want TLS without a fixed ServerName, db 0", o.TLSConfig, o.DB)
	}
}

func TestParseURLCluster(t *testing.T) {
	t.Parallel()
	mode, _, o, err := redis.ParseURLForTest("redis-cluster://:pw@n1.example.com:7000,n2.example.com:7001,n3.example.com?pool_size=7")
	if err != nil {
		t.Fatal(err)
	}
	if mode != redis.ModeCluster {
		t.Fatalf("mode %s, want cluster", mode)
	}
	if want := []string{"n1.example.com:7000", "n2.example.com:7001", "n3.example.com:6379"}; !slices.Equal(o.Addrs, want) {
		t.Errorf("Addrs = %q, want %q", o.Addrs, want)
	}
	if o.Password != "pw" || o.PoolSize != 7 || !o.IsClusterMode || o.MasterName != "" {
		t.Errorf("password %q, pool size %d, cluster mode %v, master %q", o.Password, o.PoolSize, o.IsClusterMode, o.MasterName)
	}
	if c := o.Cluster(); len(c.Addrs) != 3 || c.ReadTimeout != time.Second {
		t.Errorf("Cluster() = addrs %q, read timeout %v", c.Addrs, c.ReadTimeout)
	}

	// One seed node is still a cluster.
	mode, _, o, err = redis.ParseURLForTest("rediss-cluster://n1.example.com/")
	if err != nil || mode != redis.ModeCluster || !o.IsClusterMode || o.TLSConfig == nil || o.TLSConfig.ServerName != "" {
		t.Errorf("single-seed rediss-cluster: mode %s, %+v, %v", mode, o, err)
	}
}

func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"",
		"127.0.0.1:6379",
		"http://127.0.0.1:6379",
		"redis://127.0.0.1:6379/x",
		"redis://127.0.0.1:6379?bogus=1",
		"redis://u:secret@127.0.0.1:6379/%zz",
		"redis-sentinel://s1,s2",         // no master name
		"redis-sentinel://s1,s2/",        // no master name
		"redis-sentinel://s1,s2/m/1/2",   // too deep
		"redis-sentinel://s1,,s2/m",      // empty host
		"redis-sentinel://s1:0/m",        // bad port
		"redis-sentinel://s1:port/m",     // bad port
		"redis-sentinel://2001:db8::1/m", // unbracketed IPv6
		"redis-sentinel://s1/m?bogus=1",
		"redis-cluster://n1,n2/3",
		"redis-cluster://n1,n2?db=3",
		"redis-cluster://n1?sentinel_password=x",
		"redis-cluster://",
	} {
		if _, _, _, err := redis.ParseURLForTest(u); err == nil {
			t.Errorf("%q parsed, want an error", u)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error %q shows the password", u, err)
		} else if !strings.HasPrefix(err.Error(), "redis: ") {
			t.Errorf("%q: error %q lacks the package prefix", u, err)
		}
	}
}
