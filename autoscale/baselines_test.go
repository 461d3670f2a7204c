package autoscale

import (
	"math"
	"testing"
	"time"
)

func TestRayDecide(t *testing.T) {
	cfg := RayConfig{}.WithDefaults()
	upPeriods := int(cfg.UpscaleDelay / cfg.LoopPeriod)     // 300
	downPeriods := int(cfg.DownscaleDelay / cfg.LoopPeriod) // 6000
	for _, tc := range []struct {
		name    string
		st      RayState
		in      RayInput
		calls   int // consecutive calls with the same input
		want    int
		counter int
	}{
		{"steady", RayState{Target: 2}, RayInput{Running: 2, Ongoing: 4, Min: 1, Max: 10}, 1, 2, 0},
		{"up waits for the delay", RayState{Target: 2}, RayInput{Running: 2, Ongoing: 12, Min: 1, Max: 10}, upPeriods, 2, upPeriods},
		{"up after the delay", RayState{Target: 2}, RayInput{Running: 2, Ongoing: 12, Min: 1, Max: 10}, upPeriods + 1, 6, 0},
		{"up capped at max", RayState{Target: 2}, RayInput{Running: 2, Ongoing: 100, Min: 1, Max: 10}, upPeriods + 1, 10, 0},
		{"down waits 600 s", RayState{Target: 6}, RayInput{Running: 6, Ongoing: 3, Min: 1, Max: 10}, downPeriods, 6, -downPeriods},
		{"down after the delay", RayState{Target: 6}, RayInput{Running: 6, Ongoing: 3, Min: 1, Max: 10}, downPeriods + 1, 2, 0},
		{"down to min", RayState{Target: 6}, RayInput{Running: 6, Ongoing: 0, Min: 1, Max: 10}, downPeriods + 1, 1, 0},
		{"a down decision resets an up count", RayState{Target: 2, Counter: 100}, RayInput{Running: 2, Ongoing: 1, Min: 1, Max: 10}, 1, 2, -1},
		{"cold start bypasses delays", RayState{Target: 0}, RayInput{Running: 0, Ongoing: 3, Min: 0, Max: 10}, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, got := tc.st, 0
			for range tc.calls {
				got, st = RayDecide(cfg, st, tc.in)
			}
			if got != tc.want || st.Counter != tc.counter {
				t.Errorf("after %d calls: %d (counter %d), want %d (counter %d)", tc.calls, got, st.Counter, tc.want, tc.counter)
			}
		})
	}
}

func TestRaySmoothing(t *testing.T) {
	// smoothing 0.5: half way from 2 to 10 is 6.
	cfg := RayConfig{SmoothingFactor: 0.5, UpscaleDelay: time.Nanosecond}
	got, _ := RayDecide(cfg, RayState{Target: 2}, RayInput{Running: 2, Ongoing: 20, Max: 100})
	if got != 6 {
		t.Errorf("smoothed target %d, want 6", got)
	}
}

func TestKPADecide(t *testing.T) {
	cfg := KPAConfig{ContainerConcurrency: 10} // target 7 per pod
	now := t0
	for _, tc := range []struct {
		name   string
		st     KPAState
		in     KPAInput
		want   int
		panics bool
	}{
		{"stable: ceil(concurrency / 7)", KPAState{}, KPAInput{Ready: 2, StableConcurrency: 20, PanicConcurrency: 20}, 3, false},
		{"panic at 2x ready", KPAState{}, KPAInput{Ready: 2, StableConcurrency: 14, PanicConcurrency: 28}, 4, true},
		{"below 2x: no panic", KPAState{}, KPAInput{Ready: 2, StableConcurrency: 14, PanicConcurrency: 21}, 2, false},
		{"panic never scales down", KPAState{PanicTime: now.Add(-time.Second), MaxPanicPods: 8}, KPAInput{Ready: 8, StableConcurrency: 7, PanicConcurrency: 7}, 8, true},
		{"panic ends a stable window later", KPAState{PanicTime: now.Add(-61 * time.Second), MaxPanicPods: 8}, KPAInput{Ready: 8, StableConcurrency: 7, PanicConcurrency: 7}, 4, false},
		{"down at most by half", KPAState{}, KPAInput{Ready: 8, StableConcurrency: 0, PanicConcurrency: 0}, 4, false},
		{"min", KPAState{}, KPAInput{Ready: 2, Min: 3}, 3, false},
		{"max", KPAState{}, KPAInput{Ready: 2, StableConcurrency: 700, PanicConcurrency: 700, Max: 20}, 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Now = now
			got, st := KPADecide(cfg, tc.st, in)
			if got != tc.want || !st.PanicTime.IsZero() != tc.panics {
				t.Errorf("KPADecide = %d (panicking %v), want %d (%v)", got, !st.PanicTime.IsZero(), tc.want, tc.panics)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	w := NewWindow(10*time.Second, time.Second)
	for i := range 20 {
		w.Add(t0.Add(time.Duration(i)*time.Second), float64(i))
	}
	// Buckets 10..19 are in the window ending at 19.5 s.
	if got := w.Mean(t0.Add(19500 * time.Millisecond)); math.Abs(got-14.5) > 1e-9 {
		t.Errorf("Mean = %v, want 14.5", got)
	}
	// Much later: nothing in the window.
	if got := w.Mean(t0.Add(time.Minute)); got != 0 {
		t.Errorf("Mean of an old window = %v, want 0", got)
	}
	// Two samples in a bucket are averaged first.
	w = NewWindow(2*time.Second, time.Second)
	w.Add(t0, 1)
	w.Add(t0.Add(100*time.Millisecond), 3)
	w.Add(t0.Add(time.Second), 8)
	if got := w.Mean(t0.Add(time.Second)); got != 5 {
		t.Errorf("Mean = %v, want 5", got)
	}
}
