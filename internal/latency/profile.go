// Package latency keeps latency profiles: how long a replica takes to run a
// batch of a given size, as a running mean and a high quantile per batch
// bucket, plus the transfer overhead around the computation. The batching
// policy predicts completion times from them; the dispatcher feeds them.
//
// A Profile is safe for concurrent use: one goroutine observes while others
// predict. Observe and Predict take a mutex held for well under a
// microsecond and do not allocate.
package latency

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// window is how many recent samples of one bucket the high quantile is
// taken from: the second largest of 64 is about the 98th percentile.
const window = 64

// maxAge is how old a sample may be, relative to the newest one, and
// still count in the high quantile (the newest two always count). Without
// it two outliers held the estimate until 62 more batches of that bucket
// had run: at a bucket that runs rarely, for minutes; and when the
// outliers made admission refuse nearly everything, batches became rare
// and the estimate stayed high (make bench saw goodput fall to 2
// requests/s for a whole 5 s load step). Within maxAge a busy bucket
// still holds its last 64 samples.
const maxAge = 2 * time.Second

// alpha is the weight of a new sample in the running mean.
const alpha = 1.0 / 16

// Profile is the latency profile of one replica (or one model).
type Profile struct {
	buckets []int // ascending batch sizes a batch is padded to; nil: exact rows

	now func() time.Time // the clock samples are stamped by; time.Now but in tests

	mu       sync.Mutex // guards stats and overhead
	stats    []stat     // per bucket (per row count when buckets is nil)
	overhead stat       // total time minus compute time: transfer, queues
}

// stat is a running mean and a ring of recent samples.
type stat struct {
	n    int // samples seen
	mean float64
	ring [window]int64
	at   [window]int64 // when each sample of ring was taken, Unix ns
	high int64         // a high quantile of ring within maxAge (see add)
}

// add records sample d taken at the time at (Unix ns) and recomputes the
// high quantile: the second largest of the samples in the ring no older
// than maxAge before at, counting the newest two whatever their age (the
// largest while fewer than minCounted count).
func (s *stat) add(d time.Duration, at int64) {
	x := int64(d)
	if s.n == 0 {
		s.mean = float64(x)
	} else {
		s.mean += alpha * (float64(x) - s.mean)
	}
	s.ring[s.n%window] = x
	s.at[s.n%window] = at
	s.n++
	// The slots of the newest and the second newest (-1 if none).
	newest, newest2 := (s.n-1)%window, (s.n-2)%window
	var first, second int64
	counted := 0
	oldest := at - int64(maxAge)
	for i, v := range s.ring[:min(s.n, window)] {
		if s.at[i] < oldest && i != newest && i != newest2 {
			continue
		}
		counted++
		if v > first {
			first, second = v, first
		} else if v > second {
			second = v
		}
	}
	s.high = second
	if counted < minCounted {
		s.high = first
	}
}

// minCounted is how many samples the high quantile needs before it is the
// second largest rather than the largest: of fewer, the second largest is
// closer to the median than to a high quantile.
const minCounted = 16

// New returns an empty profile for a model compiled for the given batch
// buckets (ascending; a batch of n rows runs as the smallest bucket >= n).
// With no buckets every row count is its own bucket, up to maxRows.
func New(buckets []int, maxRows int) *Profile {
	p := &Profile{buckets: slices.Clone(buckets), now: time.Now}
	if len(p.buckets) == 0 {
		p.buckets = make([]int, max(maxRows, 1))
		for i := range p.buckets {
			p.buckets[i] = i + 1
		}
	}
	slices.Sort(p.buckets)
	p.stats = make([]stat, len(p.buckets))
	return p
}

// Buckets are the profile's batch sizes.
func (p *Profile) Buckets() []int { return slices.Clone(p.buckets) }

// bucket is the index of the smallest bucket >= rows (the last if none).
func (p *Profile) bucket(rows int) int {
	i := sort.SearchInts(p.buckets, rows)
	return min(i, len(p.buckets)-1)
}

// Seed records warm-up timings of a batch of rows (compute only).
func (p *Profile) Seed(rows int, samples ...time.Duration) {
	at := p.now().UnixNano()
	p.mu.Lock()
	s := &p.stats[p.bucket(rows)]
	for _, d := range samples {
		s.add(d, at)
	}
	p.mu.Unlock()
}

// Observe records one batch of rows that computed for compute and took
// total from dispatch to answer.
func (p *Profile) Observe(rows int, compute, total time.Duration) {
	at := p.now().UnixNano()
	p.mu.Lock()
	p.stats[p.bucket(rows)].add(compute, at)
	if total >= compute {
		p.overhead.add(total-compute, at)
	}
	p.mu.Unlock()
}

// Predict is the high-quantile time from dispatch to answer of a batch of
// rows: compute time of its bucket plus overhead. Buckets not yet observed
// are interpolated linearly in rows from their observed neighbours (and
// extrapolated in proportion to rows above the largest). It returns 0 when
// nothing has been observed.
func (p *Profile) Predict(rows int) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.estimateLocked(rows, func(s *stat) float64 { return float64(s.high) })
	if c == 0 {
		return 0
	}
	return time.Duration(c) + time.Duration(p.overhead.high)
}

// Typical is the mean time from dispatch to answer of a batch of rows:
// mean compute time plus mean overhead; 0 when nothing has been observed.
// The queue picks its drain batch size by it; admission and batch sizes
// use the high quantile (Predict).
func (p *Profile) Typical(rows int) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.estimateLocked(rows, func(s *stat) float64 { return s.mean })
	if c == 0 {
		return 0
	}
	return time.Duration(c) + time.Duration(p.overhead.mean)
}

// Mean is the mean compute time of a batch of rows (0 when unknown),
// without overhead.
func (p *Profile) Mean(rows int) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.estimateLocked(rows, func(s *stat) float64 { return s.mean }))
}

// estimateLocked is f of the bucket of rows, interpolated when that bucket
// has no samples.
func (p *Profile) estimateLocked(rows int, f func(*stat) float64) float64 {
	i := p.bucket(rows)
	if p.stats[i].n > 0 {
		return f(&p.stats[i])
	}
	lo, hi := -1, -1
	for j := i - 1; j >= 0; j-- {
		if p.stats[j].n > 0 {
			lo = j
			break
		}
	}
	for j := i + 1; j < len(p.stats); j++ {
		if p.stats[j].n > 0 {
			hi = j
			break
		}
	}
	x := float64(p.buckets[i])
	switch {
	case lo < 0 && hi < 0:
		return 0
	case lo < 0: // below every observation: no faster than the smallest seen
		return f(&p.stats[hi])
	case hi < 0: // above: in proportion to rows
		return f(&p.stats[lo]) * x / float64(p.buckets[lo])
	}
	x0, x1 := float64(p.buckets[lo]), float64(p.buckets[hi])
	y0, y1 := f(&p.stats[lo]), f(&p.stats[hi])
	return y0 + (y1-y0)*(x-x0)/(x1-x0)
}

// Estimate is one bucket's figures.
type Estimate struct {
	Rows    int           // the bucket's batch size
	Samples int           // observations so far
	Mean    time.Duration // mean compute time
	High    time.Duration // high quantile (about p98) of compute time
}

// Snapshot returns the observed buckets' estimates and the overhead's.
func (p *Profile) Snapshot() (buckets []Estimate, overhead Estimate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.stats {
		if s := &p.stats[i]; s.n > 0 {
			buckets = append(buckets, Estimate{p.buckets[i], s.n, time.Duration(s.mean), time.Duration(s.high)})
		}
	}
	o := &p.overhead
	return buckets, Estimate{0, o.n, time.Duration(o.mean), time.Duration(o.high)}
}

// Overhead is the mean and high quantile of the time from dispatch to
// answer beyond compute (transfer, queues on the way); zeros when unknown.
func (p *Profile) Overhead() (mean, high time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.overhead.mean), time.Duration(p.overhead.high)
}
