package autoscale

import "time"

// IdleRate is the arrival rate (rows per second) below which
// RateEstimate says 0: a queue's decayed estimate never reaches 0 by
// itself (one row decays below 0.1/s in about 2.3 s at a 1 s time
// constant, a request of n rows in ln(10 n) s).
const IdleRate = 0.1

// rateSamples is how many calls the windowed rate spans: two, 500 ms at
// DefaultInterval.
const rateSamples = 2

// RateEstimate is the arrival rate a decision reads, made from a queue's
// two signals: its decayed estimate (1 s time constant, so it reaches 63%
// of a step only after a second) and its counter of arrived rows (both in
// rows: a request of n rows counts n). Rate returns the larger of the
// decayed estimate and the counted rate over the last two calls, so a
// step up is seen within half a second while a drop still decays
// smoothly. Calls come at every controller tick and at most once
// more between two (Controller.Wake), so the window is at least one
// interval wide.
//
// `gannet serve`'s source and the simulator's Gannet policy both use it,
// so the simulator decides from the inputs the server gives. The zero
// value is ready; it is not safe for concurrent use.
type RateEstimate struct {
	samples [rateSamples]struct {
		at time.Time
		n  uint64
	}
	next int
}

// Rate records the counter of arrived rows n at now and returns the rate
// to decide from: max(decayed, counted), and 0 below IdleRate.
func (r *RateEstimate) Rate(now time.Time, n uint64, decayed float64) float64 {
	old := r.samples[r.next]
	r.samples[r.next].at, r.samples[r.next].n = now, n
	r.next = (r.next + 1) % rateSamples
	rate := decayed
	if !old.at.IsZero() && now.After(old.at) && n >= old.n {
		rate = max(rate, float64(n-old.n)/now.Sub(old.at).Seconds())
	}
	if rate < IdleRate {
		return 0
	}
	return rate
}
