package sim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/autoscale"
)

// fixed keeps a replica count.
type fixed int

func (fixed) Name() string                    { return "fixed" }
func (fixed) Interval() time.Duration         { return time.Second }
func (fixed) Observe(*Metrics)                {}
func (f fixed) Decide(*Metrics) (int, string) { return int(f), "" }

func TestTraces(t *testing.T) {
	s := Step(100, 800, 10*time.Second, 20*time.Second, 30*time.Second)
	for _, tc := range []struct {
		tr   Trace
		at   time.Duration
		want float64
	}{
		{s, 5 * time.Second, 100}, {s, 15 * time.Second, 800}, {s, 25 * time.Second, 100}, {s, 30 * time.Second, 0},
		{Ramp(0, 1000, 100*time.Second), 25 * time.Second, 500}, {Ramp(0, 1000, 100*time.Second), 75 * time.Second, 500},
		{Square(1, 9, 20*time.Second, time.Minute), 5 * time.Second, 1}, {Square(1, 9, 20*time.Second, time.Minute), 15 * time.Second, 9},
		// Boundaries, before the start, and a first segment of no length
		// (a step at 0), which Rate's search must pass over.
		{s, 10 * time.Second, 800}, {s, 10*time.Second - 1, 100}, {s, -1, 0}, {s, 0, 100},
		{Step(5, 7, 0, 0, time.Second), 0, 7}, {Step(5, 7, 0, 0, time.Second), time.Second - 1, 7}, {Step(5, 7, 0, 0, time.Second), time.Second, 0},
	} {
		if got := tc.tr.Rate(tc.at); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s at %v: %v, want %v", tc.tr.Name, tc.at, got, tc.want)
		}
	}
	b := Bursts(100, 1000, 30*time.Second, 5*time.Second, 10*time.Minute, 7)
	if b.Duration() != 10*time.Minute {
		t.Errorf("bursts last %v", b.Duration())
	}
	high := time.Duration(0)
	for _, seg := range b.Segments {
		if seg.From == 1000 {
			high += seg.End - seg.Start
		}
	}
	if high < 30*time.Second || high > 3*time.Minute { // ~1/7 of the time
		t.Errorf("bursts: %v at the peak rate of 10 minutes", high)
	}
	// Arrivals follow the rate: counts per phase within 5%.
	a := newArrivals(s, 1)
	var n [3]int
	for at, ok := a.next(); ok; at, ok = a.next() {
		n[at/(10*time.Second)]++
	}
	for i, want := range []float64{1000, 8000, 1000} {
		if math.Abs(float64(n[i])-want) > 0.05*want+50 {
			t.Errorf("phase %d: %d arrivals, want about %.0f", i, n[i], want)
		}
	}
}

func TestParseTrace(t *testing.T) {
	tr, err := ParseTrace("t.csv", strings.NewReader("t_seconds,rate_per_second\n# c\n0, 10\n\n5,20\n7.5,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Duration() != 7500*time.Millisecond || tr.Rate(time.Second) != 10 || tr.Rate(6*time.Second) != 20 {
		t.Errorf("parsed %+v", tr)
	}
	for _, bad := range []string{"", "0,1\n", "1,5\n2,0\n", "0,1\n0,2\n", "0,-1\n1,0\n", "0,1\nx,2\n", "0;1\n1;0\n",
		"0,1\n1e11,0\n", // past MaxDuration (and past what a time.Duration holds)
	} {
		if _, err := ParseTrace("bad", strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestFixedReplicas: within capacity every request meets the SLO; the
// replica-seconds are replicas x duration.
func TestFixedReplicas(t *testing.T) {
	cfg := Config{Min: 2, Max: 2, Trace: Step(1000, 1000, 0, 0, time.Minute)}
	r, err := Run(cfg, fixed(2))
	if err != nil {
		t.Fatal(err)
	}
	if r.SLOAttainment != 1 || r.Missed != 0 || r.P99 > DefaultSLO {
		t.Errorf("attainment %v, missed %d, p99 %v", r.SLOAttainment, r.Missed, r.P99)
	}
	if math.Abs(r.ReplicaSeconds-120) > 1e-6 || math.Abs(r.OracleReplicaSeconds-120) > 1e-6 || r.ScalingActions != 0 {
		t.Errorf("replica-s %v, oracle %v, actions %d; want 120, 120, 0", r.ReplicaSeconds, r.OracleReplicaSeconds, r.ScalingActions)
	}
	if r.Requests < 57000 || r.Requests > 63000 {
		t.Errorf("%d requests, want about 60000", r.Requests)
	}
}

// TestOverloadSheds: beyond capacity requests are shed (SLO misses), none
// is answered late, and the SLO-batch admission keeps the replica at its
// capacity.
func TestOverloadSheds(t *testing.T) {
	for _, adm := range []Admission{AdmitQueue, AdmitSLOBatch} {
		cfg := Config{Min: 1, Max: 1, Admission: adm, Trace: Step(2000, 2000, 0, 0, 20*time.Second)}
		r, err := Run(cfg, fixed(1))
		if err != nil {
			t.Fatal(err)
		}
		if r.Late != 0 || r.Shed == 0 || r.Met+r.Missed > r.Requests || r.Met+r.Missed < r.Requests-100 {
			t.Errorf("%s: met %d missed %d (late %d, shed %d) of %d", adm, r.Met, r.Missed, r.Late, r.Shed, r.Requests)
		}
		if served := float64(r.Met) / 20; adm == AdmitSLOBatch && served < 0.95*800 {
			t.Errorf("%s: %.0f answered per second, want the capacity, 800", adm, served)
		}
	}
}

// script asks for counts at times (virtual, since the start) and records
// the metrics it decided from.
type script struct {
	at   []time.Duration
	n    []int
	seen []Metrics
}

func (*script) Name() string            { return "script" }
func (*script) Interval() time.Duration { return 50 * time.Millisecond }
func (*script) Observe(*Metrics)        {}
func (s *script) Decide(m *Metrics) (int, string) {
	s.seen = append(s.seen, *m)
	el, n := m.Now.Sub(epoch), m.Ready+m.Starting
	for i, at := range s.at {
		if el >= at {
			n = s.n[i]
		}
	}
	return n, ""
}

// TestWarmPool: a replica asked for takes the parked worker and is ready
// WarmStart later; the next one, asked for before the refill's process
// starts, cold-starts; one asked for after the refill is parked is warm
// again. The pool's workers are not replica-seconds.
func TestWarmPool(t *testing.T) {
	s := &script{at: []time.Duration{time.Second, 1100 * time.Millisecond, 5 * time.Second}, n: []int{2, 3, 4}}
	cfg := Config{WarmWorkers: 1, ColdStart: 2 * time.Second, Trace: Step(100, 100, 0, 0, 8*time.Second)}
	r, err := Run(cfg, s)
	if err != nil {
		t.Fatal(err)
	}
	readyAt := func(n int) time.Duration {
		for _, m := range s.seen {
			if m.Ready >= n {
				return m.Now.Sub(epoch)
			}
		}
		return -1
	}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{2, time.Second + DefaultWarmStart}, {3, 1100*time.Millisecond + 2*time.Second}, {4, 5*time.Second + DefaultWarmStart}} {
		if got := readyAt(tc.n); got != tc.want {
			t.Errorf("%d ready at %v, want %v", tc.n, got, tc.want)
		}
	}
	// Replicas: 1 for 1 s, 2 for 0.1 s, 3 for 3.9 s, 4 for 3 s.
	if want := 1 + 0.2 + 11.7 + 12.0; math.Abs(r.ReplicaSeconds-want) > 1e-6 {
		t.Errorf("replica-seconds %v, want %v", r.ReplicaSeconds, want)
	}
	// The pool: one worker but from 1 s to 1.25 s (the refill's delay)
	// and from 5 s to 5.25 s.
	if want := 8 - 0.5; math.Abs(r.WarmSeconds-want) > 1e-6 {
		t.Errorf("warm-pool seconds %v, want %v", r.WarmSeconds, want)
	}
}

// TestRateMetric: Metrics.Rate is the arrivals of the last second (all
// of its buckets, at any time of a decision).
func TestRateMetric(t *testing.T) {
	s := &script{}
	if _, err := Run(Config{Trace: Step(2000, 2000, 0, 0, 20*time.Second)}, s); err != nil {
		t.Fatal(err)
	}
	for _, m := range s.seen[100:] { // from 5 s (the decayed estimate starts from 0)
		if m.Rate < 1850 || m.Rate > 2150 {
			t.Fatalf("at %v: rate %.0f, want about 2000", m.Now.Sub(epoch), m.Rate)
		}
		if m.RateEWMA < 1800 || m.RateEWMA > 2200 {
			t.Fatalf("at %v: EWMA rate %.0f, want about 2000", m.Now.Sub(epoch), m.RateEWMA)
		}
	}
}

func stepConfig(cold time.Duration) Config {
	return Config{ColdStart: cold, Admission: AdmitSLOBatch, Seed: 1,
		Trace: Step(320, 2560, time.Minute, 8*time.Minute, 10*time.Minute)}
}

// TestGannetStep: Gannet's policy on a step of 10% -> 80% of 4 replicas'
// capacity (whole minutes of virtual time).
func TestGannetStep(t *testing.T) {
	start := time.Now()
	r, err := Run(stepConfig(250*time.Millisecond), NewGannet(DefaultSLO))
	if err != nil {
		t.Fatal(err)
	}
	// The goal, 0.999 (0.9992 with a 250 ms cold start, no warm
	// pool and SLO-batch admission): the misses are those of the first
	// interval after the step and of the cold start.
	if r.SLOAttainment < 0.999 {
		t.Errorf("SLO attainment %.5f, want >= 0.999", r.SLOAttainment)
	}
	if r.Ratio() > 1.25 {
		t.Errorf("replica-seconds %.0f = %.3f x the oracle's, want <= 1.25", r.ReplicaSeconds, r.Ratio())
	}
	// Up: replicas asked for within 1 s of the step.
	up := r.Series[60].Replicas
	if up < 4 {
		t.Errorf("replicas at the end of the step's first second: %d, want 4", up)
	}
	// Down: not before the down window, and back to 1 at the end.
	if n := r.Series[480+int(autoscale.DefaultDownWindow/time.Second)-2].Replicas; n < 4 {
		t.Errorf("replicas %v after the drop: %d, want still 4", autoscale.DefaultDownWindow-2*time.Second, n)
	}
	if n := r.Series[len(r.Series)-1].Replicas; n != 1 {
		t.Errorf("ends with %d replicas, want 1", n)
	}
	t.Logf("attainment %.5f, ratio %.3f, actions %d, in %v", r.SLOAttainment, r.Ratio(), r.ScalingActions, time.Since(start))
}

// TestSquareNoFlapping: on a square wave Gannet's replica count only
// rises while the load is high and only falls while it is low, in a few
// steps each period.
func TestSquareNoFlapping(t *testing.T) {
	cfg := Config{Admission: AdmitSLOBatch, Seed: 2, Trace: Square(320, 2560, 2*time.Minute, 10*time.Minute)}
	r, err := Run(cfg, NewGannet(DefaultSLO))
	if err != nil {
		t.Fatal(err)
	}
	const half = 60 // seconds; the wave starts low
	for i := 1; i < len(r.Series); i++ {
		d := r.Series[i].Replicas - r.Series[i-1].Replicas
		if high := (i/half)%2 == 1; (high && d < 0) || (!high && d > 0) {
			t.Errorf("second %d (load %s): replicas %d -> %d", i, map[bool]string{true: "high", false: "low"}[high], r.Series[i-1].Replicas, r.Series[i].Replicas)
		}
	}
	// 5 periods; a rise is at most two actions (one replica at the first
	// refusal, then the surge sized from the arrivals of one interval),
	// and the way down is 3 steps (4 -> 1).
	if max := 5 * (2 + 3); r.ScalingActions > max {
		t.Errorf("%d scaling actions, want at most %d", r.ScalingActions, max)
	}
}

// TestSteadyNoFlapping: a steady Poisson load inside the hysteresis band
// (80% of 4 replicas' capacity, above the 75% at which 4 would scale
// down from 5) neither adds a fifth replica on noise nor removes one.
func TestSteadyNoFlapping(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		cfg := Config{Admission: AdmitSLOBatch, Seed: seed, WarmWorkers: 1, Min: 4, Max: 32, Trace: Step(2560, 2560, 0, 0, 10*time.Minute)}
		r, err := Run(cfg, NewGannet(DefaultSLO))
		if err != nil {
			t.Fatal(err)
		}
		if r.ScalingActions != 0 || r.SLOAttainment < 0.9999 {
			t.Errorf("seed %d: %d scaling actions (%v), attainment %.5f; want none, >= 0.9999", seed, r.ScalingActions, r.Reasons, r.SLOAttainment)
		}
	}
}

// TestBaselinesSlower: Ray's 30 s upscale delay misses far more of a step
// than Gannet; every run is deterministic.
func TestBaselinesSlower(t *testing.T) {
	cfg := stepConfig(2 * time.Second)
	g, _ := Run(cfg, NewGannet(DefaultSLO))
	ray, _ := Run(cfg, NewRay(autoscale.RayConfig{}))
	kpa, _ := Run(cfg, NewKPA(autoscale.KPAConfig{ContainerConcurrency: 20}))
	if !(g.SLOAttainment > ray.SLOAttainment && g.SLOAttainment > kpa.SLOAttainment) {
		t.Errorf("attainment gannet %.4f, ray %.4f, kpa %.4f", g.SLOAttainment, ray.SLOAttainment, kpa.SLOAttainment)
	}
	again, _ := Run(cfg, NewGannet(DefaultSLO))
	if again.Met != g.Met || again.ReplicaSeconds != g.ReplicaSeconds || again.ScalingActions != g.ScalingActions {
		t.Error("not deterministic")
	}
}

// TestContentionSim: with 2 cores, Gannet stops at 2 replicas under load
// that 2 uncontended replicas cannot carry, and says why.
func TestContentionSim(t *testing.T) {
	cfg := Config{Cores: 2, Admission: AdmitSLOBatch, Trace: Step(2000, 2000, 0, 0, time.Minute)}
	g := NewGannet(DefaultSLO)
	r, err := Run(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Series[len(r.Series)-1].Replicas; n != 2 || r.Reasons[autoscale.ReasonContention] == 0 {
		t.Errorf("ends at %d replicas, reasons %v; want 2 and %q", n, r.Reasons, autoscale.ReasonContention)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Trace: Step(1, 1, 0, 0, time.Second)}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Config{
		{},
		{Trace: ok.Trace, SLO: time.Millisecond, Base: 5 * time.Millisecond},
		{Trace: ok.Trace, Min: 3, Max: 2},
		{Trace: ok.Trace, Admission: "x"},
		{Trace: ok.Trace, Cores: -1},
		{Trace: ok.Trace, Max: MaxReplicas + 1},
		{Trace: ok.Trace, WarmWorkers: MaxReplicas + 1},
		{Trace: ok.Trace, MaxBatch: MaxBatchSize + 1},
	} {
		if _, err := Run(bad, fixed(1)); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	// Traces a run cannot finish, or would need gigabytes for, are refused
	// at once with the reason (each of these ran for ever before).
	for _, c := range []struct {
		tr   Trace
		want string
	}{
		{Step(math.NaN(), 1, time.Second, 0, 2*time.Second), "want rates from 0 to"},
		{Step(1, 1, 0, 0, MaxDuration+time.Hour), "longer than"},
		{Step(1e6, 1e6, 0, 0, 10*time.Minute), "more than the 20000000"},
		{Step(1, 2, 20*time.Minute, 0, 10*time.Minute), "contiguous"},
		{Step(1e308, 1, 0, 0, time.Second), "want rates from 0 to"}, // a zero-length segment: Inf x 0 arrivals
		{Step(1, 1e16, 0, 0, time.Second), "want rates from 0 to"},
	} {
		_, err := Run(Config{Trace: c.tr}, fixed(1))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.tr, err, c.want)
		}
	}
}

// TestRefusalsWakeGannet: with decisions 10 s apart, Gannet still acts on
// a step within the second it comes, woken by admission's first refusal,
// as `gannet serve`'s controller is (batching.Config.OnShed).
func TestRefusalsWakeGannet(t *testing.T) {
	cfg := Config{Admission: AdmitSLOBatch, Trace: Step(320, 2560, 31*time.Second, 0, 45*time.Second)}
	g := NewGannet(DefaultSLO)
	g.Every = 10 * time.Second // ticks at 30 s and 40 s
	r, err := Run(cfg, g)
	if err != nil {
		t.Fatal(err)
	}
	if before, after := r.Series[30].Replicas, r.Series[31].Replicas; before != 1 || after < 2 {
		t.Errorf("replicas %d before the step at 31 s, %d at the end of its first second; want 1, then more", before, after)
	}
}
