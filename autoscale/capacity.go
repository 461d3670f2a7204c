package autoscale

import "time"

// BatchBudget is the share of the latency SLO one batch may take for
// [Capacity]. It is 1/2: on a saturated replica batches run back to back,
// so a request that arrives just after a batch starts waits for it (one
// batch time) and then runs in the next (another): its latency is up to
// two batch times. This is the duty-cycle argument of Nexus (Shen et al.,
// SOSP 2019), where a batch of size b is feasible when l(b) <= SLO/2.
const BatchBudget = 0.5

// Linear returns the latency profile base + rows*perItem, the synthetic
// model's profile and the simulator's.
func Linear(base, perItem time.Duration) func(rows int) time.Duration {
	return func(rows int) time.Duration { return base + time.Duration(rows)*perItem }
}

// Capacity returns a replica's throughput in rows per second at its
// SLO-feasible batch size, and that batch size: the maximum over batch
// sizes b in 1..maxBatch with latency(b) <= BatchBudget*slo of
// b/latency(b). It returns 0, 0 when not even a batch of one fits the
// budget, or when latency is unknown (nil, or 0 for a batch size).
func Capacity(latency func(rows int) time.Duration, slo time.Duration, maxBatch int) (rps float64, batch int) {
	if latency == nil || slo <= 0 {
		return 0, 0
	}
	budget := time.Duration(BatchBudget * float64(slo))
	for b := 1; b <= max(maxBatch, 1); b++ {
		l := latency(b)
		if l <= 0 {
			return 0, 0
		}
		if l > budget {
			continue // profiles need not be monotonic: keep looking
		}
		if r := float64(b) / l.Seconds(); r > rps {
			rps, batch = r, b
		}
	}
	return rps, batch
}
