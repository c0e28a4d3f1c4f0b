// Package gatehousetest holds conformance suites for the interfaces of
// package gatehouse, in the manner of golang.org/x/net/nettest.TestConn and
// testing/fstest.TestFS: every implementation runs the same suite, so they
// all behave alike and a new one only needs an open function to be checked.
//
//	func TestUserStore(t *testing.T) {
//		gatehousetest.TestUserStore(t, func(t *testing.T, now func() time.Time) gatehouse.UserStore {
//			db := sqlitetest.New(t)
//			db.Now = now
//			return sqlite.NewUserStore(db)
//		})
//	}
//
// The suites run their subtests in parallel, each on a store of its own, so
// open must return a new, empty store on every call. Stores that keep time
// get the suite's clock through open, so expiry is tested without sleeping.
//
// It imports only the root package and the standard library.
package gatehousetest

import (
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// clock is a settable clock. It starts in a zone other than UTC and with
// nanoseconds a store cannot keep, so that the suites see whether stores
// convert and truncate times consistently.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("UTC+2", 2*60*60))}
}

// Now is what the suites hand to open.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// stored is t as a store gives it back: UTC, whole microseconds, which is
// what PostgreSQL keeps.
func stored(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// sameTime reports whether got is want as a store gives it back, including
// the location, so callers can compare with == and print in UTC.
func sameTime(got, want time.Time) bool {
	return got.Equal(stored(want)) && got.Location() == time.UTC
}

// code is gatehouse.ErrorCode, for brevity in failure messages.
func code(err error) gatehouse.Code { return gatehouse.ErrorCode(err) }
