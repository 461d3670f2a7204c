package autoscale

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	c   chan time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Tick(time.Duration) (<-chan time.Time, func()) { return f.c, func() {} }

// advance moves the clock and delivers one tick (the loop takes it when
// it is ready: the channel is unbuffered).
func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	f.mu.Unlock()
	f.c <- now
}

// fakeSource answers each Inputs call with what the test sends next.
type fakeSource struct{ next chan sourceReply }

type sourceReply struct {
	inputs []ModelInput
	err    error
}

func (s *fakeSource) Inputs(time.Time) ([]ModelInput, error) {
	r := <-s.next
	return r.inputs, r.err
}

type scaleCall struct {
	model string
	n     int
}

type fakeProvisioner struct{ calls chan scaleCall }

func (p *fakeProvisioner) ScaleTo(_ context.Context, model string, n int) error {
	p.calls <- scaleCall{model, n}
	return nil
}

func TestController(t *testing.T) {
	clock := &fakeClock{now: t0, c: make(chan time.Time)}
	src := &fakeSource{next: make(chan sourceReply)}
	prov := &fakeProvisioner{calls: make(chan scaleCall, 16)}
	decisions := make(chan string, 64)
	c := &Controller{Source: src, Provisioner: prov, Clock: clock,
		OnDecision: func(model string, in Input, d Decision) { decisions <- model + ":" + d.Reason }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	base := Input{SLO: 50 * time.Millisecond, Capacity: 100, Min: 1, Max: 8}
	in := func(rate float64, ready int) Input { i := base; i.Rate, i.Ready = rate, ready; return i }

	// round runs one tick with these inputs.
	round := func(inputs []ModelInput, err error) {
		clock.advance(DefaultInterval)
		src.next <- sourceReply{inputs, err}
	}
	// Two models: one needs 3 more, one fits.
	round([]ModelInput{{"a", in(400, 2)}, {"b", in(50, 1)}}, nil)
	if got := <-prov.calls; got != (scaleCall{"a", 5}) {
		t.Errorf("ScaleTo %v, want a to 5", got)
	}
	if a, b := <-decisions, <-decisions; a != "a:"+ReasonCapacity || b != "b:"+ReasonHold {
		t.Errorf("OnDecision saw %q, %q", a, b)
	}
	// A failing source skips the round; the next tick goes on.
	round(nil, errors.New("scrape failed"))
	round([]ModelInput{{"a", in(400, 5)}, {"b", in(500, 1)}}, nil)
	if got := <-prov.calls; got != (scaleCall{"b", 6}) {
		t.Errorf("ScaleTo %v, want b to 6", got)
	}
	// The provisioner's count shows up as starting replicas: no new call.
	starting := in(500, 1)
	starting.Starting = 5
	round([]ModelInput{{"a", in(400, 5)}, {"b", starting}}, nil)
	clock.advance(DefaultInterval) // the loop is back at select: the rounds above are finished
	st := c.Status()
	if st["a"].Replicas != 5 || st["a"].Reason != ReasonHold || st["b"].Replicas != 6 || st["b"].Reason != ReasonHold {
		t.Errorf("Status = %+v", st)
	}
	cancel()
	src.next <- sourceReply{} // the last tick's round
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	select {
	case got := <-prov.calls:
		t.Errorf("unexpected ScaleTo %v", got)
	default:
	}
}

// TestControllerWake: Wake runs a round at once, between ticks; a second
// Wake before the next tick is dropped; after a tick Wake works again.
func TestControllerWake(t *testing.T) {
	r := newRig(nil)
	c, src, prov, clock := r.c, r.src, r.prov, r.clock
	c.Wake() // before Run: kept for Run
	r.start()

	waiting := Input{Min: 0, Max: 2, QueueLen: 1} // a request waits, no replica
	src.next <- sourceReply{inputs: []ModelInput{{"a", waiting}}}
	if got := <-prov.calls; got != (scaleCall{"a", 1}) {
		t.Errorf("woken round: ScaleTo %v, want a to 1", got)
	}
	// Dropped until the next tick: no round asks the source (it would block).
	c.Wake()
	c.Wake()
	clock.advance(DefaultInterval)
	src.next <- sourceReply{inputs: []ModelInput{{"a", Input{Min: 0, Max: 2, Starting: 1}}}}
	c.Wake()
	src.next <- sourceReply{inputs: []ModelInput{{"a", Input{Min: 0, Max: 2, Starting: 1}}}}
	r.stop(t)
}

// TestWokenRoundLeavesStartingModelsAlone: a woken round decides for the
// models with no replica starting; one whose replicas are starting waits
// for the next tick, which decides for it as usual; and one whose count
// a round changed less than an interval ago waits too.
func TestWokenRoundLeavesStartingModelsAlone(t *testing.T) {
	decided := make(chan string, 16)
	r := newRig(func(model string, _ Input, _ Decision) { decided <- model })
	c, src, prov, clock := r.c, r.src, r.prov, r.clock
	r.start()

	// Both need 4 replicas; a has 1 ready and 1 starting, b 2 ready.
	load := Input{SLO: 50 * time.Millisecond, Capacity: 100, Min: 1, Max: 8, Rate: 300}
	a, b := load, load
	a.Ready, a.Starting, b.Ready = 1, 1, 2
	inputs := []ModelInput{{"a", a}, {"b", b}}
	c.Wake()
	src.next <- sourceReply{inputs: inputs}
	if got := <-prov.calls; got != (scaleCall{"b", 4}) {
		t.Errorf("woken round: ScaleTo %v, want b to 4", got)
	}
	clock.advance(DefaultInterval)
	src.next <- sourceReply{inputs: inputs}
	if got := <-prov.calls; got != (scaleCall{"a", 4}) {
		t.Errorf("tick: ScaleTo %v, want a to 4", got)
	}
	<-prov.calls // b again: the fake provisioner's count never shows up
	// Both were just scaled: a woken round at the same instant leaves
	// them to the next tick.
	c.Wake()
	a.Starting = 0
	feed(t, src, []ModelInput{{"a", a}, {"b", b}})
	clock.advance(DefaultInterval) // the loop is back at select: the woken round is done
	feed(t, src, nil)
	r.stop(t)
	close(decided)
	var seen []string
	for m := range decided {
		seen = append(seen, m)
	}
	if want := []string{"b", "a", "b"}; !slices.Equal(seen, want) {
		t.Errorf("decisions for %v, want %v (none for a in the first woken round, none in the second)", seen, want)
	}
}

// TestNudgeDoesNotHoldUpWake: admission's Nudges get their own round
// between two ticks, and a second Nudge waits for the next tick; a Wake
// (a request waiting for a model with no replica) still gets its round
// at once after a nudged one. A woken round's skipped misses count in
// the model's next decision.
func TestNudgeDoesNotHoldUpWake(t *testing.T) {
	misses := make(chan int, 16)
	r := newRig(func(_ string, in Input, _ Decision) { misses <- in.Misses })
	c, src, prov, clock := r.c, r.src, r.prov, r.clock
	r.start()

	c.Nudge()
	starting := Input{Min: 1, Max: 4, Ready: 1, Starting: 1, Misses: 3}
	feed(t, src, []ModelInput{{"busy", starting}}) // skipped
	c.Nudge()                                      // dropped until the tick
	c.Wake()
	feed(t, src, []ModelInput{{"cold", Input{Min: 0, Max: 2, QueueLen: 1}}})
	if got := <-prov.calls; got != (scaleCall{"cold", 1}) {
		t.Errorf("woken round after a nudged one: ScaleTo %v, want cold to 1", got)
	}
	clock.advance(DefaultInterval)
	feed(t, src, []ModelInput{{"busy", Input{Min: 1, Max: 4, Ready: 2, Misses: 1}}})
	if got := <-prov.calls; got != (scaleCall{"busy", 3}) { // the misses' fast path
		t.Errorf("tick: ScaleTo %v, want busy to 3", got)
	}
	// The loop is back at select once the tick's round is done: the
	// dropped Nudge did not ask for a round of its own (it would block
	// on the source), and the busy model's decision saw 3 + 1 misses.
	clock.advance(DefaultInterval)
	feed(t, src, nil)
	r.stop(t)
	<-misses // the cold model's
	if got := <-misses; got != 4 {
		t.Errorf("the busy model's decision saw %d misses, want 4 (3 carried from the skipped round)", got)
	}
}

// feed answers the controller's next Inputs call, or fails the test if
// no round asks within 5 s.
func feed(t *testing.T, src *fakeSource, inputs []ModelInput) {
	t.Helper()
	select {
	case src.next <- sourceReply{inputs: inputs}:
	case <-time.After(5 * time.Second):
		t.Fatal("no round asked for the inputs")
	}
}

// rig is a Controller with a fake clock, source and provisioner, whose
// Run goes on its own goroutine from start to stop.
type rig struct {
	clock  *fakeClock
	src    *fakeSource
	prov   *fakeProvisioner
	c      *Controller
	cancel context.CancelFunc
	done   chan error
}

func newRig(onDecision func(string, Input, Decision)) *rig {
	r := &rig{clock: &fakeClock{now: t0, c: make(chan time.Time)}, src: &fakeSource{next: make(chan sourceReply)},
		prov: &fakeProvisioner{calls: make(chan scaleCall, 16)}, done: make(chan error, 1)}
	r.c = &Controller{Source: r.src, Provisioner: r.prov, Clock: r.clock, OnDecision: onDecision}
	return r
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.c.Run(ctx) }()
}

// stop ends Run, which must return context.Canceled, and checks that the
// provisioner was asked for nothing the test did not take.
func (r *rig) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	select {
	case got := <-r.prov.calls:
		t.Errorf("unexpected ScaleTo %v", got)
	default:
	}
}
