package autoscale

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often the controller decides.
const DefaultInterval = 250 * time.Millisecond

// ModelInput is one model's metrics for a decision.
type ModelInput struct {
	Model string
	Input
}

// Source gives the controller every model's current metrics. Inputs is
// called from the controller's goroutine only.
type Source interface {
	Inputs(now time.Time) ([]ModelInput, error)
}

// Provisioner makes replicas come and go. ScaleTo asks for n replicas of
// a model (ready or starting); it must not block for a replica's start:
// the count it reaches shows up in later Inputs (Ready, Starting), and
// replicas it removes drain their requests before they leave.
type Provisioner interface {
	ScaleTo(ctx context.Context, model string, n int) error
}

// Clock is time for the controller; tests use a fake one.
type Clock interface {
	Now() time.Time
	// Tick returns a channel that receives every d, and a stop function.
	Tick(d time.Duration) (<-chan time.Time, func())
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// Tick implements Clock.
func (SystemClock) Tick(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Controller runs the decision for every model every Interval. Set the
// fields before Run; Run is one goroutine, Status may be called from any.
type Controller struct {
	Source      Source
	Provisioner Provisioner
	Config      Config
	Interval    time.Duration // 0: DefaultInterval
	Clock       Clock         // nil: SystemClock
	Log         *slog.Logger  // nil: slog.Default()
	// OnDecision, if set, sees every decision with its input (metrics,
	// status pages), on Run's goroutine, before the provisioner is told.
	OnDecision func(model string, in Input, d Decision)

	states map[string]*State // owned by Run's goroutine
	// carried holds, per model, the misses a woken round read but did not
	// decide on (replicas starting); the next decision adds them. Owned
	// by Run's goroutine.
	carried map[string]int
	// scaled is, per model, when a round last asked the provisioner for
	// a new count. Owned by Run's goroutine.
	scaled map[string]time.Time

	chanOnce sync.Once     // makes wake and nudge
	wake     chan struct{} // buffered (1): Wake's request for a round now
	nudge    chan struct{} // buffered (1): Nudge's request for a round now

	mu     sync.Mutex // guards status
	status map[string]Decision
}

// Run decides every Interval until ctx ends; it returns ctx's error.
func (c *Controller) Run(ctx context.Context) error {
	clock := c.Clock
	if clock == nil {
		clock = SystemClock{}
	}
	tick, stop := clock.Tick(c.interval())
	defer stop()
	wake, nudge := c.chans()
	// wakeOn and nudgeOn are their channels until a round they asked for
	// runs, then nil until the next tick: Wakes and Nudges in between find
	// their channel full and return at once, without a lock or waking
	// this goroutine (admission may Nudge for every refusal under
	// overload). The tick's round covers whatever asked before it.
	wakeOn, nudgeOn := wake, nudge
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			drain(wake)
			drain(nudge)
			wakeOn, nudgeOn = wake, nudge
			c.step(ctx, clock.Now(), false)
		case <-wakeOn:
			wakeOn = nil
			c.step(ctx, clock.Now(), true)
		case <-nudgeOn:
			nudgeOn = nil
			c.step(ctx, clock.Now(), true)
		}
	}
}

func (c *Controller) interval() time.Duration {
	if c.Interval <= 0 {
		return DefaultInterval
	}
	return c.Interval
}

// drain empties a one-slot channel.
func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// Wake asks Run for a round now rather than at the next tick: a request
// waits for a model with no replica, so that a scale from zero does not
// wait up to an Interval for its decision. At most one woken round runs
// between two ticks (the rest are dropped: the first has already asked
// for the replicas the queue needs, and windowed rates stay at least an
// interval wide), whatever Nudge does. A woken round, like a nudged one,
// leaves alone the models with replicas starting or whose count a round
// changed less than an Interval ago: the change is on its way, and the
// count it reaches is what the next tick should measure (deciding again
// before, on a capacity estimate from the old count, is how nudged
// rounds scaled into CPU contention in the simulator); their misses
// count in their next decision. It never blocks and may be called from
// any goroutine, before or during Run.
func (c *Controller) Wake() {
	wake, _ := c.chans()
	poke(wake)
}

// Nudge asks Run for a round now because admission refused a request for
// want of capacity, so that overload is acted on within milliseconds. At
// most one nudged round runs between two ticks, apart from Wake's: a
// scale from zero is never held up by overload elsewhere. It never blocks
// and may be called from any goroutine, before or during Run; between a
// nudged round and the next tick it is a failed send on a full channel.
func (c *Controller) Nudge() {
	_, nudge := c.chans()
	poke(nudge)
}

// poke sends on a one-slot channel unless it is full.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *Controller) chans() (wake, nudge chan struct{}) {
	c.chanOnce.Do(func() { c.wake, c.nudge = make(chan struct{}, 1), make(chan struct{}, 1) })
	return c.wake, c.nudge
}

// Step is one round: read the inputs, decide per model, and ask the
// provisioner for each count that changed. Run calls it; it is exported
// for tests and must not run concurrently with Run.
func (c *Controller) Step(ctx context.Context, now time.Time) { c.step(ctx, now, false) }

// step is Step; a woken round skips the models with replicas starting or
// scaled less than an interval ago.
func (c *Controller) step(ctx context.Context, now time.Time, woken bool) {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	inputs, err := c.Source.Inputs(now)
	if err != nil {
		log.Warn("autoscale: reading metrics", "err", err)
		return
	}
	if c.states == nil {
		c.states = make(map[string]*State)
	}
	for _, mi := range inputs {
		if woken && (mi.Starting > 0 || now.Sub(c.scaled[mi.Model]) < c.interval()) {
			if c.carried == nil {
				c.carried = make(map[string]int)
			}
			c.carried[mi.Model] += mi.Misses
			continue
		}
		st := c.states[mi.Model]
		if st == nil {
			st = new(State)
			c.states[mi.Model] = st
		}
		in := mi.Input
		in.Now = now
		if n := c.carried[mi.Model]; n > 0 {
			in.Misses += n
			delete(c.carried, mi.Model)
		}
		d, next := Decide(c.Config, *st, in)
		*st = next
		c.setStatus(mi.Model, d)
		if c.OnDecision != nil {
			c.OnDecision(mi.Model, in, d)
		}
		if cur := in.Ready + in.Starting; d.Replicas != cur {
			log.Info("autoscale", "model", mi.Model, "from", cur, "to", d.Replicas, "reason", d.Reason)
			if c.scaled == nil {
				c.scaled = make(map[string]time.Time)
			}
			c.scaled[mi.Model] = now
			if err := c.Provisioner.ScaleTo(ctx, mi.Model, d.Replicas); err != nil {
				log.Warn("autoscale: scaling", "model", mi.Model, "to", d.Replicas, "err", err)
			}
		}
	}
}

func (c *Controller) setStatus(model string, d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == nil {
		c.status = make(map[string]Decision)
	}
	c.status[model] = d
}

// Status returns the last decision for each model.
func (c *Controller) Status() map[string]Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Decision, len(c.status))
	for m, d := range c.status {
		out[m] = d
	}
	return out
}
