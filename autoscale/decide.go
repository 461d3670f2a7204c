package autoscale

import (
	"errors"
	"math"
	"time"
)

// Reasons a [Decision] gives. They are stable strings: metrics and the
// status page show them.
const (
	ReasonHold       = "hold"                                           // the current count fits the load
	ReasonCapacity   = "capacity"                                       // up: the arrival rate needs more replicas
	ReasonSurge      = "capacity: surge"                                // up: the arrivals of the last interval need more replicas
	ReasonFastDelay  = "fast-up: queueing delay"                        // up one: queueing delay above DelayFactor x SLO
	ReasonFastMisses = "fast-up: SLO misses"                            // up one: requests missed the SLO in the last interval
	ReasonFromZero   = "fast-up: from zero"                             // up: requests wait and no replica exists
	ReasonStarting   = "hold: replicas starting"                        // overloaded, but replicas are on their way
	ReasonDownWait   = "down: hysteresis"                               // fewer would do, but not yet for the whole DownWindow
	ReasonDown       = "down"                                           // one fewer: fewer have sufficed for the whole DownWindow
	ReasonIdle       = "down: idle"                                     // to zero: no request for IdleToZero (min 0 only)
	ReasonAtMax      = "at max"                                         // more wanted, capped at the model's max
	ReasonAtMin      = "at min"                                         // fewer wanted, held at the model's min
	ReasonContention = "contention: more replicas stop adding capacity" // capped where measured capacity stopped growing
)

// Defaults of [Config]; each applies where the field is zero.
const (
	// DefaultTargetUtilization is the share of the replicas' capacity
	// (at the SLO-feasible batch) the load may use when scaling up:
	// replicas = ceil(rate / (0.85 x capacity)). 15% headroom absorbs
	// Poisson bursts within a 250 ms interval without paying more than
	// ~1.2x the oracle's replica-seconds; the rate estimate's own noise is
	// discounted before (see DefaultSigmas).
	DefaultTargetUtilization = 0.85
	// DefaultDownUtilization is the hysteresis band's lower edge: a count
	// is low enough to scale down to only when the load would use at most
	// 75% of it, so a rate hovering near a boundary does not flap.
	DefaultDownUtilization = 0.75
	// DefaultDownWindow is how long a lower count must have sufficed (at
	// DownUtilization, every second of the window) before one replica is
	// removed, and the least time from a scale-up to a scale-down. It
	// rides out lulls of a few seconds, and is short next to Ray's 600 s
	// and Knative's 60 s because scaling back up is quick (a surge is
	// acted on within an interval, and the warm pool's worker is ready
	// in tens of milliseconds), while capacity held through the lulls of
	// a bursty load is paid for in full: on the simulator's Poisson
	// bursts (10 s at 8x the base, a minute apart on average) a 20 s
	// window paid ~0.3x the oracle's replica-seconds more than 5 s for
	// ~0.4% more of the requests within the SLO, since memoryless
	// bursts rarely come back within any such window.
	DefaultDownWindow = 5 * time.Second
	// DefaultDownStep is the least time between two scaling events when
	// scaling down: one replica at a time, so a mistaken estimate costs one
	// replica's cold start, not many.
	DefaultDownStep = 2 * time.Second
	// DefaultUpHold is the least time between two fast-path steps (one
	// replica each), so that the effect of one is measured before the next.
	DefaultUpHold = time.Second
	// DefaultDelayFactor: queueing delay above 80% of the SLO, held for
	// DelayHold, means the replicas no longer keep up. At capacity a
	// request waits about one batch time (SLO/2, see BatchBudget), but
	// batching.SLOPolicy deliberately holds requests for a larger batch up
	// to their deadline, so delay alone between SLO/2 and the SLO is not
	// overload (the simulator showed false fast-ups at 0.5).
	DefaultDelayFactor = 0.8
	// DefaultDelayHold is how long the delay must stay high (misses act
	// at once).
	DefaultDelayHold = 500 * time.Millisecond
	// DefaultIdleToZero is how long a model with min 0 must see no request
	// before its last replica goes (Knative's default grace is 30 s plus
	// its 60 s stable window).
	DefaultIdleToZero = 60 * time.Second
	// DefaultContentionGain: going from n to m replicas must add at least
	// half the ideal capacity gain, (m-n)/n, or the larger count is
	// contended (e.g. more CPU replicas than cores).
	DefaultContentionGain = 0.5
	// DefaultContentionMemory is how long a capacity measurement at a
	// replica count is trusted; after it the controller may try again.
	DefaultContentionMemory = 5 * time.Minute
	// DefaultRateWindow and DefaultSurgeWindow are the two windows over
	// which Decide counts arrivals (Input.Arrivals and ArrivedRows) for
	// scaling up: about a second, for a steady estimate, and the last
	// interval, to act on a surge within one interval of seeing it.
	DefaultRateWindow  = time.Second
	DefaultSurgeWindow = 200 * time.Millisecond
	// DefaultSigmas is how sure a count of arrivals must be before it
	// scales up: arrivals are about Poisson, so n requests counted in a
	// window could come from a rate as low as (n - Sigmas x sqrt(n)) /
	// window, and that lower bound is what is sized for (scaled to the
	// rows counted: r rows in n requests size for r x (1 - Sigmas /
	// sqrt(n)) / window). A rate that only fluctuates above a count's
	// TargetUtilization then does not add a replica (which
	// DownUtilization's hysteresis would keep), while a step is acted on
	// from the first interval that sees it.
	DefaultSigmas = 3.0
)

// Config holds the decision function's constants; the zero value means
// the documented defaults.
type Config struct {
	TargetUtilization float64
	DownUtilization   float64
	DownWindow        time.Duration // at most MaxDownWindow
	DownStep          time.Duration
	UpHold            time.Duration
	DelayFactor       float64
	DelayHold         time.Duration
	IdleToZero        time.Duration
	ContentionGain    float64
	ContentionMemory  time.Duration
	RateWindow        time.Duration // arrivals (and their rows) counted for the steady rate
	SurgeWindow       time.Duration // and for a surge; at most RateWindow
	Sigmas            float64       // the counts' confidence bound, in Poisson standard deviations
}

// MaxDownWindow bounds Config.DownWindow (the state keeps one slot per
// second of it).
const MaxDownWindow = peakSlots * time.Second

// Validate reports a config outside its ranges.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.TargetUtilization <= 0 || c.TargetUtilization > 1:
		return errors.New("autoscale: target utilization must be in (0, 1]")
	case c.DownUtilization <= 0 || c.DownUtilization > c.TargetUtilization:
		return errors.New("autoscale: down utilization must be in (0, target utilization]")
	case c.DownWindow > MaxDownWindow:
		return errors.New("autoscale: down window above MaxDownWindow")
	case c.DownWindow < 0 || c.DownStep < 0 || c.DelayHold < 0 || c.UpHold < 0 || c.IdleToZero < 0 || c.ContentionMemory < 0:
		return errors.New("autoscale: negative duration")
	case c.DelayFactor < 0 || c.ContentionGain < 0 || c.Sigmas < 0:
		return errors.New("autoscale: negative factor")
	case c.RateWindow < 0 || c.SurgeWindow < 0 || c.SurgeWindow > c.RateWindow:
		return errors.New("autoscale: surge window must be in [0, rate window]")
	}
	return nil
}

func (c Config) withDefaults() Config {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.TargetUtilization, DefaultTargetUtilization)
	def(&c.DownUtilization, min(DefaultDownUtilization, c.TargetUtilization))
	def(&c.DelayFactor, DefaultDelayFactor)
	def(&c.ContentionGain, DefaultContentionGain)
	defD(&c.DownWindow, DefaultDownWindow)
	defD(&c.DownStep, DefaultDownStep)
	defD(&c.UpHold, DefaultUpHold)
	defD(&c.DelayHold, DefaultDelayHold)
	defD(&c.IdleToZero, DefaultIdleToZero)
	defD(&c.ContentionMemory, DefaultContentionMemory)
	defD(&c.RateWindow, DefaultRateWindow)
	defD(&c.SurgeWindow, min(DefaultSurgeWindow, c.RateWindow))
	def(&c.Sigmas, DefaultSigmas)
	return c
}

// Input is what the decision sees of one model, every interval (~250 ms).
type Input struct {
	Now time.Time
	// Rate is the recent arrival rate (about the last second) in rows per
	// second, the unit of Capacity: a request of n rows counts n.
	Rate float64
	// Arrivals counts the requests that arrived since the source started
	// counting, refused ones too (batching.QueueStats.Arrivals); 0 when
	// unknown. Decide measures from it the arrivals of its last interval,
	// so that it sees a surge before Rate has caught up with it.
	Arrivals uint64
	// ArrivedRows counts those requests' rows
	// (batching.QueueStats.ArrivedRows); 0 when unknown, and then every
	// request counts as one row. Decide sizes for the rows counted and
	// takes its confidence in them from the requests: a count of k
	// requests of m rows each is as noisy as k, not k x m.
	ArrivedRows uint64
	QueueLen    int           // requests waiting at the frontend
	QueueDelay  time.Duration // high quantile (p99 or max) of queueing delay in the last interval
	Misses      int           // requests that missed the SLO (late or shed) in the last interval
	SLO         time.Duration // the model's latency SLO
	Ready       int           // replicas serving
	Starting    int           // replicas asked for and not ready yet
	// Capacity is one ready replica's measured throughput in rows per
	// second at its SLO-feasible batch size ([Capacity] of its latency
	// profile); 0 when unknown.
	Capacity float64
	Min, Max int // replica bounds; Max 0: none; Min 0 allows scale to zero
}

// Decision is the desired replica count and why.
type Decision struct {
	Replicas int
	Reason   string
	// Need is the count the arrival rate needs at TargetUtilization (the
	// capacity-based estimate, before hysteresis and bounds).
	Need int
	// Ceiling is the contention ceiling (0: none known).
	Ceiling int
}

// State is what the decision carries from one call to the next, for one
// model. The zero value is a model seen for the first time. It is a value
// (arrays, no pointers): Decide returns an updated copy.
type State struct {
	Since     time.Time // first decision
	LastUp    time.Time // last decision that raised the count
	LastDown  time.Time // last decision that lowered it
	IdleSince time.Time // since when no request arrived or waited (zero: busy)
	// ReadyChanged is when the ready count last changed: misses and delay
	// from before are not evidence against the new count.
	ReadyChanged time.Time
	DelayHigh    time.Time // since when the queueing delay is above DelayFactor x SLO (zero: not)
	ready        int
	peaks        [peakSlots]peak
	seen         [maxTracked]seenCap
	counts       [countSlots]count // Input.Arrivals and ArrivedRows of the last calls
	nextCount    int
}

const (
	peakSlots  = 128 // seconds of need history
	maxTracked = 64  // replica counts whose capacity is remembered
	countSlots = 32  // arrival counts remembered (8 s at 250 ms)
)

// count is Input.Arrivals and Input.ArrivedRows at a time.
type count struct {
	at   time.Time
	n    uint64
	rows uint64
}

// peak is the largest count needed (at DownUtilization) in one second.
type peak struct {
	sec  int64 // Unix second + 1; 0: empty
	need int
}

// seenCap is the total capacity measured with n ready replicas.
type seenCap struct {
	total float64
	at    time.Time
}

// Decide returns the desired replica count for one model and the state
// for the next call. It is a pure function.
//
// Policy, in order: from zero, any waiting request starts max(need, 1)
// replicas; capacity-based, need = ceil(rate / (TargetUtilization x
// capacity)) and a need above the current count (ready + starting) is
// acted on at once, where rate is, when Input.Arrivals counts arrivals,
// the larger of the lower confidence bounds (Sigmas, on the requests
// counted) of the rates of rows counted over RateWindow and over
// SurgeWindow (so a step is acted on in the interval that sees it, and
// Poisson noise does not add replicas), and otherwise Input.Rate; the
// fast path adds one replica when the queueing delay or SLO misses say
// the replicas do not keep up although the estimate says they should
// (not while replicas are starting, and no sooner than UpHold after the
// last scale-up or change of the ready count); down, one replica at a
// time, DownStep apart, no sooner than DownWindow after the last
// scale-up, and only when the count minus one would have served the
// largest load of every second of the last DownWindow at DownUtilization
// (the load: rows counted over RateWindow, or Input.Rate); to zero after
// IdleToZero without requests when Min is 0. The result is capped at
// the contention ceiling (the smallest count that reached the largest
// measured total capacity at the best per-replica capacity, once some
// larger count was measured to add less than ContentionGain of its ideal
// gain) and clamped to [Min, Max].
func Decide(cfg Config, st State, in Input) (Decision, State) {
	cfg = cfg.withDefaults()
	now := in.Now
	if st.Since.IsZero() {
		st.Since, st.ready = now, in.Ready
	} else if in.Ready != st.ready {
		st.ReadyChanged, st.ready = now, in.Ready
	}
	lo, hi := max(in.Min, 0), in.Max
	if hi > 0 && hi < lo {
		hi = lo
	}
	cur := in.Ready + in.Starting

	if in.Starting == 0 && in.Ready > 0 && in.Ready < maxTracked && in.Capacity > 0 {
		st.seen[in.Ready] = seenCap{total: float64(in.Ready) * in.Capacity, at: now}
	}
	ceiling := st.ceiling(now, cfg)

	// The rate scaled up for: the lower confidence bound of the arrivals
	// counted over RateWindow (Rate until there is a count that old),
	// or over SurgeWindow where that is higher.
	// The load of the last second, for scaling down, is the arrivals
	// counted over RateWindow, too.
	upRate, downRate, surge := in.Rate, in.Rate, false
	if r, ok := st.countRate(now, in.Arrivals, in.ArrivedRows, cfg.RateWindow, cfg.Sigmas); ok {
		upRate = r
		downRate, _ = st.countRate(now, in.Arrivals, in.ArrivedRows, cfg.RateWindow, 0)
	}
	if r, ok := st.countRate(now, in.Arrivals, in.ArrivedRows, cfg.SurgeWindow, cfg.Sigmas); ok && r > upRate {
		upRate, surge = r, true
	}
	st.recordCount(now, in.Arrivals, in.ArrivedRows)

	need, needDown := cur, cur // unknown capacity: the estimate holds
	if in.Capacity > 0 {
		need = ceilRatio(upRate, cfg.TargetUtilization*in.Capacity)
		needDown = ceilRatio(downRate, cfg.DownUtilization*in.Capacity)
	}
	st.recordPeak(now, max(need, needDown))

	busy := in.Rate > 0 || in.QueueLen > 0
	if busy {
		st.IdleSince = time.Time{}
	} else if st.IdleSince.IsZero() {
		st.IdleSince = now
	}
	overload := ""
	if in.SLO > 0 && in.QueueDelay > time.Duration(cfg.DelayFactor*float64(in.SLO)) {
		if st.DelayHigh.IsZero() {
			st.DelayHigh = now
		}
	} else {
		st.DelayHigh = time.Time{}
	}
	if in.Misses > 0 {
		overload = ReasonFastMisses
	} else if !st.DelayHigh.IsZero() && now.Sub(st.DelayHigh) >= cfg.DelayHold {
		overload = ReasonFastDelay
	}

	desired, reason := cur, ReasonHold
	switch {
	case cur == 0:
		if busy {
			desired, reason = max(need, needFromZero(in, cfg), 1), ReasonFromZero
		}
	case need > cur:
		desired, reason = need, ReasonCapacity
		if surge {
			reason = ReasonSurge
		}
	case overload != "" && in.Starting == 0 && now.Sub(st.LastUp) >= cfg.UpHold && now.Sub(st.ReadyChanged) >= cfg.UpHold:
		desired, reason = cur+1, overload
	case overload != "":
		reason = ReasonStarting
	case lo == 0 && !busy && now.Sub(st.IdleSince) >= cfg.IdleToZero:
		desired, reason = 0, ReasonIdle
	case cur > max(lo, 1) && st.peak(now, cfg.DownWindow) < cur:
		reason = ReasonDownWait
		if now.Sub(st.Since) >= cfg.DownWindow && now.Sub(st.LastUp) >= cfg.DownWindow && now.Sub(st.LastDown) >= cfg.DownStep {
			desired, reason = cur-1, ReasonDown
		}
	}

	if ceiling > 0 && desired > ceiling && desired > lo {
		desired, reason = max(ceiling, lo), ReasonContention
	}
	if hi > 0 && desired > hi {
		desired, reason = hi, ReasonAtMax
	}
	if desired < lo {
		desired, reason = lo, ReasonAtMin
	}
	switch {
	case desired > cur:
		st.LastUp = now
	case desired < cur:
		st.LastDown = now
	}
	return Decision{Replicas: desired, Reason: reason, Need: need, Ceiling: ceiling}, st
}

// needFromZero is the count Input.Rate needs at TargetUtilization: with
// no replica and requests held, the estimate is not discounted for noise.
func needFromZero(in Input, cfg Config) int {
	if in.Capacity <= 0 {
		return 0
	}
	return ceilRatio(in.Rate, cfg.TargetUtilization*in.Capacity)
}

// ceilRatio is ceil(a/b) for a >= 0, b > 0, with a little tolerance so
// that a load of exactly n replicas' worth needs n.
func ceilRatio(a, b float64) int {
	if a <= 0 {
		return 0
	}
	return int(math.Ceil(a/b - 1e-9))
}

// recordCount remembers an arrival count and its rows (n 0: unknown, not
// kept); a count below the last one (the source restarted) forgets the
// older ones.
func (st *State) recordCount(now time.Time, n, rows uint64) {
	if n == 0 {
		return
	}
	last := st.counts[(st.nextCount+countSlots-1)%countSlots]
	if n < last.n || rows < last.rows {
		st.counts = [countSlots]count{}
	}
	st.counts[st.nextCount] = count{at: now, n: n, rows: rows}
	st.nextCount = (st.nextCount + 1) % countSlots
}

// countRate is the lower confidence bound of the arrival rate in rows per
// second from the k requests and r rows counted over the last t >= window
// (the newest remembered count at least window old): r x (1 - sigmas /
// sqrt(k)) / t, which is (k - sigmas x sqrt(k)) / t for single-row
// requests (rows 0: unknown, each request one row); false when there is
// none, or the count is unknown or went back.
func (st *State) countRate(now time.Time, n, rows uint64, window time.Duration, sigmas float64) (float64, bool) {
	if n == 0 {
		return 0, false
	}
	var best count
	for _, c := range st.counts {
		if !c.at.IsZero() && now.Sub(c.at) >= window && c.at.After(best.at) {
			best = c
		}
	}
	if best.at.IsZero() || n < best.n || rows < best.rows || (rows > 0) != (best.rows > 0) {
		return 0, false // none, went back, or rows known at one end only
	}
	k := float64(n - best.n)
	r := k // rows unknown: one per request
	if rows > 0 {
		r = float64(rows - best.rows)
	}
	if k == 0 {
		return 0, true
	}
	return r * max(0, 1-sigmas/math.Sqrt(k)) / now.Sub(best.at).Seconds(), true
}

func (st *State) recordPeak(now time.Time, need int) {
	sec := now.Unix() + 1
	p := &st.peaks[sec%peakSlots]
	if p.sec != sec {
		*p = peak{sec: sec}
	}
	p.need = max(p.need, need)
}

// peak is the largest need recorded in the last window (whole seconds).
func (st *State) peak(now time.Time, window time.Duration) int {
	sec := now.Unix() + 1
	span := int64(window/time.Second) + 1 // whole seconds: the window plus the current, partial one
	m := 0
	for _, p := range st.peaks {
		if p.sec > sec-span && p.sec <= sec {
			m = max(m, p.need)
		}
	}
	return m
}

// ceiling returns the contention ceiling, 0 when no contention is known.
func (st *State) ceiling(now time.Time, cfg Config) int {
	fresh := func(n int) bool {
		s := st.seen[n]
		return !s.at.IsZero() && now.Sub(s.at) <= cfg.ContentionMemory
	}
	contended, best, each := false, 0.0, 0.0
	for n := 1; n < maxTracked; n++ {
		if !fresh(n) {
			continue
		}
		best = max(best, st.seen[n].total)
		each = max(each, st.seen[n].total/float64(n))
		for m := n + 1; m < maxTracked && !contended; m++ {
			ideal := float64(m-n) / float64(n)
			if fresh(m) && st.seen[m].total < st.seen[n].total*(1+cfg.ContentionGain*ideal) {
				contended = true
			}
		}
	}
	if !contended {
		return 0
	}
	// The fewest replicas that reach (95% of) the best total measured at
	// the best per-replica capacity measured: counts skipped by a jump
	// are estimated, not probed.
	return max(1, ceilRatio(0.95*best, each))
}
