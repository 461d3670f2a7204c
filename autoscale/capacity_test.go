package autoscale

import (
	"math"
	"testing"
	"time"
)

func TestCapacity(t *testing.T) {
	ms := time.Millisecond
	step := func(rows int) time.Duration { // a bucketed profile: flat up to 8, then 40ms
		if rows <= 8 {
			return 10 * ms
		}
		return 40 * ms
	}
	for _, tc := range []struct {
		name     string
		latency  func(int) time.Duration
		slo      time.Duration
		maxBatch int
		rps      float64
		batch    int
	}{
		{"linear: largest batch within SLO/2", Linear(5*ms, ms), 50 * ms, 32, 800, 20},
		{"max batch binds", Linear(5*ms, ms), 50 * ms, 10, 10 / 0.015, 10},
		{"budget of one", Linear(5*ms, ms), 12 * ms, 32, 1 / 0.006, 1},
		{"nothing fits", Linear(20*ms, ms), 40 * ms, 32, 0, 0},
		{"flat then slow: best ratio, not largest", step, 100 * ms, 32, 800, 8},
		{"unknown profile", nil, 50 * ms, 32, 0, 0},
		{"zero latency is unknown", Linear(0, 0), 50 * ms, 32, 0, 0},
		{"no SLO", Linear(5*ms, ms), 0, 32, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rps, b := Capacity(tc.latency, tc.slo, tc.maxBatch)
			if math.Abs(rps-tc.rps) > 1e-6*max(1, tc.rps) || b != tc.batch {
				t.Errorf("Capacity = %.3f rps at %d, want %.3f at %d", rps, b, tc.rps, tc.batch)
			}
		})
	}
}
