package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Load is one measurement: Requests copies of the same request, sent over
// Concurrency keep-alive connections, each waiting for its answer before
// sending the next.
type Load struct {
	URL         string
	Method      string
	Header      http.Header
	Body        []byte
	Requests    int
	Concurrency int
}

// Stats are what a generator measured.
type Stats struct {
	Requests int           // answers received
	Non2xx   int           // answers with a status outside 200-299
	Errors   int           // requests without an answer (connect, read, timeout)
	Elapsed  time.Duration // wall time of the whole load
	P50, P99 time.Duration
}

// RPS is the throughput: answers per second of wall time.
func (s Stats) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests) / s.Elapsed.Seconds()
}

// A generator sends a Load and measures it.
type generator interface {
	Name() string
	Run(ctx context.Context, l Load) (Stats, error)
}

// goGen is the built-in generator: Concurrency workers, each with a
// keep-alive connection of its own, share a fixed budget of requests.
type goGen struct{}

func (goGen) Name() string { return "go" }

func (goGen) Run(ctx context.Context, l Load) (Stats, error) {
	if l.Requests <= 0 || l.Concurrency <= 0 {
		return Stats{}, fmt.Errorf("loadgen: need requests and concurrency > 0, have %d and %d", l.Requests, l.Concurrency)
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxConnsPerHost:     l.Concurrency,
		MaxIdleConnsPerHost: l.Concurrency,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var (
		next, non2xx, errs atomic.Int64
		mu                 sync.Mutex
		total              histogram
		firstErr           error
		errOnce            sync.Once
		wg                 sync.WaitGroup
	)
	fail := func(err error) {
		errs.Add(1)
		errOnce.Do(func() { firstErr = err })
	}
	budget := int64(l.Requests)
	workers := min(l.Concurrency, l.Requests)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var h histogram
			for next.Add(1) <= budget && ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, l.Method, l.URL, bytes.NewReader(l.Body))
				if err != nil {
					fail(err)
					continue
				}
				for k, v := range l.Header {
					req.Header[k] = v
				}
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					fail(err)
					continue
				}
				_, err = io.Copy(io.Discard, res.Body)
				if cerr := res.Body.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					fail(err)
					continue
				}
				h.Record(time.Since(t0))
				if res.StatusCode < 200 || res.StatusCode > 299 {
					non2xx.Add(1)
				}
			}
			mu.Lock()
			total.Merge(&h)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	s := Stats{
		Requests: total.Count(),
		Non2xx:   int(non2xx.Load()),
		Errors:   int(errs.Load()),
		Elapsed:  elapsed,
		P50:      total.Percentile(50),
		P99:      total.Percentile(99),
	}
	if s.Requests == 0 && firstErr != nil {
		return s, fmt.Errorf("loadgen: no answer: %w", firstErr)
	}
	return s, nil
}

// histogram counts durations in log-linear buckets, like HdrHistogram: the
// values up to 2^subBits microseconds have a bucket each, and every
// power-of-two range above is split into 2^(subBits-1) buckets, so a
// bucket is at most 1/2^(subBits-1) of its values wide (under 1% here)
// whatever the magnitude. The zero value is empty and ready to use.
type histogram struct {
	counts [histBuckets]int
	n      int
}

const (
	subBits     = 8            // 256 sub-buckets: relative error < 2^-7
	subCount    = 1 << subBits // values below this are exact (in µs)
	halfCount   = subCount / 2 // buckets per power of two above
	maxExp      = 40           // 2^40 µs, about 12 days
	histBuckets = subCount + maxExp*halfCount
)

// bucket returns the index of the bucket holding v microseconds.
func bucket(v uint64) int {
	if v < subCount {
		return int(v) // #nosec G115 -- v < subCount (256)
	}
	shift := bits.Len64(v) - subBits                                // v >> shift is in [halfCount, subCount)
	i := subCount + (shift-1)*halfCount + int(v>>shift) - halfCount // #nosec G115 -- v>>shift < subCount
	return min(i, histBuckets-1)
}

// bucketHigh returns the largest value, in microseconds, of bucket i.
func bucketHigh(i int) uint64 {
	if i < subCount {
		return uint64(i) // #nosec G115 -- 0 <= i < subCount
	}
	shift := (i-subCount)/halfCount + 1
	sub := uint64((i-subCount)%halfCount + halfCount) // #nosec G115 -- in [halfCount, subCount)
	return (sub+1)<<shift - 1
}

// Record adds one duration, rounded down to the microsecond.
func (h *histogram) Record(d time.Duration) {
	h.counts[bucket(uint64(max(d, 0)/time.Microsecond))]++
	h.n++
}

// Merge adds the counts of o to h.
func (h *histogram) Merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// Count returns the number of durations recorded.
func (h *histogram) Count() int { return h.n }

// Percentile returns the smallest bucket bound that at least p percent of
// the recorded durations do not exceed (HdrHistogram's
// getValueAtPercentile), or 0 for an empty histogram.
func (h *histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(int(math.Ceil(p/100*float64(h.n))), 1)
	seen := 0
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketHigh(i)) * time.Microsecond // #nosec G115 -- at most 2^48 µs
		}
	}
	return time.Duration(bucketHigh(histBuckets-1)) * time.Microsecond // #nosec G115 -- at most 2^48 µs
}
