package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/ratelimit"
)

var (
	ownerIP = netip.MustParseAddr("192.0.2.10")
	newIP   = netip.MustParseAddr("198.51.100.20")
)

const victim = "victim@example.com"

func newPolicy(t *testing.T, rules ratelimit.Rules) (*ratelimit.Policy, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	m := ratelimit.NewMemory(0)
	m.Now = clk.Now
	return ratelimit.NewPolicy(m, "login", rules), clk
}

func check(t *testing.T, p *ratelimit.Policy, ip netip.Addr, account string) gatehouse.Decision {
	t.Helper()
	d, err := p.Check(t.Context(), ip, account)
	if err != nil {
		t.Fatalf("Check(%v, %q): %v", ip, account, err)
	}
	return d
}

func succeeded(t *testing.T, p *ratelimit.Policy, ip netip.Addr, account string) {
	t.Helper()
	if err := p.Succeeded(t.Context(), ip, account); err != nil {
		t.Fatalf("Succeeded(%v, %q): %v", ip, account, err)
	}
}

// attackerIP is the i-th address of a botnet: a new /64 each time.
func attackerIP(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i), 0, 0, 0, 0, 0, 0, 0, 0, 1})
}

// The bound of the package documentation: a day of guessing from a
// botnet, one attempt every 10 s from a new address each, gets 106
// attempts through, while the owner at home logs in at once whenever
// they like.
func TestLoginBound(t *testing.T) {
	t.Parallel()
	p, clk := newPolicy(t, ratelimit.LoginRules())
	succeeded(t, p, ownerIP, victim) // the owner logged in from home once

	guesses := 0
	for i := range 24 * 60 * 6 {
		if check(t, p, attackerIP(i), victim).Allowed {
			guesses++
		}
		if i%360 == 0 { // the owner, once an hour: never waits
			if d := check(t, p, ownerIP, victim); !d.Allowed {
				t.Fatalf("hour %d: the owner at home was refused: %+v", i/360, d)
			}
			succeeded(t, p, ownerIP, victim)
		}
		clk.Add(10 * time.Second)
	}
	// 10 at once, then one every 15 minutes of the 24 hours.
	if want := 10 + 24*4 - 1; guesses != want {
		t.Errorf("%d guesses in a day, want %d", guesses, want)
	}

	// The owner at a new address, right after a guess, is refused like the
	// attacker, told to wait at most an interval...
	check(t, p, attackerIP(1<<20), victim)
	d := check(t, p, newIP, victim)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 15*time.Minute {
		t.Errorf("owner at a new address: %+v, want refused for at most 15 minutes", d)
	}
	// ...until a password reset proves them: trusted at once.
	succeeded(t, p, newIP, victim)
	if d := check(t, p, newIP, victim); !d.Allowed {
		t.Errorf("owner after a password reset: %+v, want allowed", d)
	}
}

// The owner's own mistakes at home: 10, then one every 5 minutes; a
// success clears them (checklist 24, 25).
func TestLoginOwnTypos(t *testing.T) {
	t.Parallel()
	p, clk := newPolicy(t, ratelimit.LoginRules())
	succeeded(t, p, ownerIP, victim)
	for i := range 10 {
		if d := check(t, p, ownerIP, victim); !d.Allowed {
			t.Fatalf("attempt %d refused: %+v", i+1, d)
		}
		clk.Add(time.Second)
	}
	d := check(t, p, ownerIP, victim)
	if d.Allowed || d.RetryAfter != 5*time.Minute-10*time.Second {
		t.Errorf("11th attempt: %+v, want refused for 4m50s", d)
	}
	clk.Add(d.RetryAfter)
	if d := check(t, p, ownerIP, victim); !d.Allowed {
		t.Errorf("after Retry-After: %+v, want allowed", d)
	}
	succeeded(t, p, ownerIP, victim)
	if d := check(t, p, ownerIP, victim); !d.Allowed || d.Remaining != 9 {
		t.Errorf("after a success: %+v, want allowed with 9 to go", d)
	}
}

// Checklist 25: 60 failures, one success, 60 failures are not throttled
// at a limit of 100; checklist 23: the 101st attempt is, whether or not
// the account exists.
func TestLoginSuccessClearsFailures(t *testing.T) {
	t.Parallel()
	hundred := gatehouse.Rate{Limit: 100, Period: time.Hour, Burst: 100}
	for _, account := range []string{victim, "nobody@example.com"} {
		p, _ := newPolicy(t, ratelimit.Rules{Pair: hundred, Account: hundred, TrustFor: 24 * time.Hour})
		for i := range 120 {
			if i == 60 {
				succeeded(t, p, ownerIP, account)
			}
			if d := check(t, p, ownerIP, account); !d.Allowed {
				t.Fatalf("%s: attempt %d refused: %+v", account, i+1, d)
			}
		}
		p, _ = newPolicy(t, ratelimit.Rules{Pair: hundred, Account: hundred, TrustFor: 24 * time.Hour})
		for i := range 100 {
			check(t, p, attackerIP(i), account)
		}
		if d := check(t, p, newIP, account); d.Allowed {
			t.Errorf("%s: attempt 101: %+v, want refused", account, d)
		}
	}
}

// One address trying many accounts is stopped by the IP rule, and what it
// is refused spends nothing of the accounts' allowances.
func TestLoginPerIP(t *testing.T) {
	t.Parallel()
	p, _ := newPolicy(t, ratelimit.LoginRules())
	for i := range 40 {
		if d := check(t, p, newIP, fmt.Sprint("user", i, "@example.com")); !d.Allowed {
			t.Fatalf("attempt %d refused: %+v", i+1, d)
		}
	}
	for range 100 {
		if d := check(t, p, newIP, victim); d.Allowed || d.RetryAfter != 3*time.Second {
			t.Fatalf("attempt past the burst: %+v, want refused for 3s", d)
		}
	}
	if d := check(t, p, ownerIP, victim); !d.Allowed || d.Remaining != 9 {
		t.Errorf("the victim's account from elsewhere: %+v, want allowed with 9 to go", d)
	}
}

// Addresses of one IPv6 /64 share a limit; account names are compared
// without case.
func TestLoginKeys(t *testing.T) {
	t.Parallel()
	p, _ := newPolicy(t, ratelimit.Rules{Pair: gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 2}})
	a := netip.MustParseAddr("2001:db8:1:2::1")
	b := netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff")
	check(t, p, a, "Victim@Example.com")
	check(t, p, b, " victim@example.com")
	if d := check(t, p, a, "VICTIM@EXAMPLE.COM"); d.Allowed {
		t.Errorf("third attempt from one /64 on one account: %+v, want refused", d)
	}
	if d := check(t, p, netip.MustParseAddr("2001:db8:1:3::1"), victim); !d.Allowed {
		t.Errorf("another /64: %+v, want allowed", d)
	}
	// Unknown addresses are one client.
	check(t, p, netip.Addr{}, victim)
	check(t, p, netip.Addr{}, victim)
	if d := check(t, p, netip.Addr{}, victim); d.Allowed {
		t.Errorf("third attempt from unknown addresses: %+v, want refused", d)
	}
}

// A refusal says how long until every rule would allow the request.
func TestStrictestRetryAfter(t *testing.T) {
	t.Parallel()
	p, _ := newPolicy(t, ratelimit.Rules{
		Pair:    gatehouse.Rate{Limit: 1, Period: time.Minute, Burst: 2},
		Account: gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 3},
	})
	check(t, p, newIP, victim)
	check(t, p, newIP, victim)
	check(t, p, ownerIP, victim) // the account's third
	d := check(t, p, newIP, victim)
	if d.Allowed || d.RetryAfter != time.Hour {
		t.Errorf("%+v, want refused for an hour (the account), not a minute (the pair)", d)
	}
}

// ForgotPasswordRules: 20 requests a minute for one address send at most
// 3 mails in the first 20 minutes (checklist 84).
func TestForgotPassword(t *testing.T) {
	t.Parallel()
	p, clk := newPolicy(t, ratelimit.ForgotPasswordRules())
	mails := 0
	for i := range 20 * 20 {
		if check(t, p, attackerIP(i), victim).Allowed {
			mails++
		}
		clk.Add(3 * time.Second)
	}
	if mails != 3 {
		t.Errorf("%d mails in 20 minutes, want 3", mails)
	}
}

// errLimiter is a Limiter whose store is down.
type errLimiter struct{}

var errDown = &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: errors.New("down")}

func (errLimiter) Allow(context.Context, string, gatehouse.Rate) (gatehouse.Decision, error) {
	return gatehouse.Decision{}, errDown
}

func (errLimiter) Peek(context.Context, string, gatehouse.Rate) (gatehouse.Decision, error) {
	return gatehouse.Decision{}, errDown
}

func (errLimiter) Reset(context.Context, string) error { return errDown }

// A limiter that cannot decide makes Check fail, never allow.
func TestPolicyFailsClosed(t *testing.T) {
	t.Parallel()
	for _, rules := range []ratelimit.Rules{ratelimit.LoginRules(), ratelimit.ForgotPasswordRules(), {IP: gatehouse.Rate{Limit: 1, Period: time.Second, Burst: 1}}} {
		p := ratelimit.NewPolicy(errLimiter{}, "login", rules)
		d, err := p.Check(t.Context(), ownerIP, victim)
		if d.Allowed || gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
			t.Errorf("Check = %+v, %v; want an error", d, err)
		}
	}
	p := ratelimit.NewPolicy(errLimiter{}, "login", ratelimit.LoginRules())
	if err := p.Succeeded(t.Context(), ownerIP, victim); gatehouse.ErrorCode(err) != gatehouse.CodeUnavailable {
		t.Errorf("Succeeded = %v, want an error", err)
	}
}

func TestNewPolicyPanics(t *testing.T) {
	t.Parallel()
	ok := gatehouse.Rate{Limit: 1, Period: time.Minute, Burst: 1}
	tests := []struct {
		name    string
		limiter gatehouse.Limiter
		policy  string
		rules   ratelimit.Rules
	}{
		{"NilLimiter", nil, "login", ratelimit.LoginRules()},
		{"NoName", ratelimit.NewMemory(0), "", ratelimit.LoginRules()},
		{"NoRule", ratelimit.NewMemory(0), "login", ratelimit.Rules{TrustFor: time.Hour}},
		{"BadRate", ratelimit.NewMemory(0), "login", ratelimit.Rules{IP: ok, Account: gatehouse.Rate{Limit: 1, Period: time.Minute}}},
		{"NegativeTrust", ratelimit.NewMemory(0), "login", ratelimit.Rules{IP: ok, TrustFor: -time.Hour}},
		{"EndlessTrust", ratelimit.NewMemory(0), "login", ratelimit.Rules{IP: ok, TrustFor: 100 * 365 * 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewPolicy did not panic")
				}
			}()
			ratelimit.NewPolicy(tt.limiter, tt.policy, tt.rules)
		})
	}
}
