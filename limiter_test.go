package gatehouse_test

import (
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// A Rate of 4 an hour with a burst of 10 allows 10 attempts at once, then
// one every 15 minutes.
func ExampleRate() {
	r := gatehouse.Rate{Limit: 4, Period: time.Hour, Burst: 10}
	fmt.Println(r.Interval(), r.Validate())

	r = gatehouse.Rate{Limit: 4, Period: time.Hour} // no Burst
	fmt.Println(r.Validate())
	// Output:
	// 15m0s <nil>
	// gatehouse: rate: Burst must be at least 1
}
