package batching

import (
	"math"
	"sync"
	"time"
)

// SLOPolicy is the default policy: it takes requests earliest deadline
// first and sends the largest batch whose predicted completion (now plus
// the replica's high-quantile time for that batch size) meets the tightest
// deadline in it. It holds a replica back to wait for more requests only
// when the replica is saturated at the current batch size (more rows
// arrive per replica while the batch would run than the batch holds), a
// larger batch would raise the replica's throughput, and every deadline
// still holds after the wait. It has no knobs and no state.
type SLOPolicy struct{}

// Decide implements Policy.
func (SLOPolicy) Decide(v *View) Decision {
	n, rows, tight, reason := feasiblePrefix(v, v.Items)
	if n == 0 { // not even one fits: the queue checks row counts, so this is defensive
		return Decision{Take: min(1, len(v.Items)), Reason: ReasonFull}
	}
	if reason == ReasonDeadline {
		// Backlogged behind requests with little time left: when dropping
		// some of them lets a batch serve more than it costs, that keeps
		// the replica's throughput up instead of running tiny batches.
		if d, k := bestDrop(v, rows); d > 0 {
			return Decision{Drop: d, Take: k, Reason: ReasonDeadline}
		}
	}
	if reason == ReasonIdle {
		if until, ok := sloWait(v, rows, tight); ok {
			return Decision{WaitUntil: until}
		}
		if v.Waited {
			reason = ReasonWaited
		}
	}
	return Decision{Take: n, Reason: reason}
}

// feasiblePrefix is the longest prefix of items that fits in a batch and
// whose predicted completion meets its tightest deadline: its length,
// rows, tightest deadline, and why it stops there.
func feasiblePrefix(v *View, items []Item) (n, rows int, tight time.Time, reason Reason) {
	reason = ReasonIdle
	for _, it := range items {
		if rows+it.Rows > v.MaxBatch {
			reason = ReasonFull
			break
		}
		t := tight
		if !it.Deadline.IsZero() && (t.IsZero() || it.Deadline.Before(t)) {
			t = it.Deadline
		}
		if n > 0 && !v.Feasible(rows+it.Rows, t) {
			reason = ReasonDeadline
			break
		}
		tight, rows, n = t, rows+it.Rows, n+1
	}
	if n > 0 && rows >= v.MaxBatch {
		reason = ReasonFull
	}
	return n, rows, tight, reason
}

// bestDrop decides whether to drop head items that force a small batch.
// Only when backlogged (more rows wait than one full batch) does it look for the number d of head items to drop (all of
// the level of the item after them: a higher class is never dropped for a
// lower one) whose following batch of k items has the best throughput,
// k / predicted time; it drops only if that beats the plain batch of take
// rows by a fifth and serves more than it drops. It returns (0, 0)
// otherwise.
func bestDrop(v *View, take int) (drop, k int) {
	if v.Backlog <= v.MaxBatch || v.predict(1) == 0 {
		return 0, 0
	}
	rate := func(n int) float64 { return float64(n) / v.predict(n).Seconds() }
	best := 1.2 * rate(take)
	for d := 1; d < len(v.Items); d++ {
		if v.Items[d-1].Level != v.Items[d].Level {
			break
		}
		n, rows, _, _ := feasiblePrefix(v, v.Items[d:])
		if n > d && rate(rows) > best {
			best, drop, k = rate(rows), d, n
		}
	}
	return drop, k
}

// sloWait decides whether to hold the replica for one more request, and
// until when. The next request brings the mean rows per request, m: it
// comes after m rows' worth of the arrival rate.
func sloWait(v *View, rows int, tight time.Time) (time.Time, bool) {
	replicas := max(v.Replicas, 1)
	perReplica := v.Rate / float64(replicas)
	m := max(1, int(math.Round(v.RowsPerRequest)))
	if rows+m > v.MaxBatch { // the next request would not fit in this batch
		return time.Time{}, false
	}
	now, next := v.predict(rows), v.predict(rows+m)
	if perReplica <= 0 || now <= 0 || next <= 0 {
		return time.Time{}, false
	}
	// Not saturated: the replica keeps up with batches of this size, and
	// waiting would only add latency.
	if perReplica*now.Seconds() <= float64(rows) {
		return time.Time{}, false
	}
	// The next request to join: under a flood of refusals the offered rate
	// promised company that admission turned away, and the few admitted
	// requests were held, wait after wait, until their latest start.
	if v.Joining <= 0 {
		return time.Time{}, false
	}
	gap := time.Duration(float64(m) * float64(time.Second) / v.Joining) // expected time to the next request
	// Throughput of sending now vs after one more arrival.
	if float64(rows+m)/(gap+next).Seconds() <= float64(rows)/now.Seconds() {
		return time.Time{}, false
	}
	until := v.Now.Add(2 * gap)
	if !tight.IsZero() {
		latest := tight.Add(-next) // the last moment a batch of rows+m can start
		if v.Now.Add(gap).After(latest) {
			return time.Time{}, false
		}
		until = minTime(until, latest)
	}
	return until, true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// FixedDelay is the baseline of Triton's dynamic batcher
// (max_queue_delay_microseconds) and TF Serving (batch_timeout_micros):
// send when the batch is full or when the oldest waiting request has
// waited Delay, whichever is first. Delay 0 sends at once.
type FixedDelay struct {
	Delay time.Duration
}

// Decide implements Policy.
func (p FixedDelay) Decide(v *View) Decision {
	n, rows := fits(v.Items, v.MaxBatch)
	if n == 0 {
		return Decision{Take: min(1, len(v.Items)), Reason: ReasonFull}
	}
	if n < len(v.Items) || rows >= v.MaxBatch {
		return Decision{Take: n, Reason: ReasonFull}
	}
	if p.Delay <= 0 {
		return Decision{Take: n, Reason: ReasonIdle}
	}
	oldest := v.Items[0].Enqueued
	for _, it := range v.Items[1:] {
		oldest = minTime(oldest, it.Enqueued)
	}
	if due := oldest.Add(p.Delay); v.Now.Before(due) {
		return Decision{WaitUntil: due}
	}
	return Decision{Take: n, Reason: ReasonTimer}
}

// Observe implements Policy; the fixed delay learns nothing.
func (FixedDelay) Observe(int, time.Duration) {}

// Observe implements Policy; the SLO policy learns through the replicas'
// latency profiles, not here.
func (SLOPolicy) Observe(int, time.Duration) {}

// AIMD is the baseline of Clipper's adaptive batching: a batch size cap
// that grows by one after each batch answered within the SLO and shrinks
// by 10% after one that was not; batches are sent at once, up to the cap.
type AIMD struct {
	slo time.Duration
	max int

	mu  sync.Mutex // guards cap
	cap float64
}

// NewAIMD returns the AIMD policy for a latency target and the model's
// max batch size.
func NewAIMD(slo time.Duration, maxBatch int) *AIMD {
	return &AIMD{slo: slo, max: max(maxBatch, 1), cap: 1}
}

// Cap is the current batch size cap.
func (p *AIMD) Cap() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int(p.cap)
}

// Decide implements Policy.
func (p *AIMD) Decide(v *View) Decision {
	limit := min(p.Cap(), v.MaxBatch)
	n, _ := fits(v.Items, limit)
	if n == 0 {
		return Decision{Take: min(1, len(v.Items)), Reason: ReasonCap}
	}
	if n < len(v.Items) {
		return Decision{Take: n, Reason: ReasonCap}
	}
	return Decision{Take: n, Reason: ReasonIdle}
}

// Observe implements Policy.
func (p *AIMD) Observe(_ int, latency time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slo > 0 && latency > p.slo {
		p.cap = max(1, p.cap*0.9)
	} else {
		p.cap = min(float64(p.max), p.cap+1)
	}
}
