package autoscale

import "time"

// Window is the time-weighted mean of a sampled value over the last Span,
// in buckets of Bucket (Knative and Ray average their metrics this way).
// The zero value is not usable: use NewWindow. Not safe for concurrent use.
type Window struct {
	bucket time.Duration
	sums   []float64
	counts []int
	stamps []int64 // bucket index held by each slot
}

// NewWindow returns a window of span in buckets of bucket.
func NewWindow(span, bucket time.Duration) *Window {
	n := max(int(span/bucket), 1)
	return &Window{bucket: bucket, sums: make([]float64, n), counts: make([]int, n), stamps: make([]int64, n)}
}

// Add records a sample at t.
func (w *Window) Add(t time.Time, v float64) {
	idx := t.UnixNano() / int64(w.bucket)
	i := int(idx % int64(len(w.sums)))
	if w.stamps[i] != idx {
		w.stamps[i], w.sums[i], w.counts[i] = idx, 0, 0
	}
	w.sums[i] += v
	w.counts[i]++
}

// Mean is the mean of the buckets' means over the span ending at now,
// counting only buckets that have samples; 0 when none has.
func (w *Window) Mean(now time.Time) float64 {
	idx := now.UnixNano() / int64(w.bucket)
	sum, n := 0.0, 0
	for i := range w.sums {
		if w.counts[i] > 0 && w.stamps[i] > idx-int64(len(w.sums)) && w.stamps[i] <= idx {
			sum += w.sums[i] / float64(w.counts[i])
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
