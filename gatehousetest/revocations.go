package gatehousetest

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestRevocations checks that a gatehouse.Revocations reports an id as
// revoked exactly while its expiry is after the store's clock, that revoking
// again replaces the expiry, and that ids are compared exactly. If the store
// also has Sweep(ctx) (int64, error), Sweep must delete expired entries only
// and count them.
//
// open must return a new, empty store whose clock is now.
func TestRevocations(t *testing.T, open func(t *testing.T, now func() time.Time) gatehouse.Revocations) {
	tests := []struct {
		name string
		run  func(t *testing.T, r gatehouse.Revocations, clk *clock)
	}{
		{"Expiry", testRevocationExpiry},
		{"RevokeAgain", testRevokeAgain},
		{"AlreadyExpired", testRevokeAlreadyExpired},
		{"ExactIDs", testRevocationExactIDs},
		{"Sweep", testSweep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			r := open(t, clk.Now)
			tt.run(t, r, clk)
		})
	}
}

func revoke(t *testing.T, r gatehouse.Revocations, id string, until time.Time) {
	t.Helper()
	if err := r.Revoke(t.Context(), id, until); err != nil {
		t.Fatalf("Revoke(%q, %v): %v", id, until, err)
	}
}

func wantRevoked(t *testing.T, r gatehouse.Revocations, clk *clock, id string, want bool) {
	t.Helper()
	got, err := r.Revoked(t.Context(), id)
	if err != nil {
		t.Fatalf("Revoked(%q): %v", id, err)
	}
	if got != want {
		t.Errorf("at %v: Revoked(%q) = %v, want %v", clk.Now(), id, got, want)
	}
}

func testRevocationExpiry(t *testing.T, r gatehouse.Revocations, clk *clock) {
	wantRevoked(t, r, clk, "never-revoked", false)
	revoke(t, r, "jti-1", clk.Now().Add(time.Minute))
	wantRevoked(t, r, clk, "jti-1", true)
	clk.Add(time.Minute - time.Microsecond)
	wantRevoked(t, r, clk, "jti-1", true)
	// At the expiry the token is dead anyway, so the revocation may go.
	clk.Add(time.Microsecond)
	wantRevoked(t, r, clk, "jti-1", false)
	clk.Add(time.Hour)
	wantRevoked(t, r, clk, "jti-1", false)
}

func testRevokeAgain(t *testing.T, r gatehouse.Revocations, clk *clock) {
	revoke(t, r, "jti-2", clk.Now().Add(time.Minute))
	revoke(t, r, "jti-2", clk.Now().Add(2*time.Minute))
	clk.Add(90 * time.Second)
	wantRevoked(t, r, clk, "jti-2", true)
	clk.Add(time.Minute)
	wantRevoked(t, r, clk, "jti-2", false)
	// An expired revocation can be renewed.
	revoke(t, r, "jti-2", clk.Now().Add(time.Minute))
	wantRevoked(t, r, clk, "jti-2", true)
}

func testRevokeAlreadyExpired(t *testing.T, r gatehouse.Revocations, clk *clock) {
	revoke(t, r, "old", clk.Now().Add(-time.Second))
	wantRevoked(t, r, clk, "old", false)
	revoke(t, r, "now", clk.Now())
	wantRevoked(t, r, clk, "now", false)
}

func testRevocationExactIDs(t *testing.T, r gatehouse.Revocations, clk *clock) {
	revoke(t, r, "AbC-1", clk.Now().Add(time.Hour))
	wantRevoked(t, r, clk, "AbC-1", true)
	for _, id := range []string{"abc-1", "ABC-1", "AbC-", "AbC-1 ", "AbC-%", "AbC-_"} {
		wantRevoked(t, r, clk, id, false)
	}
}

// sweeper is the optional clean-up the SQL stores have.
type sweeper interface {
	Sweep(ctx context.Context) (int64, error)
}

func testSweep(t *testing.T, r gatehouse.Revocations, clk *clock) {
	s, ok := r.(sweeper)
	if !ok {
		t.Skipf("%T has no Sweep method", r)
	}
	revoke(t, r, "soon-1", clk.Now().Add(time.Minute))
	revoke(t, r, "soon-2", clk.Now().Add(2*time.Minute))
	revoke(t, r, "later", clk.Now().Add(time.Hour))
	n, err := s.Sweep(t.Context())
	if err != nil || n != 0 {
		t.Errorf("Sweep before anything expired = %d, %v; want 0, nil", n, err)
	}
	clk.Add(2 * time.Minute)
	n, err = s.Sweep(t.Context())
	if err != nil || n != 2 {
		t.Errorf("Sweep = %d, %v; want 2, nil", n, err)
	}
	wantRevoked(t, r, clk, "later", true)
	n, err = s.Sweep(t.Context())
	if err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0, nil", n, err)
	}
}
