package bench

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 1) of sorted samples by
// the nearest-rank method: the smallest sample with at least p of all
// samples at or below it. Nearest rank never invents a value between two
// samples, so a p99 of 100 samples is the 99th slowest one, not a blend.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// ceil(p·n) - 1, with a little slack so 0.95·100 = 95.000000000001 stays 95.
	rank := int(math.Ceil(p*float64(len(sorted))-1e-9)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Median returns the median of vs (the mean of the middle two for an even
// count); the "median of several runs" reported beside each figure.
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Latency summarises recorded durations.
type Latency struct {
	N             int
	P50, P95, P99 time.Duration
	Max           time.Duration
}

// Summarize sorts a copy of samples and reads the percentiles.
func Summarize(samples []time.Duration) Latency {
	s := slices.Clone(samples)
	slices.Sort(s)
	l := Latency{N: len(s), P50: Percentile(s, 0.50), P95: Percentile(s, 0.95), P99: Percentile(s, 0.99)}
	if len(s) > 0 {
		l.Max = s[len(s)-1]
	}
	return l
}

// Recorder collects durations from many goroutines.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

// Add records one duration.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.samples = nil
	r.mu.Unlock()
}

// Summary summarises what was recorded so far.
func (r *Recorder) Summary() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summarize(r.samples)
}

// ms converts a duration to milliseconds for tables.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
