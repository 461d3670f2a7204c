package batching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gannet-ml/gannet/internal/latency"
	"github.com/gannet-ml/gannet/wire"
)

// Sentinel errors; each is a *wire.Error so its kind travels to the client.
var (
	ErrQueueFull = wire.Errorf(wire.KindUnavailable, "exceeds maximum queue size")
	ErrClosed    = wire.Errorf(wire.KindUnavailable, "server is shutting down")
	ErrDeadline  = wire.Errorf(wire.KindDeadline, "deadline exceeded before the request could run")
	// ErrWouldMiss refuses a request at admission, or answers one in the
	// queue, that is predicted to miss its deadline: it is never run late.
	ErrWouldMiss = wire.Errorf(wire.KindUnavailable, "predicted to miss its deadline")
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

// Counter may be implemented by a Replicas: how many replicas serve the
// model now. Without it the queue assumes one.
type Counter interface {
	Count() int
}

// Slot is the right to run one batch on one replica; the holder either
// runs a batch with it or releases it. Run must not block; it calls done
// exactly once, with the result or an error, from any goroutine. done must
// not block either. Predict is the replica's predicted time from dispatch
// to answer of a batch of rows (a high quantile), Typical its mean; both 0
// when unknown.
type Slot interface {
	Run(b *wire.Batch, done func(*wire.Result, error))
	Release()
	Predict(rows int) time.Duration
	Typical(rows int) time.Duration
}

// Config configures one model's queue. Zero values are documented defaults.
type Config struct {
	Model        string // model name, for errors and metrics (required)
	MaxBatchSize int    // most rows in one batch (required, >= 1)
	MaxQueue     int    // most requests waiting; 0 means 1024
	// SLO is the model's latency target: every request's deadline is at
	// most its arrival plus SLO. 0 means none (deadlines come only from
	// the requests).
	SLO time.Duration
	// Policy forms batches; nil means SLOPolicy.
	Policy Policy
	// Buckets are the batch sizes the replicas compile (ascending), used
	// by the model-wide latency profile; nil means powers of two up to
	// MaxBatchSize.
	Buckets []int
	// ProbeAfter is how long the queue may go without an answered batch
	// before it stops refusing on predictions (see probingLocked); 0
	// means 1s.
	ProbeAfter time.Duration
	// OnShed, if set, is told each time Submit or Precheck refuses a
	// request because the replicas do not keep up (the queue is full, or
	// the request is predicted to miss its deadline): the autoscaler's
	// Controller.Nudge, so that overload is decided on at once rather than
	// at the next tick. It is called without the queue's lock, on the
	// request's goroutine, and must not block.
	OnShed  func()
	Metrics *Metrics     // nil: no metrics
	Logger  *slog.Logger // nil: slog.Default()
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
	case c.SLO < 0 || c.ProbeAfter < 0:
		return fmt.Errorf("batching: model %q: negative SLO or ProbeAfter", c.Model)
	}
	return nil
}

// PowersOfTwo are the batch buckets 1, 2, 4, ... up to and including max.
func PowersOfTwo(max int) []int {
	var b []int
	for n := 1; n < max; n *= 2 {
		b = append(b, n)
	}
	return append(b, max)
}

// Queue is one model's queue and scheduler.
type Queue struct {
	cfg      Config
	replicas Replicas
	policy   Policy
	profile  *latency.Profile // model-wide, from every replica's answers
	metrics  modelMetrics

	mu            sync.Mutex // guards the fields below
	waiting       []*Request // in service order: priority, deadline, arrival
	rows          int        // rows of waiting
	closed        bool
	seq           uint64    // arrivals so far (ties in service order)
	rate          float64   // decayed count of arrived rows (see arrivalLocked)
	rateAt        time.Time // when rate was last decayed
	joined        float64   // decayed count of rows that joined waiting (View.Joining)
	joinedAt      time.Time // when joined was last decayed
	arrivals      uint64    // arrivals counted by arrivalLocked: seq plus those refused for a full queue
	arrivedRows   float64   // their rows (a refusal before decode counts meanRowsLocked)
	submitted     uint64    // requests given to Submit: their rows are known
	submittedRows uint64    // and their rows
	inflight      int       // batches dispatched and not yet answered
	lastDone      time.Time // when a batch was last answered (or the queue started)
	feasible      int       // the largest batch the profile says runs in half the SLO
	waitUntil     time.Time // until when the scheduler waits for a slot
	cancelWait    context.CancelCauseFunc

	wake   chan struct{} // cap 1: something was queued
	stop   context.CancelFunc
	ctx    context.Context // ends when the scheduler must stop waiting
	exited chan struct{}   // closed when the scheduler returns
	// The scheduler goroutine's own: the view's buffer and memoized
	// predictions of the slot at hand.
	items       []Item
	predicted   []time.Duration // by rows; -1: not asked yet
	predict     func(rows int) time.Duration
	predictSlot Slot
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
	if cfg.Policy == nil {
		cfg.Policy = SLOPolicy{}
	}
	if cfg.ProbeAfter == 0 {
		cfg.ProbeAfter = time.Second
	}
	if cfg.Buckets == nil {
		cfg.Buckets = PowersOfTwo(cfg.MaxBatchSize)
	}
	q := &Queue{
		cfg:      cfg,
		replicas: replicas,
		policy:   cfg.Policy,
		profile:  latency.New(cfg.Buckets, cfg.MaxBatchSize),
		metrics:  cfg.Metrics.forModel(cfg.Model, cfg.Buckets),
		wake:     make(chan struct{}, 1),
		exited:   make(chan struct{}),
	}
	q.lastDone = time.Now()
	q.feasible = cfg.MaxBatchSize
	q.ctx, q.stop = context.WithCancel(context.Background())
	go q.schedule()
	return q, nil
}

// rateTau is the time constant of the arrival-rate estimate.
const rateTau = time.Second

// arrivalLocked counts one arrival of rows in the exponentially decayed
// rate and in the arrival counters. The rate counts rows, not requests:
// replicas' capacity and batch sizes are in rows, and a client that sends
// 8 images per request loads the model 8 times as much as one that sends 1.
func (q *Queue) arrivalLocked(now time.Time, rows float64) {
	q.rate = q.rateLocked(now) + rows
	q.rateAt = now
	q.arrivals++
	q.arrivedRows += rows
}

// meanRowsLocked is the mean rows per request of the requests given to
// Submit so far (1 before any): what a request refused before it was
// decoded (Precheck) is counted as. Only decoded requests make the mean,
// so refusals, however many, do not feed back into it.
func (q *Queue) meanRowsLocked() float64 {
	if q.submitted == 0 {
		return 1
	}
	return float64(q.submittedRows) / float64(q.submitted)
}

// rateLocked is the decayed count of arrived rows at now; divided by
// rateTau it is the arrival rate in rows per second.
func (q *Queue) rateLocked(now time.Time) float64 {
	return decay(q.rate, q.rateAt, now)
}

// joinedLocked is the decayed count of rows that joined waiting, at now.
func (q *Queue) joinedLocked(now time.Time) float64 {
	return decay(q.joined, q.joinedAt, now)
}

// decay is a count last updated at at, decayed to now (time constant rateTau).
func decay(n float64, at, now time.Time) float64 {
	if at.IsZero() {
		return 0
	}
	return n * math.Exp(-float64(now.Sub(at))/float64(rateTau))
}

// Rate is the recent arrival rate, in rows per second (a request of n
// rows counts n).
func (q *Queue) Rate() float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rateLocked(time.Now()) / rateTau.Seconds()
}

// level is a request's priority class: 1 is the highest, 0 (unset) the
// lowest.
func level(r *Request) int64 {
	if r.Priority <= 0 {
		return math.MaxInt64
	}
	return r.Priority
}

func deadlineKey(r *Request) int64 {
	if r.Deadline.IsZero() {
		return math.MaxInt64
	}
	return r.Deadline.UnixNano()
}

// before reports whether a is served before b.
func before(a, b *Request) bool {
	if la, lb := level(a), level(b); la != lb {
		return la < lb
	}
	if da, db := deadlineKey(a), deadlineKey(b); da != db {
		return da < db
	}
	return a.seq < b.seq
}

// Submit queues r without blocking. It fails with ErrQueueFull, ErrDeadline,
// ErrWouldMiss or ErrClosed (wrapped), in which case r.Done is not called.
func (q *Queue) Submit(r *Request) error {
	if r.Rows < 1 || r.Rows > q.cfg.MaxBatchSize || len(r.Inputs) == 0 || r.Done == nil {
		return wire.Errorf(wire.KindInvalid, "model %q: a request of %d rows (1 to %d), %d inputs", q.cfg.Model, r.Rows, q.cfg.MaxBatchSize, len(r.Inputs))
	}
	now := time.Now()
	r.enqueued = now
	// The SLO caps the deadline, from the request's arrival, except while
	// the model has no replica at all (scaled to zero, or its first replica
	// still starting): then the request is held until one is up, within
	// its own deadline, rather than refused for a cold start it cannot help.
	if q.cfg.SLO > 0 && !q.cold() {
		if d := arrival(r.Arrived, now).Add(q.cfg.SLO); r.Deadline.IsZero() || d.Before(r.Deadline) {
			r.Deadline = d
		}
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.metrics.shed[shedClosed].Inc()
		return fmt.Errorf("model %q: %w", q.cfg.Model, ErrClosed)
	}
	q.submitted++
	q.submittedRows += uint64(r.Rows)
	q.arrivalLocked(now, float64(r.Rows))
	if len(q.waiting) >= q.cfg.MaxQueue {
		q.mu.Unlock()
		q.shed(shedQueueFull)
		return fmt.Errorf("model %q: %w (%d)", q.cfg.Model, ErrQueueFull, q.cfg.MaxQueue)
	}
	if !r.Deadline.IsZero() && !now.Before(r.Deadline) {
		// Past its deadline on arrival (a timeout shorter than the decode,
		// or a request that waited to be read longer than the SLO):
		// refused even while probing, when predictions are not trusted;
		// let in, it took a place in the queue only to be shed.
		q.mu.Unlock()
		return q.expired(r.Arrived, now)
	}
	q.seq++
	r.seq = q.seq
	i := sort.Search(len(q.waiting), func(i int) bool { return before(r, q.waiting[i]) })
	if !r.Deadline.IsZero() && !q.probingLocked(now) {
		if wait := q.predictWaitLocked(i, r.Rows); wait > 0 && now.Add(wait).After(r.Deadline) {
			q.mu.Unlock()
			q.shed(shedPredicted)
			return fmt.Errorf("model %q: %w: predicted completion in %v, deadline in %v (%d requests ahead)",
				q.cfg.Model, ErrWouldMiss, wait.Round(time.Microsecond), r.Deadline.Sub(now).Round(time.Microsecond), i)
		}
	}
	q.waiting = slices.Insert(q.waiting, i, r)
	q.rows += r.Rows
	q.joined, q.joinedAt = q.joinedLocked(now)+float64(r.Rows), now
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

// Precheck tells, before a request is decoded, whether Submit would refuse
// any request of the default priority that arrived at arrived (zero: now)
// and whose own deadline is deadline (the server's request timeout): the
// queue is closed or full, the deadline has passed, or even one row placed
// after everything waiting (where such a request goes) is predicted to
// miss the deadline, capped by the SLO as in Submit. Under overload
// this refuses a request for the price of a lock instead of a decode; a
// refusal is counted as an arrival and in the shed metrics exactly as
// Submit counts it (as the mean rows per request so far: its own rows are
// not known before the decode). nil means: decode and Submit, which
// decides again. Only a request without a priority or a timeout of its
// own may be prechecked (either can move it ahead).
func (q *Queue) Precheck(arrived, deadline time.Time) error {
	now := time.Now()
	if q.cfg.SLO > 0 && !q.cold() {
		if d := arrival(arrived, now).Add(q.cfg.SLO); deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.metrics.shed[shedClosed].Inc()
		return fmt.Errorf("model %q: %w", q.cfg.Model, ErrClosed)
	}
	if len(q.waiting) >= q.cfg.MaxQueue {
		q.arrivalLocked(now, q.meanRowsLocked())
		q.mu.Unlock()
		q.shed(shedQueueFull)
		return fmt.Errorf("model %q: %w (%d)", q.cfg.Model, ErrQueueFull, q.cfg.MaxQueue)
	}
	if !deadline.IsZero() && !now.Before(deadline) { // as Submit refuses it
		q.arrivalLocked(now, q.meanRowsLocked())
		q.mu.Unlock()
		return q.expired(arrived, now)
	}
	if deadline.IsZero() || q.probingLocked(now) {
		q.mu.Unlock()
		return nil
	}
	// Where Submit would insert it: after every request with a higher
	// priority or an earlier deadline (sort.Search by hand: no closure).
	key := deadline.UnixNano()
	lo, hi := 0, len(q.waiting)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		w := q.waiting[mid]
		if level(w) < math.MaxInt64 || deadlineKey(w) <= key {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if wait := q.predictWaitLocked(lo, 1); wait > 0 && now.Add(wait).After(deadline) {
		q.arrivalLocked(now, q.meanRowsLocked())
		q.seq++ // an arrival, as Submit counts it
		q.mu.Unlock()
		q.shed(shedPredicted)
		return fmt.Errorf("model %q: %w: predicted completion in %v, deadline in %v (%d requests ahead)",
			q.cfg.Model, ErrWouldMiss, wait.Round(time.Microsecond), deadline.Sub(now).Round(time.Microsecond), lo)
	}
	q.mu.Unlock()
	return nil
}

// shed counts a refusal for want of capacity (shedQueueFull or
// shedPredicted) and tells Config.OnShed. Called without q.mu.
func (q *Queue) shed(reason int) {
	q.metrics.shed[reason].Inc()
	if q.cfg.OnShed != nil {
		q.cfg.OnShed()
	}
}

// arrival is when a request arrived: arrived, unless that is unknown
// (zero) or after now.
func arrival(arrived, now time.Time) time.Time {
	if arrived.IsZero() || arrived.After(now) {
		return now
	}
	return arrived
}

// expired counts and returns the refusal of a request that arrived at
// arrived and whose deadline had passed when Submit or Precheck saw it; it
// says how long the request waited to be read, when that is known and
// long enough to matter.
func (q *Queue) expired(arrived, now time.Time) error {
	q.metrics.shed[shedExpired].Inc()
	waited := ""
	if w := now.Sub(arrival(arrived, now)); w >= time.Millisecond {
		waited = ", after waiting " + w.Round(100*time.Microsecond).String() + " to be read"
	}
	return fmt.Errorf("model %q: %w (its deadline passed on arrival%s)", q.cfg.Model, ErrDeadline, waited)
}

// predictWaitLocked predicts the time from now until a request of rows,
// served after the first ahead waiting requests, is answered: the rows
// ahead drain in batches spread over the replicas, each taking the
// profile's high-quantile time, and busy replicas first finish what they
// run; with nothing ahead and a replica free, it is the typical time of
// its own batch. It returns 0 when the profile knows nothing yet.
func (q *Queue) predictWaitLocked(ahead, rows int) time.Duration {
	replicas := q.replicaCount()
	if ahead == 0 && q.inflight < replicas {
		// Nothing ahead and a replica free: the batcher sends it at once
		// (it always takes the head of the queue), and sheds it first only
		// if its typical time misses the deadline; admission refuses what
		// the batcher would shed, no more. By the high quantile, two slow
		// batches (a descheduled worker) refused everything once the
		// outliers reached the SLO, and with so few batches answered the
		// estimate hardly moved: goodput 2/s in make bench.
		return q.profile.Typical(rows)
	}
	rowsAhead := ahead
	if q.rows != len(q.waiting) { // not all single rows: count them
		rowsAhead = 0
		for _, w := range q.waiting[:ahead] {
			rowsAhead += w.Rows
		}
	}
	n := rowsAhead + rows
	b := min(q.feasible, (n+replicas-1)/replicas)
	// The high quantile, the estimate batch formation sizes batches by:
	// admitting by the mean let in requests that the batcher could then
	// serve only in small batches or drop, and above capacity goodput
	// fell below the fixed-delay baseline's (0.6-0.7x at 1.4x capacity);
	// by the high quantile it stays above it, with p99 within the SLO.
	one := q.profile.Predict(b)
	if one == 0 {
		return 0
	}
	rounds := (n + replicas*b - 1) / (replicas * b)
	wait := time.Duration(rounds) * one
	if q.inflight >= replicas { // every replica busy: half a batch to go, on average
		wait += one / 2
	}
	return wait
}

// probingLocked reports whether no batch has been answered for
// Config.ProbeAfter. Predictions come only from answers: a profile
// inflated by a slow spell would otherwise refuse every request for ever.
// While probing, requests are let through (and shed only when their
// deadline has passed) until an answer refreshes the profile.
func (q *Queue) probingLocked(now time.Time) bool {
	return now.Sub(q.lastDone) > q.cfg.ProbeAfter
}

// feasibleBatch is the batch size the queue drains at when backlogged:
// among the buckets whose typical time is at most half the SLO (a request
// may wait for one batch and then run in the next), the one with the best
// throughput; if none is that fast, the best among those within the SLO;
// else the max batch size. Without an SLO, or before anything is known, it
// is the max batch size. Throughput, not size: where a fixed cost per
// batch (transfer, wake-ups) dominates, a bigger batch costs about the
// same, and sizing for the smallest would starve the replicas.
func (q *Queue) feasibleBatch() int {
	if q.cfg.SLO == 0 || q.profile.Typical(1) == 0 {
		return q.cfg.MaxBatchSize
	}
	for _, budget := range []time.Duration{q.cfg.SLO / 2, q.cfg.SLO} {
		best, rate := 0, 0.0
		for _, b := range q.cfg.Buckets {
			t := q.profile.Typical(b)
			if b > q.cfg.MaxBatchSize || t <= 0 || t > budget {
				continue
			}
			if r := float64(b) / t.Seconds(); r >= rate { // ties: the larger batch
				best, rate = b, r
			}
		}
		if best > 0 {
			return best
		}
	}
	return q.cfg.MaxBatchSize
}

// cold reports whether the Replicas say no replica serves the model now.
func (q *Queue) cold() bool {
	c, ok := q.replicas.(Counter)
	return ok && c.Count() == 0
}

func (q *Queue) replicaCount() int {
	if c, ok := q.replicas.(Counter); ok {
		return max(c.Count(), 1)
	}
	return 1
}

// Close stops accepting requests, lets the scheduler dispatch what waits
// until ctx ends, answers whatever is left with ErrClosed and waits for the
// scheduler to exit. Batches already on replicas are answered by them.
func (q *Queue) Close(ctx context.Context) {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.poke()
	select {
	case <-q.exited:
	case <-ctx.Done():
		q.stop()
		<-q.exited
	}
	q.stop()
	q.mu.Lock()
	left := q.waiting
	q.waiting, q.rows = nil, 0
	q.mu.Unlock()
	now := time.Now()
	for _, r := range left {
		q.metrics.shed[shedClosed].Inc()
		r.finish(now, fmt.Errorf("model %q: %w", q.cfg.Model, ErrClosed))
	}
	q.metrics.pending.Set(0)
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Len is the number of waiting requests.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// Profile is the model-wide latency profile, from every replica's answers.
func (q *Queue) Profile() *latency.Profile { return q.profile }
