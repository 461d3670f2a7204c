package latency

import (
	"testing"
	"time"
)

const ms = time.Millisecond

func TestPredictInterpolates(t *testing.T) {
	p := New([]int{1, 2, 4, 8, 16, 32}, 32)
	if got := p.Predict(4); got != 0 {
		t.Fatalf("empty profile predicts %v, want 0 (unknown)", got)
	}
	p.Seed(2, 2*ms)
	p.Seed(16, 16*ms)
	tests := []struct {
		rows int
		want time.Duration
	}{
		{1, 2 * ms},   // below every observation: the smallest seen
		{2, 2 * ms},   // observed
		{3, 4 * ms},   // bucket 4, between 2 (2ms) and 16 (16ms)
		{8, 8 * ms},   // bucket 8
		{16, 16 * ms}, // observed
		{20, 32 * ms}, // bucket 32: in proportion to rows above the largest
		{99, 32 * ms}, // past the largest bucket: the largest
	}
	for _, tt := range tests {
		if got := p.Predict(tt.rows); got != tt.want {
			t.Errorf("Predict(%d) = %v, want %v", tt.rows, got, tt.want)
		}
	}
}

func TestHighQuantileAndOverhead(t *testing.T) {
	p := New([]int{1, 8}, 8)
	for i := range 100 {
		d := 1 * ms
		if i%50 == 0 { // two outliers among the last 64
			d = 9 * ms
		}
		p.Observe(8, d, d+200*time.Microsecond)
	}
	// The last 64 samples hold one 9ms outlier (sample 50): the second
	// largest is 1ms, so one outlier does not move the estimate...
	if got, want := p.Predict(8), 1*ms+200*time.Microsecond; got != want {
		t.Errorf("Predict(8) = %v, want %v", got, want)
	}
	// ...but a second one within the window does.
	p.Observe(8, 9*ms, 9*ms)
	if got, want := p.Predict(8), 9*ms+200*time.Microsecond; got != want {
		t.Errorf("after a second outlier Predict(8) = %v, want %v", got, want)
	}
	if m := p.Mean(8); m < 1*ms || m > 2*ms {
		t.Errorf("Mean(8) = %v, want between 1ms and 2ms", m)
	}
	b, o := p.Snapshot()
	if len(b) != 1 || b[0].Rows != 8 || b[0].Samples != 101 || o.Samples != 101 {
		t.Errorf("Snapshot = %+v, %+v", b, o)
	}
}

// TestOutliersAgeOut: two slow batches raise the high quantile, but not
// for ever when few batches follow: after maxAge only the newest two
// samples and those within maxAge of the newest count.
func TestOutliersAgeOut(t *testing.T) {
	p := New([]int{1}, 1)
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	for range 10 {
		p.Observe(1, 1*ms, 1*ms)
	}
	p.Observe(1, 40*ms, 60*ms) // a slow spell: two batches, and the way back
	p.Observe(1, 40*ms, 60*ms) // slow too (compute 40ms, overhead 20ms)
	if got, want := p.Predict(1), 60*ms; got != want {
		t.Fatalf("after two slow batches Predict(1) = %v, want %v", got, want)
	}
	clock = clock.Add(maxAge / 2)
	p.Observe(1, 1*ms, 1*ms)
	if got, want := p.Predict(1), 60*ms; got != want {
		t.Errorf("within maxAge of them Predict(1) = %v, want still %v", got, want)
	}
	clock = clock.Add(maxAge)
	p.Observe(1, 1*ms, 1*ms)
	// Only 14 samples so far: without aging the outliers would count for
	// 50 more batches.
	if got, want := p.Predict(1), 1*ms; got != want {
		t.Errorf("%v after the slow batches Predict(1) = %v, want %v (aged out)", 3*maxAge/2, got, want)
	}
	// The newest two count whatever their age; of so few, the largest.
	q := New([]int{1}, 1)
	q.now = p.now
	for _, d := range []time.Duration{9 * ms, 5 * ms} {
		q.Observe(1, d, d)
		clock = clock.Add(time.Hour)
	}
	q.Observe(1, 2*ms, 2*ms)
	if got := q.Predict(1); got != 5*ms {
		t.Errorf("Predict(1) = %v, want 5ms: the newest two count whatever their age, the older not", got)
	}
}

func TestExactRows(t *testing.T) {
	p := New(nil, 4)
	p.Seed(3, 3*ms)
	if got := p.Predict(3); got != 3*ms {
		t.Errorf("Predict(3) = %v", got)
	}
	if got := p.Predict(4); got != 4*ms {
		t.Errorf("Predict(4) = %v, want 4ms (proportional)", got)
	}
}

func BenchmarkObservePredict(b *testing.B) {
	p := New([]int{1, 2, 4, 8, 16, 32}, 32)
	b.ReportAllocs()
	for i := range b.N {
		p.Observe(1+i%32, ms, ms+ms/10)
		_ = p.Predict(1 + i%32)
	}
}
