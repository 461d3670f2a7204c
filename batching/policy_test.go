package batching

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const ms = time.Millisecond

// linear is a latency profile of a + b per row.
func linear(a, b time.Duration) func(int) time.Duration {
	return func(rows int) time.Duration { return a + time.Duration(rows)*b }
}

// items are n single-row requests that arrived at t0 with deadline t0+d.
func items(n int, d time.Duration) []Item {
	its := make([]Item, n)
	for i := range its {
		its[i] = Item{Rows: 1, Deadline: t0.Add(d), Enqueued: t0}
	}
	return its
}

func TestSLOPolicy(t *testing.T) {
	tests := []struct {
		name   string
		view   View
		take   int
		wait   time.Duration // WaitUntil - Now when take is 0
		reason Reason
	}{
		{"one request, unknown profile: send at once",
			View{Items: items(1, 20*ms), MaxBatch: 8}, 1, 0, ReasonIdle},
		{"all fit and meet the deadline",
			View{Items: items(5, 20*ms), MaxBatch: 8, Predict: linear(2*ms, ms)}, 5, 0, ReasonIdle},
		{"max batch size",
			View{Items: items(12, 50*ms), MaxBatch: 8, Predict: linear(2*ms, ms)}, 8, 0, ReasonFull},
		{"the largest batch that meets the tightest deadline: 2ms+6x1ms <= 8ms",
			View{Items: items(12, 8*ms), MaxBatch: 8, Predict: linear(2*ms, ms)}, 6, 0, ReasonDeadline},
		{"a request of 3 rows does not fit after 6",
			View{Items: append(items(6, 50*ms), Item{Rows: 3, Deadline: t0.Add(50 * ms)}), MaxBatch: 8, Predict: linear(2*ms, ms)}, 6, 0, ReasonFull},
		{"the tightest deadline need not be the first (priority order)",
			View{Items: append(items(2, 50*ms), items(4, 5*ms)...), MaxBatch: 8, Predict: linear(2*ms, ms)}, 3, 0, ReasonDeadline},
		{"head infeasible even alone: sent anyway (the queue sheds those first)",
			View{Items: items(3, ms), MaxBatch: 8, Predict: linear(2*ms, ms)}, 1, 0, ReasonDeadline},
		{"light load: no waiting",
			View{Items: items(2, 20*ms), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 100, Joining: 100, Replicas: 1}, 2, 0, ReasonIdle},
		{"saturated at batch 2 with a big fixed cost: wait for one more (rate 2000/s: 0.5ms gap, twice)",
			View{Items: items(2, 20*ms), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 2000, Joining: 2000, Replicas: 1}, 0, ms, ReasonNone},
		{"same load over 4 replicas is not saturated at batch 2",
			View{Items: items(2, 20*ms), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 400, Joining: 400, Replicas: 4}, 2, 0, ReasonIdle},
		{"saturated, but no time left to wait: 4ms+0.3ms batch against a 4.5ms deadline",
			View{Items: items(2, 4500*time.Microsecond), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 2000, Joining: 2000, Replicas: 1}, 2, 0, ReasonIdle},
		{"waiting is capped by the latest start: deadline 6ms - (4ms + 0.3ms)",
			View{Items: items(2, 6*ms), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 1000, Joining: 1000, Replicas: 1}, 0, 1700 * time.Microsecond, ReasonNone},
		{"per-row cost dominates: a bigger batch does not raise throughput",
			View{Items: items(2, 50*ms), MaxBatch: 8, Predict: linear(0, 2*ms), Rate: 2000, Joining: 2000, Replicas: 1}, 2, 0, ReasonIdle},
		{"backlogged behind 4 requests that allow only 3 rows: drop them, run 16 (889/s vs 600/s)",
			View{Items: append(items(4, 5*ms), items(13, 50*ms)...), MaxBatch: 16, Predict: linear(2*ms, ms), Backlog: 40}, 13, 0, ReasonDeadline},
		{"not backlogged: serve the tight ones first, drop nothing",
			View{Items: append(items(4, 5*ms), items(12, 50*ms)...), MaxBatch: 16, Predict: linear(2*ms, ms), Backlog: 16}, 3, 0, ReasonDeadline},
		// Two requests of 4 rows at 2,000 rows/s: the next comes in 2 ms
		// with 4 more rows, 12 in 2 + 7.2 ms (1,304/s) against 8 in 6.8 ms
		// now (1,176/s): hold for two gaps, 4 ms.
		{"multi-row requests: wait for the next request's rows",
			View{Items: []Item{{Rows: 4, Deadline: t0.Add(20 * ms)}, {Rows: 4, Deadline: t0.Add(20 * ms)}}, MaxBatch: 16,
				Predict: linear(6*ms, 100*time.Microsecond), Rate: 2000, Joining: 2000, RowsPerRequest: 4, Replicas: 1}, 0, 4 * ms, ReasonNone},
		{"multi-row requests: the next request would not fit",
			View{Items: []Item{{Rows: 4, Deadline: t0.Add(20 * ms)}, {Rows: 4, Deadline: t0.Add(20 * ms)}}, MaxBatch: 10,
				Predict: linear(6*ms, 100*time.Microsecond), Rate: 2000, Joining: 2000, RowsPerRequest: 4, Replicas: 1}, 2, 0, ReasonIdle},
		{"saturated by an offered rate that admission refuses: nothing joins, send",
			View{Items: items(2, 20*ms), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 2000, Replicas: 1}, 2, 0, ReasonIdle},
		{"half the offered rate joins: the next request in 1ms, hold for two",
			View{Items: items(2, 20*ms), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 2000, Joining: 1000, Replicas: 1}, 0, 2 * ms, ReasonNone},
		{"sent after waiting",
			View{Items: items(3, 20*ms), MaxBatch: 8, Predict: linear(4*ms, 100*time.Microsecond), Rate: 10, Joining: 10, Replicas: 1, Waited: true}, 3, 0, ReasonWaited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.view.Now = t0
			d := SLOPolicy{}.Decide(&tt.view)
			if tt.view.Backlog == 40 && d.Drop != 4 {
				t.Fatalf("dropped %d, want the 4 tight requests", d.Drop)
			}
			if tt.view.Backlog != 40 && d.Drop != 0 {
				t.Fatalf("dropped %d, want none", d.Drop)
			}
			if d.Take != tt.take || d.Reason != tt.reason {
				t.Fatalf("Decide = take %d (%v), want %d (%v)", d.Take, d.Reason, tt.take, tt.reason)
			}
			if d.Take == 0 {
				if got := d.WaitUntil.Sub(t0); got != tt.wait {
					t.Errorf("waits %v, want %v", got, tt.wait)
				}
			}
		})
	}
}

func TestFixedDelay(t *testing.T) {
	late := append(items(1, 0), Item{Rows: 1, Enqueued: t0.Add(3 * ms)})
	tests := []struct {
		name   string
		delay  time.Duration
		items  []Item
		now    time.Duration
		take   int
		wait   time.Duration
		reason Reason
	}{
		{"no delay: at once", 0, items(3, 0), 0, 3, 0, ReasonIdle},
		{"waits for the oldest's delay", 5 * ms, late, 1 * ms, 0, 5 * ms, ReasonNone},
		{"delay over", 5 * ms, late, 5 * ms, 2, 0, ReasonTimer},
		{"full before the delay", 5 * ms, items(9, 0), 0, 8, 0, ReasonFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := View{Now: t0.Add(tt.now), Items: tt.items, MaxBatch: 8}
			d := FixedDelay{Delay: tt.delay}.Decide(&v)
			if d.Take != tt.take || d.Reason != tt.reason {
				t.Fatalf("Decide = take %d (%v), want %d (%v)", d.Take, d.Reason, tt.take, tt.reason)
			}
			if d.Take == 0 && d.WaitUntil.Sub(t0) != tt.wait {
				t.Errorf("waits until +%v, want +%v", d.WaitUntil.Sub(t0), tt.wait)
			}
		})
	}
}

func TestAIMD(t *testing.T) {
	p := NewAIMD(10*ms, 8)
	v := View{Now: t0, Items: items(20, 0), MaxBatch: 8}
	if d := p.Decide(&v); d.Take != 1 || d.Reason != ReasonCap {
		t.Fatalf("first batch %d (%v), want 1 (cap)", d.Take, d.Reason)
	}
	for range 3 {
		p.Observe(1, 5*ms) // within the SLO: +1 each
	}
	if p.Cap() != 4 {
		t.Fatalf("cap %d after 3 good batches, want 4", p.Cap())
	}
	for range 10 {
		p.Observe(8, 5*ms)
	}
	if p.Cap() != 8 {
		t.Fatalf("cap %d, want the max batch size 8", p.Cap())
	}
	p.Observe(8, 20*ms) // over: x0.9
	if p.Cap() != 7 {
		t.Fatalf("cap %d after a miss, want 7", p.Cap())
	}
	v.Items = items(3, 0)
	if d := p.Decide(&v); d.Take != 3 || d.Reason != ReasonIdle {
		t.Fatalf("decide %d (%v), want all 3", d.Take, d.Reason)
	}
}
