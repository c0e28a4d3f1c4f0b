package ratelimit_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/ratelimit"
)

// A login handler checks the policy before it looks at the password,
// answers 429 with Retry-After when refused and 503 when the limiter
// cannot decide, and reports successes.
func ExamplePolicy() {
	ctx := context.Background()
	limiter := ratelimit.NewMemory(0) // redis.NewLimiter(db) when several instances run
	now := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	limiter.Now = func() time.Time { return now }
	login := ratelimit.NewPolicy(limiter, "login", ratelimit.LoginRules())

	home := netip.MustParseAddr("192.0.2.10")
	// Alice logs in from home (the account's first attempt of 10), and
	// home becomes trusted for her.
	login.Check(ctx, home, "alice@example.com")
	login.Succeeded(ctx, home, "alice@example.com")

	// Someone elsewhere guesses alice's password.
	for i := range 12 {
		attacker := netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})
		d, err := login.Check(ctx, attacker, "alice@example.com")
		if err != nil {
			fmt.Println("503") // fail closed
			return
		}
		if !d.Allowed {
			fmt.Printf("attempt %d: 429, Retry-After: %v\n", i+1, d.RetryAfter)
		}
		now = now.Add(time.Second)
	}
	d, _ := login.Check(ctx, home, "alice@example.com")
	fmt.Println("alice at home allowed:", d.Allowed)
	// Output:
	// attempt 10: 429, Retry-After: 14m51s
	// attempt 11: 429, Retry-After: 14m50s
	// attempt 12: 429, Retry-After: 14m49s
	// alice at home allowed: true
}
