package autoscale

import (
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

// TestDecideOnce: single decisions from a fresh state.
func TestDecideOnce(t *testing.T) {
	ms := time.Millisecond
	base := Input{SLO: 50 * ms, Capacity: 100, Min: 1, Max: 10}
	with := func(f func(*Input)) Input { in := base; in.Now = t0; f(&in); return in }
	for _, tc := range []struct {
		name   string
		in     Input
		want   int
		reason string
	}{
		{"fits: hold", with(func(in *Input) { in.Rate, in.Ready = 150, 2 }), 2, ReasonHold},
		{"capacity: ceil(rate/(0.85 cap))", with(func(in *Input) { in.Rate, in.Ready = 350, 2 }), 5, ReasonCapacity},
		{"starting replicas count", with(func(in *Input) { in.Rate, in.Ready, in.Starting = 350, 2, 3 }), 5, ReasonHold},
		{"at max", with(func(in *Input) { in.Rate, in.Ready = 2000, 2 }), 10, ReasonAtMax},
		{"at min", with(func(in *Input) { in.Rate, in.Ready, in.Min = 10, 3, 3 }), 3, ReasonHold},
		{"below min is raised", with(func(in *Input) { in.Rate, in.Ready, in.Min = 10, 1, 3 }), 3, ReasonAtMin},
		{"queueing delay: not at once", with(func(in *Input) { in.Rate, in.Ready, in.QueueDelay = 150, 2, 45*ms }), 2, ReasonHold},
		{"fast path: misses", with(func(in *Input) { in.Rate, in.Ready, in.Misses = 150, 2, 4 }), 3, ReasonFastMisses},
		{"fast path waits for starting replicas", with(func(in *Input) { in.Rate, in.Ready, in.Starting, in.Misses = 150, 2, 1, 4 }), 3, ReasonStarting},
		{"delay under 0.8 SLO is fine", with(func(in *Input) { in.Rate, in.Ready, in.QueueDelay = 150, 2, 35*ms }), 2, ReasonHold},
		{"from zero: requests waiting", with(func(in *Input) { in.Min, in.QueueLen = 0, 3 }), 1, ReasonFromZero},
		{"from zero: rate known", with(func(in *Input) { in.Min, in.Rate = 0, 250 }), 3, ReasonFromZero},
		{"zero stays zero without requests", with(func(in *Input) { in.Min = 0 }), 0, ReasonHold},
		{"unknown capacity holds", with(func(in *Input) { in.Rate, in.Ready, in.Capacity = 5000, 2, 0 }), 2, ReasonHold},
		{"unknown capacity: fast path still acts", with(func(in *Input) { in.Rate, in.Ready, in.Capacity, in.Misses = 5000, 2, 0, 1 }), 3, ReasonFastMisses},
		{"no down on the first call", with(func(in *Input) { in.Rate, in.Ready = 10, 5 }), 5, ReasonDownWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := Decide(Config{}, State{}, tc.in)
			if d.Replicas != tc.want || d.Reason != tc.reason {
				t.Errorf("Decide = %d (%s), want %d (%s)", d.Replicas, d.Reason, tc.want, tc.reason)
			}
		})
	}
}

// cluster is a toy cluster for decision sequences: replicas become ready
// coldStart after they are asked for; it counts scaling actions.
type cluster struct {
	cfg       Config
	st        State
	coldStart time.Duration
	ready     int
	starting  []time.Time // ready times
	actions   int
	log       []Decision
	// counted: run also gives Input.Arrivals, the integral of the rate
	// (a Poisson count's mean).
	counted  bool
	arrivals float64
}

func (c *cluster) step(now time.Time, in Input) Decision {
	var still []time.Time
	for _, r := range c.starting {
		if !r.After(now) {
			c.ready++
		} else {
			still = append(still, r)
		}
	}
	c.starting = still
	in.Now, in.Ready, in.Starting = now, c.ready, len(c.starting)
	d, st := Decide(c.cfg, c.st, in)
	c.st = st
	c.log = append(c.log, d)
	cur := c.ready + len(c.starting)
	if d.Replicas != cur {
		c.actions++
	}
	for ; cur < d.Replicas; cur++ {
		c.starting = append(c.starting, now.Add(c.coldStart))
	}
	for ; cur > d.Replicas; cur-- {
		if n := len(c.starting); n > 0 {
			c.starting = c.starting[:n-1]
		} else {
			c.ready--
		}
	}
	return d
}

// run drives the cluster every 250 ms for dur; rate gives the load at
// time t since start and overloaded says whether replicas miss the SLO.
func (c *cluster) run(dur time.Duration, rate func(time.Duration) float64) {
	const capacity = 100.0
	for el := time.Duration(0); el < dur; el += DefaultInterval {
		r := rate(el)
		in := Input{Rate: r, SLO: 50 * time.Millisecond, Capacity: capacity, Min: 1, Max: 50}
		if c.counted { // the arrivals before el
			in.Arrivals = 1 + uint64(c.arrivals)
			c.arrivals += r * DefaultInterval.Seconds()
		}
		if r > float64(c.ready)*capacity { // overloaded: misses this interval
			in.Misses = int(r/4) - c.ready*int(capacity/4)
			in.QueueDelay = 50 * time.Millisecond
		}
		c.step(t0.Add(el), in)
	}
}

func TestSquareWaveNoFlapping(t *testing.T) {
	// 60 s high (500/s), 60 s low (100/s), 10 periods.
	c := &cluster{coldStart: 2 * time.Second, ready: 2}
	c.run(20*time.Minute, func(el time.Duration) float64 {
		if (el/time.Minute)%2 == 0 {
			return 500
		}
		return 100
	})
	// Per period: one step up (2 -> 6) and one step down at a time
	// (6 -> 2: 4 steps); no action inside a level otherwise.
	periods := 10
	if max := periods * (1 + 4); c.actions > max {
		for i, d := range c.log {
			if i > 0 && d.Replicas != c.log[i-1].Replicas {
				t.Logf("%v: %d %s", time.Duration(i)*DefaultInterval, d.Replicas, d.Reason)
			}
		}
		t.Errorf("%d scaling actions over %d periods, want at most %d", c.actions, periods, max)
	}
	// And it does follow the wave: low levels end at 2 replicas.
	if got := c.ready + len(c.starting); got != 2 {
		t.Errorf("ends at %d replicas, want 2", got)
	}
}

func TestSquareWaveShortLullsHeld(t *testing.T) {
	// Lulls shorter than the down window: no action after the first rise.
	half := DefaultDownWindow - time.Second
	c := &cluster{coldStart: 2 * time.Second, ready: 6}
	c.run(5*time.Minute, func(el time.Duration) float64 {
		if (el/half)%2 == 0 {
			return 500
		}
		return 100
	})
	if c.actions != 0 {
		t.Errorf("%d scaling actions, want 0", c.actions)
	}
}

func TestStepFastUp(t *testing.T) {
	// A step from 100/s to 800/s at 30 s: the rate estimate (as a 1 s
	// window would give it) ramps over a second.
	at := 30 * time.Second
	c := &cluster{coldStart: 2 * time.Second, ready: 2}
	c.run(40*time.Second, func(el time.Duration) float64 {
		switch {
		case el < at:
			return 100
		case el < at+time.Second:
			return 100 + 700*float64(el-at)/float64(time.Second)
		}
		return 800
	})
	first, enough := time.Duration(-1), time.Duration(-1)
	for i, d := range c.log {
		el := time.Duration(i) * DefaultInterval
		if el < at {
			continue
		}
		if first < 0 && d.Replicas > 2 {
			first = el - at
		}
		if enough < 0 && d.Replicas >= 8 {
			enough = el - at
		}
	}
	if first < 0 || first > time.Second {
		t.Errorf("first scale-up %v after the step, want within 1 s", first)
	}
	if enough < 0 || enough > 2*time.Second {
		t.Errorf("asked for 8 replicas %v after the step, want within 2 s", enough)
	}
}

// TestStepSurge: with arrival counts, a step from 100/s to 800/s is
// acted on in the interval that sees it, in full, although the rate
// estimate (a 1 s window) has not caught up.
func TestStepSurge(t *testing.T) {
	at := 30 * time.Second
	c := &cluster{coldStart: 2 * time.Second, ready: 2, counted: true}
	c.run(40*time.Second, func(el time.Duration) float64 {
		if el < at {
			return 100
		}
		return 800
	})
	// The count at `at` is the last before the step; at+250ms sees 250 ms
	// of it.
	d := c.log[(at+DefaultInterval)/DefaultInterval]
	if d.Reason != ReasonSurge || d.Replicas < 8 {
		t.Errorf("one interval after the step: %d (%s), want >= 8 (%s)", d.Replicas, d.Reason, ReasonSurge)
	}
	// A second later the 1 s count's bound, 800 - 3 sqrt(800) = 715/s,
	// needs 9; nothing changes after that.
	for i, d := range c.log[(at+time.Second)/DefaultInterval:] {
		if d.Replicas != 9 {
			t.Errorf("%v after the step: %d (%s), want 9", time.Second+time.Duration(i)*DefaultInterval, d.Replicas, d.Reason)
			break
		}
	}
}

// TestDecideCounts: decisions from arrival counts (Input.Arrivals) over
// the calls so far.
func TestDecideCounts(t *testing.T) {
	ms := time.Millisecond
	type call struct {
		at       time.Duration // since t0
		arrivals uint64
		rows     uint64 // 0: unknown
	}
	base := Input{SLO: 50 * ms, Capacity: 100, Min: 1, Max: 10}
	for _, tc := range []struct {
		name   string
		calls  []call // earlier calls; the last one is decided with in
		in     func(*Input)
		want   int
		reason string
	}{
		// 150/s for 750 ms, then 800/s: the 250 ms count, 200, could come
		// from (200 - 3 sqrt(200)) / 0.25 s = 630/s at least: 8 replicas.
		{"surge", []call{{0, 1000, 0}, {750 * ms, 1112, 0}, {time.Second, 1312, 0}},
			func(in *Input) { in.Rate, in.Ready = 150, 2 }, 8, ReasonSurge},
		// 330 in the last second and 115 in its last 250 ms (460/s, which
		// Rate alone would size 6 replicas for): within 3 sigmas of 4's
		// 340/s, it is noise.
		{"noise does not scale up", []call{{0, 1000, 0}, {750 * ms, 1215, 0}, {time.Second, 1330, 0}},
			func(in *Input) { in.Rate, in.Ready = 460, 4 }, 4, ReasonHold},
		{"steady count: Rate is not used", []call{{0, 1000, 0}, {time.Second, 1150, 0}},
			func(in *Input) { in.Rate, in.Ready = 350, 2 }, 2, ReasonHold},
		{"one count: Rate until a window is counted", []call{{0, 1150, 0}},
			func(in *Input) { in.Rate, in.Ready = 350, 2 }, 5, ReasonCapacity},
		{"count went back (source restarted): Rate", []call{{0, 5000, 0}, {time.Second, 150, 0}},
			func(in *Input) { in.Rate, in.Ready = 350, 2 }, 5, ReasonCapacity},
		{"from zero: Rate, not discounted", []call{{0, 1000, 0}, {time.Second, 1010, 0}},
			func(in *Input) { in.Rate, in.Ready, in.Min, in.QueueLen = 250, 0, 0, 5 }, 3, ReasonFromZero},
		// 100 requests of 8 rows in a second: 800 rows/s, sized with the
		// confidence of 100 requests, 800 x (1 - 3/10) = 560/s: 7
		// replicas. Counted as requests it would be (100 - 30)/s: 1.
		{"multi-row requests: rows are counted", []call{{0, 1000, 8000}, {time.Second, 1100, 8800}},
			func(in *Input) { in.Rate, in.Ready = 800, 2 }, 7, ReasonCapacity},
		// Rows known at one end of the window only: the count cannot say
		// how many rows came (the source began to count them), so Rate.
		{"rows known at one end only: Rate", []call{{0, 1000, 0}, {time.Second, 1100, 8800}},
			func(in *Input) { in.Rate, in.Ready = 800, 2 }, 10, ReasonCapacity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			var d Decision
			for _, c := range tc.calls {
				in := base
				in.Now, in.Arrivals, in.ArrivedRows = t0.Add(c.at), c.arrivals, c.rows
				tc.in(&in)
				d, st = Decide(Config{}, st, in)
			}
			if d.Replicas != tc.want || d.Reason != tc.reason {
				t.Errorf("Decide = %d (%s), want %d (%s)", d.Replicas, d.Reason, tc.want, tc.reason)
			}
		})
	}
}

// TestCountedLoadScalesDown: the load for scaling down is the arrivals
// counted over RateWindow, not a Rate that lags.
func TestCountedLoadScalesDown(t *testing.T) {
	var st State
	var d Decision
	n := uint64(1)
	for el := time.Duration(0); el < time.Minute; el += DefaultInterval {
		n += 30 // 120/s: 2 replicas at 75% of 100/s
		d, st = Decide(Config{}, st, Input{Now: t0.Add(el), Rate: 300, Arrivals: n, SLO: 50 * time.Millisecond, Capacity: 100, Min: 1, Max: 10, Ready: 4})
		if d.Replicas != 4 {
			break
		}
	}
	if d.Replicas != 3 || d.Reason != ReasonDown {
		t.Errorf("4 replicas at a counted 120/s: %d (%s), want 3 (%s)", d.Replicas, d.Reason, ReasonDown)
	}
}

func TestFastPathOnDelay(t *testing.T) {
	in := Input{Now: t0, Rate: 150, Ready: 2, QueueDelay: 45 * time.Millisecond, SLO: 50 * time.Millisecond, Capacity: 100, Min: 1, Max: 10}
	var st State
	var d Decision
	for i := range 3 { // 0, 250, 500 ms
		in.Now = t0.Add(time.Duration(i) * DefaultInterval)
		d, st = Decide(Config{}, st, in)
	}
	if d.Replicas != 3 || d.Reason != ReasonFastDelay {
		t.Errorf("after %v of high delay: %d (%s), want 3 (%s)", DefaultDelayHold, d.Replicas, d.Reason, ReasonFastDelay)
	}
}

func TestFastPathOnMisses(t *testing.T) {
	// The capacity estimate is wrong (replicas are slower than measured):
	// misses must add replicas, one per UpHold once the last has started.
	c := &cluster{coldStart: 500 * time.Millisecond, ready: 2}
	in := Input{Rate: 150, SLO: 50 * time.Millisecond, Capacity: 100, Min: 1, Max: 10, Misses: 5}
	var ups []time.Duration
	for el := time.Duration(0); el < 3*time.Second; el += DefaultInterval {
		before := c.ready + len(c.starting)
		if d := c.step(t0.Add(el), in); d.Replicas > before {
			ups = append(ups, el)
		}
	}
	if len(ups) < 2 || ups[0] != 0 || ups[1]-ups[0] < DefaultUpHold {
		t.Errorf("fast-path scale-ups at %v, want the first at once and then at least %v apart", ups, DefaultUpHold)
	}
}

func TestScaleDownWaits(t *testing.T) {
	c := &cluster{coldStart: time.Second, ready: 2}
	// High for 30 s (8 replicas), then low (2 needed).
	c.run(2*time.Minute, func(el time.Duration) float64 {
		if el < 30*time.Second {
			return 650
		}
		return 120
	})
	firstDown, lastDown, downs := time.Duration(-1), time.Duration(0), 0
	prev := c.log[0].Replicas
	for i, d := range c.log {
		el := time.Duration(i) * DefaultInterval
		if d.Replicas < prev {
			downs++
			if prev-d.Replicas != 1 {
				t.Errorf("at %v: down %d -> %d, want one step", el, prev, d.Replicas)
			}
			if firstDown < 0 {
				firstDown = el
			} else if el-lastDown < DefaultDownStep {
				t.Errorf("down steps %v apart, want >= %v", el-lastDown, DefaultDownStep)
			}
			lastDown = el
		}
		prev = d.Replicas
	}
	if firstDown < 30*time.Second+DefaultDownWindow {
		t.Errorf("first scale-down at %v, want after %v", firstDown, 30*time.Second+DefaultDownWindow)
	}
	if got := c.ready + len(c.starting); got != 2 {
		t.Errorf("ends at %d replicas, want 2 (120/s at 75%% of 100/s each)", got)
	}
}

func TestScaleToZero(t *testing.T) {
	c := &cluster{coldStart: time.Second, ready: 1}
	in := Input{SLO: 50 * time.Millisecond, Capacity: 100, Min: 0, Max: 4}
	var zeroAt time.Duration = -1
	for el := time.Duration(0); el < 90*time.Second; el += DefaultInterval {
		if d := c.step(t0.Add(el), in); d.Replicas == 0 && zeroAt < 0 {
			zeroAt = el
			if d.Reason != ReasonIdle {
				t.Errorf("reason %q, want %q", d.Reason, ReasonIdle)
			}
		}
	}
	if zeroAt != DefaultIdleToZero {
		t.Errorf("scaled to zero at %v, want %v", zeroAt, DefaultIdleToZero)
	}
	in.QueueLen = 1
	if d := c.step(t0.Add(90*time.Second), in); d.Replicas != 1 || d.Reason != ReasonFromZero {
		t.Errorf("a waiting request: %d (%s), want 1 (%s)", d.Replicas, d.Reason, ReasonFromZero)
	}
	// With min 1 the last replica stays.
	c = &cluster{coldStart: time.Second, ready: 1}
	in = Input{SLO: 50 * time.Millisecond, Capacity: 100, Min: 1, Max: 4}
	for el := time.Duration(0); el < 3*time.Minute; el += DefaultInterval {
		if d := c.step(t0.Add(el), in); d.Replicas != 1 {
			t.Fatalf("at %v: %d replicas with min 1", el, d.Replicas)
		}
	}
}

// TestContention: per-replica capacity falls once replicas outnumber 2
// cores; the controller scales to 3, sees no gain, and settles at 2 with
// the contention reason.
func TestContention(t *testing.T) {
	const cores, perReplica = 2, 100.0
	c := &cluster{coldStart: time.Second, ready: 1}
	var last Decision
	for el := time.Duration(0); el < time.Minute; el += DefaultInterval {
		n := c.ready
		capacity := perReplica
		if n > cores {
			capacity = perReplica * cores / float64(n)
		}
		in := Input{Rate: 260, SLO: 50 * time.Millisecond, Capacity: capacity, Min: 1, Max: 8}
		last = c.step(t0.Add(el), in)
	}
	if last.Replicas != cores || last.Reason != ReasonContention || last.Ceiling != cores {
		t.Errorf("settled at %d (%s, ceiling %d), want %d (%s)", last.Replicas, last.Reason, last.Ceiling, cores, ReasonContention)
	}
	if c.actions > 4 {
		t.Errorf("%d scaling actions, want a few", c.actions)
	}
}

func TestContentionCeiling(t *testing.T) {
	mk := func(at time.Time, totals ...float64) State {
		var st State
		for n, tot := range totals {
			if tot > 0 {
				st.seen[n+1] = seenCap{total: tot, at: at}
			}
		}
		return st
	}
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		st   State
		want int
	}{
		{"linear: none", mk(now, 100, 200, 300, 400), 0},
		{"flat after 2", mk(now, 100, 200, 200, 200), 2},
		{"falls after 2", mk(now, 100, 200, 150), 2},
		{"small gain counts as contention", mk(now, 0, 200, 220), 3},
		{"half the ideal gain is enough", mk(now, 0, 200, 260), 0},
		{"forgotten after ContentionMemory", mk(now.Add(-DefaultContentionMemory-time.Second), 100, 200, 200), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.st.ceiling(now, Config{}.withDefaults()); got != tc.want {
				t.Errorf("ceiling = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c  Config
		ok bool
	}{
		{Config{}, true},
		{Config{TargetUtilization: 0.9, DownUtilization: 0.8}, true},
		{Config{TargetUtilization: 1.2}, false},
		{Config{TargetUtilization: 0.5, DownUtilization: 0.6}, false},
		{Config{DownWindow: 10 * time.Minute}, false},
		{Config{DownStep: -1}, false},
		{Config{Sigmas: -1}, false},
		{Config{RateWindow: time.Second, SurgeWindow: 2 * time.Second}, false},
		{Config{RateWindow: 2 * time.Second, SurgeWindow: 500 * time.Millisecond}, true},
	} {
		if err := tc.c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", tc.c, err, tc.ok)
		}
	}
}
