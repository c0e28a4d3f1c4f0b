package subscription_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/internal/subscription"
)

// TestKeep drives Keep with scripted attempts and checks that every outage
// and every recovery is reported once, in order.
func TestKeep(t *testing.T) {
	tests := []struct {
		name    string
		attempt []string // per attempt: "fail" (no confirmation) or "confirm" (then it ends)
		want    []string
	}{
		{"fails at once", []string{"fail", "fail", "confirm"}, []string{"down", "up(false)", "up(true)"}},
		{"drops twice", []string{"confirm", "fail", "confirm", "confirm"},
			[]string{"up(true)", "down", "up(false)", "up(true)", "down", "up(false)", "up(true)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got []string
			n := 0
			err := subscription.Keep(ctx, func(ctx context.Context, confirmed func()) error {
				i := n
				n++
				if i == len(tt.attempt)-1 {
					// The last attempt stays up until the test ends it.
					confirmed()
					cancel()
					<-ctx.Done()
					return ctx.Err()
				}
				if tt.attempt[i] == "confirm" {
					confirmed()
				}
				return errors.New("connection lost")
			}, func(up bool) {
				got = append(got, map[bool]string{true: "up(true)", false: "up(false)"}[up])
			}, func(error) { got = append(got, "down") })
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Keep returned %v, want context.Canceled", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reports %v, want %v", got, tt.want)
			}
		})
	}
}
