package batching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// Sentinel errors; each is a *wire.Error so its kind travels to the client.
var (
	ErrQueueFull = wire.Errorf(wire.KindUnavailable, "exceeds maximum queue size")
	ErrClosed    = wire.Errorf(wire.KindUnavailable, "server is shutting down")
	ErrDeadline  = wire.Errorf(wire.KindDeadline, "deadline exceeded before the request could run")
)

// Replicas hands out the right to run one batch on one replica of the
// model. Acquire blocks until a replica has room or ctx ends.
type Replicas interface {
	Acquire(ctx context.Context) (Slot, error)
}

// ReplicasFunc adapts a function to Replicas.
type ReplicasFunc func(ctx context.Context) (Slot, error)

// Acquire calls f(ctx).
func (f ReplicasFunc) Acquire(ctx context.Context) (Slot, error) { return f(ctx) }

// Slot is the right to run one batch on one replica; the holder either
// runs a batch with it or releases it. Run must not block; it calls done
// exactly once, with the result or an error, from any goroutine. done must
// not block either.
type Slot interface {
	Run(b *wire.Batch, done func(*wire.Result, error))
	Release()
}

// Config configures one model's queue. Zero values are documented defaults.
type Config struct {
	Model        string       // model name, for errors and metrics (required)
	MaxBatchSize int          // most rows in one batch (required, >= 1)
	MaxQueue     int          // most requests waiting; 0 means 1024
	Metrics      *Metrics     // nil: no metrics
	Logger       *slog.Logger // nil: slog.Default()
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Model == "":
		return errors.New("batching: Config.Model is empty")
	case c.MaxBatchSize < 1:
		return fmt.Errorf("batching: model %q: max_batch_size %d, must be at least 1", c.Model, c.MaxBatchSize)
	case c.MaxQueue < 0:
		return fmt.Errorf("batching: model %q: negative max queue size", c.Model)
	}
	return nil
}

// Queue is one model's queue and scheduler.
type Queue struct {
	cfg      Config
	replicas Replicas
	metrics  modelMetrics

	mu         sync.Mutex // guards waiting, closed, waitUntil and cancelWait
	waiting    []*Request // FIFO
	closed     bool
	waitUntil  time.Time               // deadline of the scheduler's wait for a slot
	cancelWait context.CancelCauseFunc // ends that wait; nil when not waiting

	wake   chan struct{} // cap 1: something was queued
	stop   context.CancelFunc
	ctx    context.Context // ends when the scheduler must stop waiting
	exited chan struct{}   // closed when the scheduler returns
}

// New starts the scheduler for one model.
func New(cfg Config, replicas Replicas) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 1024
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	q := &Queue{
		cfg:      cfg,
		replicas: replicas,
		metrics:  cfg.Metrics.forModel(cfg.Model),
		wake:     make(chan struct{}, 1),
		exited:   make(chan struct{}),
	}
	q.ctx, q.stop = context.WithCancel(context.Background())
	go q.schedule()
	return q, nil
}

// Submit queues r without blocking. It fails with ErrQueueFull or ErrClosed
// (wrapped), in which case r.Done is not called.
func (q *Queue) Submit(r *Request) error {
	if r.Rows < 1 || r.Rows > q.cfg.MaxBatchSize || len(r.Inputs) == 0 || r.Done == nil {
		return wire.Errorf(wire.KindInvalid, "model %q: a request of %d rows (1 to %d), %d inputs", q.cfg.Model, r.Rows, q.cfg.MaxBatchSize, len(r.Inputs))
	}
	now := time.Now()
	r.enqueued = now
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return fmt.Errorf("model %q: %w", q.cfg.Model, ErrClosed)
	}
	if len(q.waiting) >= q.cfg.MaxQueue {
		q.mu.Unlock()
		return fmt.Errorf("model %q: %w (%d)", q.cfg.Model, ErrQueueFull, q.cfg.MaxQueue)
	}
	q.waiting = append(q.waiting, r)
	n := len(q.waiting)
	if q.cancelWait != nil && !r.Deadline.IsZero() && (q.waitUntil.IsZero() || r.Deadline.Before(q.waitUntil)) {
		q.cancelWait(errEarlier) // wait again, until this deadline at the latest
		q.cancelWait = nil
	}
	q.mu.Unlock()
	q.metrics.pending.Set(float64(n))
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close stops accepting requests, lets the scheduler dispatch what waits
// until ctx ends, answers whatever is left with ErrClosed and waits for the
// scheduler to exit. Batches already on replicas are answered by them.
func (q *Queue) Close(ctx context.Context) {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	select {
	case <-q.exited:
	case <-ctx.Done():
		q.stop()
		<-q.exited
	}
	q.stop()
	q.mu.Lock()
	left := q.waiting
	q.waiting = nil
	q.mu.Unlock()
	now := time.Now()
	for _, r := range left {
		r.finish(now, fmt.Errorf("model %q: %w", q.cfg.Model, ErrClosed))
	}
	q.metrics.pending.Set(0)
}

// Len is the number of waiting requests.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}
