package dispatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/internal/latency"
	"github.com/gannet-ml/gannet/internal/zsock"
	"github.com/gannet-ml/gannet/wire"
)

// Model is a model the dispatcher places on workers.
type Model struct {
	Name         string
	Version      string
	File         []byte   // the model file (model.onnx); its SHA-256 addresses it
	Digest       [32]byte // SHA-256 of File; zero: computed by New
	MaxBatchSize int
}

// Config configures the dispatcher. Zero values are documented defaults.
type Config struct {
	// Addr is the ROUTER endpoint workers connect to; "" means "tcp://*:5556".
	Addr string
	// Heartbeat is the interval of heartbeats to workers and the unit of
	// liveness; 0 means 250ms.
	Heartbeat time.Duration
	// Liveness is how many heartbeat intervals of silence make a worker
	// dead; 0 means 3.
	Liveness int
	// MaxMessageBytes bounds a message from a worker; 0 means 1 GiB.
	MaxMessageBytes int64
	// Models are the models to place on workers (at least one).
	Models []Model
	// SocketOptions, if set, is applied to the ROUTER socket before it binds
	// (CURVE server keys, from package curve); nil means none.
	SocketOptions func(*zmq.Socket) error
	// Metrics; nil means none.
	Metrics *Metrics
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// OnReplica, if set, is told when a worker becomes a ready replica of
	// a model and when it stops being one (drained, left or lost). It runs
	// on the dispatcher's goroutine and must not block.
	OnReplica func(ReplicaEvent)
	// OnStarved, if set, is told when Acquire must wait for a model that
	// has no ready replica (a request waits at a model scaled to zero, or
	// whose replicas are all starting or lost), so that an autoscaler can
	// act at once rather than at its next round. It runs on Acquire's
	// goroutine, once per wait, and must not block.
	OnStarved func(model string)
}

// ReplicaEvent is a worker becoming, or ceasing to be, a ready replica.
type ReplicaEvent struct {
	Model    string
	WorkerID string // the worker's HELLO id (gannet worker --id)
	Ready    bool
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if len(c.Models) == 0 {
		return errors.New("dispatch: no models")
	}
	seen := map[string]bool{}
	for _, m := range c.Models {
		if m.Name == "" || seen[m.Name] {
			return fmt.Errorf("dispatch: model name %q empty or repeated", m.Name)
		}
		seen[m.Name] = true
		if m.MaxBatchSize < 1 {
			return fmt.Errorf("dispatch: model %q: max batch size %d", m.Name, m.MaxBatchSize)
		}
	}
	if c.Heartbeat < 0 || c.Liveness < 0 || c.MaxMessageBytes < 0 {
		return errors.New("dispatch: negative Heartbeat, Liveness or MaxMessageBytes")
	}
	return nil
}

// Bounds on what a worker may claim in HELLO, and on what may be queued
// to one worker before it counts as not reading.
const (
	maxCapacity  = 1024
	maxHeartbeat = 10 * time.Second
	sendHWM      = 10000
	// maxTries bounds re-dispatches of one batch: a batch that loses its
	// worker again may be what kills workers.
	maxTries = 1
)

// ErrUnknownModel is returned by Acquire for a model not in Config.Models.
var ErrUnknownModel = wire.Errorf(wire.KindNotFound, "unknown model")

// Dispatcher is the frontend's side of the worker fabric.
type Dispatcher struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	models  map[string]*model // fixed after New
	order   []*model          // Config.Models order
	loop    *zsock.Loop[mail]

	// Owned by the loop goroutine (and by Close after the loop has exited):
	workers map[string]*worker // by ROUTER routing id
	pending map[uint64]*inflight
	nextID  uint64
	closing bool      // Close has begun: nothing is re-dispatched
	beatAt  time.Time // when heartbeats were last sent
	// intents says, by worker id (HELLO's WorkerID), what to do with a
	// worker that asks for no model: park it ("", set by Park) or place it
	// on a model (set by Assign). It outlives the worker's sessions (a
	// reconnect or a restarted process finds its model again) and is
	// forgotten by Drain. Workers whose id is not here are placed as
	// always (the model they ask for, else the one with fewest replicas).
	intents map[string]string
}

type model struct {
	Model
	digest [32]byte
	slots  *slots
	ready  atomic.Int32 // workers that have loaded it
	reason atomic.Value // string: why the last load failed
	placed int          // loop goroutine: workers loading or hosting it
	// broken is set when the last worker that tried to load the model
	// failed and none is loading or hosting it: requests are refused at
	// once with the reason rather than held for a replica that will not
	// come. Placing the model on a worker clears it.
	broken atomic.Bool
	retry  []*inflight // loop goroutine: batches of lost workers waiting for a slot
}

type workerState uint8

const (
	stateLoading workerState = iota
	stateReady
	stateFailed
	stateDraining // being removed: no new batches (see Drain)
	stateParked   // registered and heartbeated, no model: waits for Assign (see Park)
)

var stateNames = [...]string{"loading", "ready", "failed", "draining", "parked"}

type worker struct {
	rid      []byte // ROUTER routing id
	hello    *wire.Hello
	model    *model // nil while parked
	state    workerState
	lastSeen time.Time
	liveFor  time.Duration // silence longer than this means dead
	missed   int           // heartbeat intervals of the current silence counted in metrics
	inflight int
	alive    atomic.Bool      // false once removed; read by slots.acquire
	draining atomic.Bool      // true once drained: its slots are not used (read by slots.take, Slot.Release)
	profile  *latency.Profile // set when it loads its model; safe for concurrent use
	drained  chan struct{}    // set by Drain; closed when draining and nothing is in flight, or removed
}

type inflight struct {
	w        *worker // the worker running it now
	batch    *wire.Batch
	deadline int64                     // the batch's, Unix ns; 0: none
	sent     time.Time                 // when it was last sent
	done     func(*wire.Result, error) // nil once answered (given up on)
	tries    int                       // re-dispatches so far
}

// fail answers the batch with err, once.
func (p *inflight) fail(err error) {
	if p.done != nil {
		done := p.done
		p.done = nil
		done(nil, err)
	}
}

// mail is what other goroutines post to the loop.
type mail struct {
	w      *worker
	batch  *wire.Batch
	done   func(*wire.Result, error)
	bye    bool // tell every worker goodbye (shutdown)
	drain  *drainReq
	intent *intentReq
}

type drainReq struct {
	id   string
	done chan struct{}
}

// New binds the ROUTER socket and starts the dispatcher's loop.
func New(cfg Config) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "tcp://*:5556"
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 250 * time.Millisecond
	}
	if cfg.Liveness == 0 {
		cfg.Liveness = 3
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 1 << 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	d := &Dispatcher{
		cfg:     cfg,
		log:     cfg.Logger,
		metrics: cfg.Metrics,
		models:  map[string]*model{},
		workers: map[string]*worker{},
		pending: map[uint64]*inflight{},
		intents: map[string]string{},
	}
	for _, m := range cfg.Models {
		if m.Digest == ([32]byte{}) {
			m.Digest = sha256.Sum256(m.File)
		}
		mm := &model{Model: m, digest: m.Digest, slots: newSlots()}
		mm.reason.Store("no worker has loaded the model yet")
		d.models[m.Name] = mm
		d.order = append(d.order, mm)
		d.metrics.replicas.WithLabelValues(m.Name, "ready").Set(0)
	}
	loop, err := zsock.Start[mail](zsock.Config{
		Type: zmq.ROUTER,
		Bind: cfg.Addr,
		// Liveness is checked four times per interval, so that a dead
		// worker is noticed at most a quarter interval after its time.
		Tick: cfg.Heartbeat / 4,
		Setup: func(s *zmq.Socket) error {
			if err := s.SetRouterMandatory(1); err != nil {
				return err
			}
			if cfg.SocketOptions != nil {
				if err := cfg.SocketOptions(s); err != nil {
					return err
				}
			}
			return s.SetMaxmsgsize(cfg.MaxMessageBytes)
		},
		// A worker has at most its capacity in batches plus heartbeats in
		// flight; one that stops reading hits this mark and is dropped.
		SendHWM:     sendHWM,
		CloseLinger: 100 * time.Millisecond, // the goodbye DISCONNECTs
	}, (*loopHandler)(d))
	if err != nil {
		return nil, fmt.Errorf("dispatch: %w", err)
	}
	d.loop = loop
	return d, nil
}

// Endpoint is the bound endpoint (with the real port).
func (d *Dispatcher) Endpoint() string { return d.loop.Endpoint() }

// Ready reports whether at least one worker hosts the model, and if not,
// why not.
func (d *Dispatcher) Ready(name string) (bool, string) {
	m := d.models[name]
	if m == nil {
		return false, "unknown model"
	}
	if m.ready.Load() > 0 {
		return true, ""
	}
	return false, m.reason.Load().(string)
}

// Broken reports whether no worker can load the model: the last one that
// tried failed, and none hosts or is loading it.
func (d *Dispatcher) Broken(name string) bool {
	m := d.models[name]
	return m == nil || m.broken.Load()
}

// brokenErr is the error of a model no worker can load, else nil.
func (m *model) brokenErr() error {
	if m.broken.Load() {
		return wire.Errorf(wire.KindUnavailable, "model %q is not ready: %s", m.Name, m.reason.Load().(string))
	}
	return nil
}

// Replicas is how many workers have the model loaded and ready.
func (d *Dispatcher) Replicas(name string) int {
	if m := d.models[name]; m != nil {
		return int(m.ready.Load())
	}
	return 0
}

// Slot is the right to run one batch on one worker.
type Slot struct {
	d *Dispatcher
	w *worker
}

// Acquire waits until a worker hosting the model can take a batch.
func (d *Dispatcher) Acquire(ctx context.Context, name string) (*Slot, error) {
	m := d.models[name]
	if m == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownModel, name)
	}
	if d.cfg.OnStarved != nil && m.ready.Load() == 0 {
		d.cfg.OnStarved(name)
	}
	w, err := m.slots.acquire(ctx, m.brokenErr)
	if err != nil {
		return nil, err
	}
	return &Slot{d: d, w: w}, nil
}

// Run sends b to the slot's worker; done is called once, on the
// dispatcher's goroutine, with the result or an error.
func (s *Slot) Run(b *wire.Batch, done func(*wire.Result, error)) {
	if err := s.d.loop.Post(mail{w: s.w, batch: b, done: done}); err != nil {
		done(nil, wire.Errorf(wire.KindUnavailable, "model %q: server is shutting down", b.Model))
	}
}

// Predict is the worker's predicted time from dispatch to answer of a
// batch of rows (high quantile), from its latency profile; 0 when unknown.
func (s *Slot) Predict(rows int) time.Duration {
	if s.w.profile == nil {
		return 0
	}
	return s.w.profile.Predict(rows)
}

// Typical is the worker's mean time from dispatch to answer of a batch of
// rows; 0 when unknown.
func (s *Slot) Typical(rows int) time.Duration {
	if s.w.profile == nil {
		return 0
	}
	return s.w.profile.Typical(rows)
}

// Release gives the slot back unused.
func (s *Slot) Release() {
	if s.w.usable() {
		s.w.model.slots.put(s.w, 1)
	}
}

// Drain stops sending batches to the worker whose HELLO id is id: it no
// longer counts as a ready replica, and a batch that had already got one
// of its slots goes to another replica. The channel it returns is closed
// once none of the worker's batches is in flight (at once if it has none
// or no such worker is registered): then the worker can be stopped
// (SIGTERM) without losing a request. Drain also forgets what Park or
// Assign said about the id. A parked worker is drained at once.
func (d *Dispatcher) Drain(id string) <-chan struct{} {
	r := &drainReq{id: id, done: make(chan struct{})}
	if d.loop.Post(mail{drain: r}) != nil {
		close(r.done) // shutting down: Close fails what is in flight
	}
	return r.done
}

// usable reports whether the worker's slots may be used.
func (w *worker) usable() bool { return w.alive.Load() && !w.draining.Load() }

// Close says goodbye to the workers, stops the loop and answers the batches
// still in flight with KindUnavailable.
func (d *Dispatcher) Close() {
	d.loop.Post(mail{bye: true})
	d.loop.Close()
	// The loop has exited: its state is ours now.
	d.closing = true
	for _, m := range d.order {
		for _, p := range m.retry {
			p.fail(wire.Errorf(wire.KindUnavailable, "model %q: server shutting down", m.Name))
		}
		m.retry = nil
	}
	for _, w := range d.workers {
		d.remove(w, "shutdown", "server shutting down")
	}
}
