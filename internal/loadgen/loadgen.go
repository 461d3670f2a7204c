// Package loadgen is the open-loop load generator behind `gannet bench`.
//
// Requests are sent at their scheduled times whatever the number of
// requests outstanding (no coordinated omission): a pacer goroutine hands
// each request, when its time comes, to an idle sender goroutine or starts a
// new one, up to a bound on requests in flight (past it, a request is
// counted as an "overload" error, never delayed). Latency is measured from
// the scheduled send time, so a late send (the generator's own lag, reported
// apart) counts against the server, not in its favour.
//
// Schedules come from arrival processes (Arrivals: constant, Poisson, a
// linear rate ramp, a trace file); transports are HTTP with JSON bodies,
// HTTP with Triton's binary tensor extension (fasthttp's client, bodies
// built once and reused) and the ZeroMQ SDK (package client). Summarize
// turns the samples into exact percentiles, throughput, goodput at an SLO
// and errors by kind; WritePlots draws them; MeasureBatches times a model
// run in process, per batch size.
package loadgen

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Transport sends requests somewhere.
type Transport interface {
	// NewSender returns a sender for the use of one goroutine.
	NewSender() (Sender, error)
	Close() error
}

// Sender sends one request at a time.
type Sender interface {
	// Send sends request i of the schedule (it picks its input by i) and
	// waits for the answer until deadline. It returns kind "" for an answer
	// OK, else an error kind and, for a refusal by the server (HTTP 503,
	// SDK unavailable or deadline), the server's message (read before the
	// next Send only; see ErrorMessage).
	Send(i int, deadline time.Time) (kind string, reason []byte)
}

// Config is one run.
type Config struct {
	Schedule []int64 // send times, ns from the start, ascending
	Warm     int     // the first Warm requests are warm-up, not measured
	Start    int64   // where the measured window starts, ns from the start
	Duration time.Duration
	// MaxInflight bounds the requests outstanding (and sender goroutines);
	// 0 means 4096.
	MaxInflight int
	// ClientTimeout is how long a request is waited for, from its
	// scheduled time; 0 means 10 s.
	ClientTimeout time.Duration
	Transport     Transport
	// Spin makes send times precise: Go's timers wake up to about a
	// millisecond late on Linux, so the pacer sleeps until a millisecond
	// before a request's time and spins (yielding) the rest, at the cost of
	// CPU (up to a core at rates over 1000/s). Without it, requests are
	// sent up to about a millisecond late, all those due at once; the lag
	// is reported either way.
	Spin bool
	// Progress, if set, is called about 4 times a second with the counts
	// so far, and once at the end.
	Progress func(Progress)
}

// Progress is a run's state.
type Progress struct {
	Elapsed, Total time.Duration
	Sent, Done     int64
	Errors         int64
	Inflight       int64
	Final          bool
}

// Run is a finished run: its schedule and one sample per request.
type Run struct {
	Schedule    []int64
	Samples     []Sample
	Warm        int
	Start       int64
	Duration    time.Duration
	MaxInflight int           // most requests outstanding at once
	CPU         time.Duration // CPU time this process used during the run
	Kinds       []string      // error kinds by Outcome (Kinds[0] is "ok")
	Reasons     []string      // refusal reasons by Sample.Reason ([0] is ""), numbers as N
	Examples    []string      // the first message of each reason, numbers and all
	// SenderErr is the first error of Transport.NewSender (its requests
	// are "transport" errors).
	SenderErr error
}

func (r *Run) name(o Outcome) string {
	if int(o) < len(r.Kinds) {
		return r.Kinds[o]
	}
	return "unknown"
}

func (r *Run) reason(i uint16) string {
	if int(i) < len(r.Reasons) {
		return r.Reasons[i]
	}
	return "unknown"
}

// maxNames bounds the distinct error kinds and reasons kept; later ones are
// counted as "other".
const maxNames = 64

// maxExample bounds the length of an example message.
const maxExample = 300

// names interns strings (error kinds, reasons) to small indexes. Only
// requests that fail reach it.
type names struct {
	mu       sync.Mutex // guards ids, list
	ids      map[string]uint16
	list     []string
	examples []string // with list: the first raw message of each
	other    uint16
}

func newNames(first string) *names {
	return &names{ids: map[string]uint16{first: 0}, list: []string{first}, examples: []string{first}}
}

func (n *names) id(s []byte) uint16 { return n.idWith(s, s) }

// idWith interns s, remembering example for it if it is new.
func (n *names) idWith(s, example []byte) uint16 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id, ok := n.ids[string(s)]; ok { // no allocation: the compiler sees the map index
		return id
	}
	if len(n.list) >= maxNames {
		if n.other == 0 {
			n.other = uint16(len(n.list))
			n.list = append(n.list, "other")
			n.examples = append(n.examples, string(example))
		}
		return n.other
	}
	id := uint16(len(n.list))
	n.ids[string(s)] = id
	n.list = append(n.list, string(s))
	n.examples = append(n.examples, string(example[:min(len(example), maxExample)]))
	return id
}

// ErrNoSchedule is returned by Execute for an empty schedule.
var ErrNoSchedule = errors.New("loadgen: empty schedule")

// Execute runs the schedule to its end, or until ctx ends (the requests
// not sent by then are NotSent), and waits for every answer.
func Execute(ctx context.Context, cfg Config) (*Run, error) {
	n := len(cfg.Schedule)
	if n == 0 {
		return nil, ErrNoSchedule
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 4096
	}
	if cfg.ClientTimeout <= 0 {
		cfg.ClientTimeout = 10 * time.Second
	}
	e := &executor{
		cfg:     cfg,
		samples: make([]Sample, n),
		kinds:   newNames("ok"),
		reasons: newNames(""),
		work:    make(chan int),
	}
	cpu0 := cpuTime()
	e.start = time.Now()
	stopProgress := e.progress()
	last := e.pace(ctx)
	close(e.work)
	e.wg.Wait()
	for i := last; i < n; i++ {
		e.samples[i].Outcome = NotSent
	}
	stopProgress()
	run := &Run{
		Schedule: cfg.Schedule, Samples: e.samples, Warm: cfg.Warm, Start: cfg.Start,
		Duration: cfg.Duration, MaxInflight: int(e.maxInflight.Load()), CPU: cpuTime() - cpu0,
		Kinds: e.kinds.list, Reasons: e.reasons.list, Examples: e.reasons.examples,
	}
	if p := e.senderErr.Load(); p != nil {
		run.SenderErr = *p
	}
	if last < n {
		// Interrupted: the measured window ends at the last request sent.
		end := time.Duration(cfg.Schedule[max(last-1, 0)] - cfg.Start)
		run.Duration = max(min(run.Duration, end), 0)
	}
	return run, ctx.Err()
}

type executor struct {
	cfg     Config
	start   time.Time
	samples []Sample
	kinds   *names
	reasons *names
	work    chan int // unbuffered: a send succeeds only when a sender is idle
	wg      sync.WaitGroup
	senders int // pacer goroutine only

	sent, done, errs atomic.Int64
	inflight         atomic.Int64
	maxInflight      atomic.Int64
	senderErr        atomic.Pointer[error] // the first NewSender error
}

// spinWindow is how long before a request's time the pacer wakes to spin.
const spinWindow = time.Millisecond

// pace sends each request at its time and returns how many it sent.
func (e *executor) pace(ctx context.Context) int {
	sched := e.cfg.Schedule
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := 0
	for next < len(sched) {
		now := int64(time.Since(e.start))
		for next < len(sched) && sched[next] <= now {
			e.dispatch(next)
			next++
		}
		if next == len(sched) {
			break
		}
		wait := time.Duration(sched[next] - int64(time.Since(e.start)))
		if e.cfg.Spin {
			wait -= spinWindow
		}
		if wait <= 0 {
			if e.cfg.Spin {
				runtime.Gosched()
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return next
		}
	}
	return next
}

// dispatch hands request i to an idle sender, or starts one.
func (e *executor) dispatch(i int) {
	e.sent.Add(1)
	in := e.inflight.Add(1)
	select {
	case e.work <- i:
		e.noteInflight(in)
		return
	default:
	}
	if e.senders >= e.cfg.MaxInflight {
		e.record(i, time.Now(), "overload", nil)
		return
	}
	e.noteInflight(in)
	s, err := e.cfg.Transport.NewSender()
	if err != nil {
		e.senderErr.CompareAndSwap(nil, &err)
		e.record(i, time.Now(), "transport", nil)
		return
	}
	e.senders++
	e.wg.Add(1)
	go e.sender(s, i)
}

func (e *executor) noteInflight(n int64) {
	if n > e.maxInflight.Load() {
		e.maxInflight.Store(n) // the pacer is the only writer
	}
}

// sender sends request first, then whatever the pacer hands it.
func (e *executor) sender(s Sender, first int) {
	defer e.wg.Done()
	e.send(s, first)
	for i := range e.work {
		e.send(s, i)
	}
}

func (e *executor) send(s Sender, i int) {
	sched := e.cfg.Schedule[i]
	at := time.Now()
	e.samples[i].Lag = int64(at.Sub(e.start)) - sched
	kind, reason := s.Send(i, e.start.Add(time.Duration(sched)+e.cfg.ClientTimeout))
	e.record(i, time.Now(), kind, reason)
}

// record finishes request i, answered at end.
func (e *executor) record(i int, end time.Time, kind string, reason []byte) {
	s := &e.samples[i]
	s.Latency = int64(end.Sub(e.start)) - e.cfg.Schedule[i]
	if kind != "" {
		s.Outcome = Outcome(e.kinds.id([]byte(kind)))
		if len(reason) > 0 {
			var buf [maxReason]byte
			s.Reason = e.reasons.idWith(normalize(buf[:0], reason), reason)
		}
		e.errs.Add(1)
	}
	e.inflight.Add(-1)
	e.done.Add(1)
}

// progress starts the progress reports; the returned function stops them
// after a final one.
func (e *executor) progress() (stop func()) {
	if e.cfg.Progress == nil {
		return func() {}
	}
	total := time.Duration(e.cfg.Schedule[len(e.cfg.Schedule)-1])
	report := func(final bool) {
		e.cfg.Progress(Progress{
			Elapsed: time.Since(e.start), Total: total, Sent: e.sent.Load(), Done: e.done.Load(),
			Errors: e.errs.Load(), Inflight: e.inflight.Load(), Final: final,
		})
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report(false)
			case <-quit:
				report(true)
				return
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// WithWarmup puts a warm-up of the given length before a schedule:
// requests evenly spaced at rate. It returns the whole schedule and the
// number of warm-up requests.
func WithWarmup(main []int64, rate float64, warmup time.Duration) ([]int64, int) {
	if warmup <= 0 || !(rate > 0) {
		return main, 0
	}
	gap := 1e9 / rate
	var out []int64
	for k := 0; float64(k)*gap < float64(warmup); k++ {
		out = append(out, int64(float64(k)*gap))
	}
	warm := len(out)
	for _, t := range main {
		out = append(out, t+int64(warmup))
	}
	return out, warm
}
