package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gannet-ml/gannet/autoscale"
	"github.com/gannet-ml/gannet/batching"
)

// Config is one simulated model and cluster. Zero fields take the
// documented defaults.
type Config struct {
	Trace     Trace
	SLO       time.Duration // latency SLO (50 ms)
	Base      time.Duration // latency profile: Base + rows x PerItem (5 ms)
	PerItem   time.Duration // (1 ms)
	MaxBatch  int           // max_batch_size (32)
	ColdStart time.Duration // from asked for to ready (2 s, a process worker)
	Min, Max  int           // replica bounds (1, 32)
	// Cores, when > 0, models CPU contention: with n > Cores replicas
	// running, every batch takes n/Cores times longer.
	Cores int
	Seed  uint64
	// Admission is how arrivals are refused at once when predicted late:
	// AdmitQueue (the default) mirrors batching.Queue.Submit; AdmitSLOBatch
	// predicts with batches of the SLO-feasible size (an alternative the
	// simulator evaluates).
	Admission Admission
	// WarmWorkers is the warm pool of `gannet serve --warm-workers` (whose
	// default is 1; here 0 means none): worker processes started without
	// a model and parked. A replica asked for takes the oldest parked one,
	// when there is one, and is ready WarmStart later instead of
	// ColdStart; the pool is refilled as the local process provisioner
	// does it, a process started PoolRefillDelay after the take and
	// parked ColdStart later. Pool workers are no replica: they count in
	// Result.WarmSeconds, not in ReplicaSeconds.
	WarmWorkers int
	WarmStart   time.Duration // a parked worker's LOAD of the model (50 ms)
}

// Admission selects the model of refusal at arrival.
type Admission string

// Admission models.
const (
	// AdmitQueue mirrors batching's predictWaitLocked: the rows ahead
	// drain in batches of up to max_batch_size spread over the replicas.
	AdmitQueue Admission = "queue"
	// AdmitSLOBatch assumes batches of the SLO-feasible size (Capacity's
	// batch): the queue is kept to what replicas drain at capacity, so
	// that the earliest deadline in it leaves room for a full batch.
	AdmitSLOBatch Admission = "slo-batch"
)

// Defaults.
const (
	DefaultSLO       = 50 * time.Millisecond
	DefaultBase      = 5 * time.Millisecond
	DefaultPerItem   = time.Millisecond
	DefaultMaxBatch  = 32
	DefaultColdStart = 2 * time.Second
	DefaultMax       = 32
	DefaultWarmStart = 50 * time.Millisecond
	// PoolRefillDelay is the local process provisioner's wait after the
	// warm pool is taken from before it starts a worker to refill it
	// (poolRefillDelay in cmd/gannet).
	PoolRefillDelay = 250 * time.Millisecond
)

// Bounds of one run: a trace's length (Result.Series holds a point per
// second of it) and its expected number of arrivals (every answered
// request's latency is kept until the run ends), so that a mistyped rate
// or time, in a trace file or a flag, is an error and not a run that never
// ends or takes the machine's memory.
const (
	MaxDuration = 7 * 24 * time.Hour
	MaxArrivals = 20_000_000
	// MaxRate bounds a trace's rate (requests/s): above it, the
	// exponential gaps between arrivals late in a week-long trace fall
	// under the precision of the float64 seconds they are added to.
	MaxRate = 1e8
	// MaxReplicas bounds Max (so Min) and WarmWorkers, MaxBatchSize
	// bounds MaxBatch, as models.MaxReplicas and the largest
	// max_batch_size do in config.yaml.
	MaxReplicas  = 1024
	MaxBatchSize = 1 << 16
)

// sampleEvery is how often metrics are sampled (the baselines' windows).
const sampleEvery = 100 * time.Millisecond

// WithDefaults returns c with zero fields set to the defaults.
func (c Config) WithDefaults() Config {
	if c.SLO == 0 {
		c.SLO = DefaultSLO
	}
	if c.Base == 0 && c.PerItem == 0 {
		c.Base, c.PerItem = DefaultBase, DefaultPerItem
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.ColdStart == 0 {
		c.ColdStart = DefaultColdStart
	}
	if c.Min == 0 && c.Max == 0 {
		c.Min = 1
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Admission == "" {
		c.Admission = AdmitQueue
	}
	if c.WarmStart == 0 {
		c.WarmStart = DefaultWarmStart
	}
	return c
}

// Validate reports an unusable config (after defaults).
func (c Config) Validate() error {
	if err := c.Trace.check(); err != nil {
		return err
	}
	switch {
	case c.SLO <= 0 || c.Base < 0 || c.PerItem < 0 || c.Base+c.PerItem <= 0 || c.ColdStart < 0:
		return errors.New("sim: SLO and latency profile must be positive")
	case c.MaxBatch < 1 || c.MaxBatch > MaxBatchSize || c.Min < 0 || c.Max < max(c.Min, 1) || c.Max > MaxReplicas:
		return fmt.Errorf("sim: need max batch from 1 to %d and 0 <= min <= max, max from 1 to %d", MaxBatchSize, MaxReplicas)
	case c.Cores < 0:
		return errors.New("sim: negative cores")
	case c.WarmWorkers < 0 || c.WarmWorkers > MaxReplicas || c.WarmStart < 0:
		return fmt.Errorf("sim: warm pool must be from 0 to %d workers", MaxReplicas)
	case c.Admission != AdmitQueue && c.Admission != AdmitSLOBatch:
		return errors.New("sim: admission must be queue or slo-batch")
	}
	if rps, _ := autoscale.Capacity(c.latency(1), c.SLO, c.MaxBatch); rps == 0 {
		return errors.New("sim: not even a batch of one fits half the SLO")
	}
	return nil
}

// latency is the profile with n replicas running.
func (c Config) latency(n int) func(rows int) time.Duration {
	f := 1.0
	if c.Cores > 0 && n > c.Cores {
		f = float64(n) / float64(c.Cores)
	}
	return func(rows int) time.Duration {
		return time.Duration(f * float64(c.Base+time.Duration(rows)*c.PerItem))
	}
}

// Capacity is one replica's capacity (requests per second) at the
// SLO-feasible batch without contention, and that batch size.
func (c Config) Capacity() (float64, int) {
	return autoscale.Capacity(c.latency(1), c.SLO, c.MaxBatch)
}

// oracle is the oracle's table: the total capacity of n replicas, n in
// 0..Max.
type oracle []float64

func (c Config) oracle() oracle {
	o := make(oracle, c.Max+1)
	for n := 1; n <= c.Max; n++ {
		rps, _ := autoscale.Capacity(c.latency(n), c.SLO, c.MaxBatch)
		o[n] = float64(n) * rps
	}
	return o
}

// replicas is the fewest replicas whose total capacity covers rate, at
// least min; where no count covers it, the fewest that reach the largest
// total capacity (Max without contention).
func (o oracle) replicas(rate float64, min int) int {
	best := min
	for n := min; n < len(o); n++ {
		if o[n] >= rate {
			return n
		}
		if o[n] > o[best]*(1+1e-9) {
			best = n
		}
	}
	return best
}

// Policy decides replica counts in the simulator.
type Policy interface {
	Name() string
	Interval() time.Duration
	// Observe is called with the metrics every 100 ms of virtual time.
	Observe(m *Metrics)
	// Decide returns the desired replica count; reason may be "".
	Decide(m *Metrics) (replicas int, reason string)
}

// nudged is a Policy that, like `gannet serve`'s controller, also decides
// when admission refuses a request (batching.Config.OnShed ->
// Controller.Nudge): at once, at most once between two of its ticks.
type nudged interface {
	nudgedOnShed()
}

// Metrics is the simulated model's state that policies decide from.
type Metrics struct {
	Now        time.Time
	Rate       float64       // arrivals per second over the last second
	QueueLen   int           // requests waiting
	QueueDelay time.Duration // max queueing delay since the last decision (or the oldest waiting request's age, if larger)
	Misses     int           // SLO misses since the last decision
	Ready      int           // ready replicas (not leaving)
	Starting   int           // replicas not ready yet
	Ongoing    int           // requests waiting or in a running batch
	Capacity   float64       // per-replica capacity at the SLO-feasible batch, with the current contention
	Min, Max   int
	// Arrivals counts the requests that arrived so far (refused ones
	// too), as batching.QueueStats.Arrivals does.
	Arrivals uint64
	// RateEWMA is the arrival rate as batching.Queue estimates it: an
	// exponentially decayed count of arrivals with a 1 s time constant.
	RateEWMA float64
}

// request is one simulated request: arrival and deadline, ns since start.
type request struct{ arr, dl time.Duration }

type replica struct {
	readyAt   time.Duration // starting until then
	busyUntil time.Duration // running a batch until then
	rows      int           // rows of the batch running
	wakeAt    time.Duration // holding the slot, waiting for more requests, until then (0: not)
	waited    bool
	leaving   bool // drain: leaves when its batch ends
}

// warmWorker is a worker of the warm pool: in the pool from since
// (its process asked for), parked (assignable at once) from parked.
type warmWorker struct{ since, parked time.Duration }

// epoch is virtual time 0 as a time.Time.
var epoch = time.Unix(1_000_000_000, 0)

type run struct {
	cfg     Config
	policy  Policy
	now     time.Duration
	queue   []request
	head    int
	reps    []*replica
	holder  *replica // the replica holding the slot while the policy waits
	items   []batching.Item
	rateWin [10]int // arrivals per 100 ms bucket, last second
	rateIdx int64

	sinceDecideMiss  int
	sinceDecideDelay time.Duration
	shedNow          bool          // admission refused a request at this instant
	nudgedSinceTick  bool          // a nudged round came since the last tick
	lastScaled       time.Duration // when a decision last changed the count (-1h: never)
	running          int           // rows in running batches

	pool     []warmWorker // the warm pool, oldest first
	arrivals uint64       // requests arrived so far
	ewma     float64      // decayed arrival count (batching.Queue's rate estimate)
	ewmaAt   time.Duration
	joined   float64 // decayed count of admitted arrivals (batching's View.Joining)
	joinedAt time.Duration

	res   *Result
	lastT time.Duration
}

// Run simulates the config's trace under one policy.
func Run(cfg Config, p Policy) (*Result, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dur := cfg.Trace.Duration()
	secs := int(math.Ceil(dur.Seconds()))
	r := &run{cfg: cfg, policy: p, res: &Result{Policy: p.Name(), Series: make([]Point, secs), lat: make([][]float32, secs), Reasons: map[string]int{}}, lastScaled: -time.Hour}
	orc := cfg.oracle()
	n0 := orc.replicas(cfg.Trace.Rate(0), cfg.Min)
	for range n0 {
		r.reps = append(r.reps, &replica{})
	}
	for range cfg.WarmWorkers {
		r.pool = append(r.pool, warmWorker{})
	}
	arr := newArrivals(cfg.Trace, cfg.Seed)
	nextArr, more := arr.next()
	nextSample, nextDecide, nextSecond := time.Duration(0), time.Duration(0), time.Second
	_, nudges := p.(nudged)
	for {
		t := min(dur, nextSample, nextDecide, nextSecond, r.nextReplicaEvent())
		if more {
			t = min(t, nextArr)
		}
		r.advance(t)
		if t >= dur {
			break
		}
		r.replicaEvents()
		arrived := false
		for more && nextArr <= t {
			r.arrive(nextArr)
			arrived = true
			nextArr, more = arr.next()
		}
		if t == nextSample {
			m := r.metrics()
			p.Observe(&m)
			r.bucketRate()
			nextSample += sampleEvery
		}
		if t == nextDecide {
			r.decide()
			r.nudgedSinceTick = false
			nextDecide += max(p.Interval(), time.Millisecond)
		} else if nudges && r.shedNow && !r.nudgedSinceTick {
			// As Controller.Run and Nudge: one nudged round between two
			// ticks, which leaves the model alone while replicas start
			// or within an interval of a change it asked for (the misses
			// wait for the next decision).
			r.nudgedSinceTick = true
			if r.noneStarting() && r.now-r.lastScaled >= p.Interval() {
				r.decide()
			}
		}
		r.shedNow = false
		if t == nextSecond {
			r.second(t)
			nextSecond += time.Second
		}
		r.dispatch(arrived)
	}
	r.finish(orc)
	return r.res, nil
}

// advance integrates replica-seconds (and the warm pool's seconds) up to t.
func (r *run) advance(t time.Duration) {
	r.res.ReplicaSeconds += float64(len(r.reps)) * (t - r.lastT).Seconds()
	for _, w := range r.pool {
		if w.since < t {
			r.res.WarmSeconds += (t - max(w.since, r.lastT)).Seconds()
		}
	}
	r.lastT, r.now = t, t
}

func (r *run) nextReplicaEvent() time.Duration {
	next := time.Duration(math.MaxInt64)
	for _, rp := range r.reps {
		switch {
		case rp.readyAt > r.now:
			next = min(next, rp.readyAt)
		case rp.busyUntil > r.now:
			next = min(next, rp.busyUntil)
		case rp.wakeAt > r.now:
			next = min(next, rp.wakeAt)
		}
	}
	return next
}

// replicaEvents finishes batches; drained replicas leave.
func (r *run) replicaEvents() {
	r.reps = slices.DeleteFunc(r.reps, func(rp *replica) bool {
		if rp.rows > 0 && rp.busyUntil <= r.now {
			r.running -= rp.rows
			rp.rows = 0
		}
		return rp.leaving && rp.rows == 0
	})
}

// arrive queues a request, or refuses it at once when the queue's
// prediction says it would miss its deadline (as batching.Queue.Submit
// does with ErrWouldMiss).
func (r *run) arrive(t time.Duration) {
	r.rateWin[(t/sampleEvery)%10]++
	r.arrivals++
	r.ewma, r.ewmaAt = r.decayed(t)+1, t
	r.res.Requests++
	r.res.Series[min(int(t/time.Second), len(r.res.Series)-1)].Arrivals++
	q := request{arr: t, dl: t + r.cfg.SLO}
	if wait := r.predictWait(); t+wait > q.dl {
		r.miss(q, t)
		r.res.Shed++
		r.shedNow = true
		return
	}
	r.queue = append(r.queue, q)
	r.joined, r.joinedAt = r.decayedJoined(t)+1, t
}

// predictWait mirrors batching's predictWaitLocked: the rows ahead and
// this one drain in batches spread over the ready replicas, each taking
// the profile's time, plus half a batch when every replica is busy.
func (r *run) predictWait() time.Duration {
	replicas, busy := 0, 0
	for _, rp := range r.reps {
		if rp.readyAt <= r.now && !rp.leaving {
			replicas++
			if rp.rows > 0 {
				busy++
			}
		}
	}
	replicas = max(replicas, 1)
	n := len(r.queue) - r.head + 1
	b := min(r.cfg.MaxBatch, (n+replicas-1)/replicas)
	f := r.cfg.latency(r.active())
	if r.cfg.Admission == AdmitSLOBatch {
		_, sb := autoscale.Capacity(f, r.cfg.SLO, r.cfg.MaxBatch)
		b = max(1, min(b, sb))
	}
	one := f(b)
	wait := time.Duration((n+replicas*b-1)/(replicas*b)) * one
	if busy >= replicas {
		wait += one / 2
	}
	return wait
}

// rateTau is batching.Queue's time constant of its rate estimate.
const rateTau = time.Second

// decayed is the decayed arrival count at t (>= the last arrival).
func (r *run) decayed(t time.Duration) float64 {
	return decay(r.ewma, r.ewmaAt, t)
}

// decayedJoined is the decayed count of admitted arrivals at t (batching's
// View.Joining, times rateTau).
func (r *run) decayedJoined(t time.Duration) float64 {
	return decay(r.joined, r.joinedAt, t)
}

// decay is count n, last updated at at, decayed to t (time constant rateTau).
func decay(n float64, at, t time.Duration) float64 {
	return n * math.Exp(-float64(t-at)/float64(rateTau))
}

// bucketRate starts the rate bucket of the sampleEvery beginning now
// (called every sampleEvery, at its start).
func (r *run) bucketRate() {
	r.rateIdx = int64(r.now / sampleEvery)
	r.rateWin[r.rateIdx%10] = 0
}

// rate is the arrivals of the last second over that second: the nine
// buckets before the current one and the current one's part so far
// (early on, the time since the start).
func (r *run) rate() float64 {
	n := 0
	for _, c := range r.rateWin {
		n += c
	}
	window := min(r.now, 9*sampleEvery+r.now-time.Duration(r.rateIdx)*sampleEvery)
	return float64(n) / max(window, sampleEvery).Seconds()
}

func (r *run) counts() (ready, starting int) {
	for _, rp := range r.reps {
		switch {
		case rp.leaving:
		case rp.readyAt > r.now:
			starting++
		default:
			ready++
		}
	}
	return ready, starting
}

func (r *run) noneStarting() bool {
	_, starting := r.counts()
	return starting == 0
}

// active counts the replicas running (ready or draining): the contention.
func (r *run) active() int {
	n := 0
	for _, rp := range r.reps {
		if rp.readyAt <= r.now {
			n++
		}
	}
	return n
}

func (r *run) metrics() Metrics {
	ready, starting := r.counts()
	capacity, _ := autoscale.Capacity(r.cfg.latency(r.active()), r.cfg.SLO, r.cfg.MaxBatch)
	delay := r.sinceDecideDelay
	if r.head < len(r.queue) {
		delay = max(delay, r.now-r.queue[r.head].arr)
	}
	return Metrics{
		Now: epoch.Add(r.now), Rate: r.rate(), QueueLen: len(r.queue) - r.head, QueueDelay: delay,
		Misses: r.sinceDecideMiss, Ready: ready, Starting: starting, Ongoing: len(r.queue) - r.head + r.running,
		Capacity: capacity, Min: r.cfg.Min, Max: r.cfg.Max,
		Arrivals: r.arrivals, RateEWMA: r.decayed(r.now) / rateTau.Seconds(),
	}
}

func (r *run) decide() {
	m := r.metrics()
	n, reason := r.policy.Decide(&m)
	r.sinceDecideMiss, r.sinceDecideDelay = 0, 0
	n = max(r.cfg.Min, min(n, r.cfg.Max))
	if reason != "" {
		r.res.Reasons[reason]++
	}
	if cur := m.Ready + m.Starting; n != cur {
		r.res.ScalingActions++
		r.scaleTo(n, cur)
		r.lastScaled = r.now
	}
}

// scaleTo adds replicas (leaving ones come back first, they are warm) or
// removes them (starting first, then idle, then busy ones, which drain).
func (r *run) scaleTo(n, cur int) {
	for _, rp := range r.reps {
		if cur < n && rp.leaving {
			rp.leaving = false
			cur++
		}
	}
	for ; cur < n; cur++ {
		r.reps = append(r.reps, &replica{readyAt: r.takeWarm()})
	}
	if cur <= n {
		return
	}
	remove := func(match func(rp *replica) bool) {
		for i := len(r.reps) - 1; i >= 0 && cur > n; i-- {
			if rp := r.reps[i]; !rp.leaving && match(rp) {
				rp.leaving = true
				if rp == r.holder {
					r.holder = nil
				}
				rp.wakeAt, rp.waited = 0, false
				cur--
			}
		}
	}
	remove(func(rp *replica) bool { return rp.readyAt > r.now })
	remove(func(rp *replica) bool { return rp.rows == 0 && rp != r.holder })
	remove(func(rp *replica) bool { return rp.rows == 0 })
	remove(func(rp *replica) bool { return true })
	r.reps = slices.DeleteFunc(r.reps, func(rp *replica) bool { return rp.leaving && (rp.rows == 0 || rp.readyAt > r.now) })
}

// takeWarm returns when a replica asked for now is ready: from the
// oldest worker of the warm pool, as procProvisioner.takeWarmLocked does
// (one still starting is taken too: it loads the model once parked), and
// the pool is refilled by a process started PoolRefillDelay later; or,
// when the pool is empty, from a worker process started now.
func (r *run) takeWarm() time.Duration {
	for i, w := range r.pool {
		if w.since > r.now {
			continue // the refill's process is not started yet
		}
		r.pool = slices.Delete(r.pool, i, i+1)
		since := r.now + PoolRefillDelay
		r.pool = append(r.pool, warmWorker{since: since, parked: since + r.cfg.ColdStart})
		return max(w.parked, r.now) + r.cfg.WarmStart
	}
	return r.now + r.cfg.ColdStart
}

// shed drops the requests at the head that cannot meet their deadline
// even alone on a replica free now.
func (r *run) shed(f func(int) time.Duration) {
	alone := f(1)
	for r.head < len(r.queue) && r.queue[r.head].dl < r.now+alone {
		r.miss(r.queue[r.head], r.now)
		r.res.Shed++
		r.head++
	}
	if r.head > 4096 && r.head*2 > len(r.queue) {
		r.queue = append(r.queue[:0], r.queue[r.head:]...)
		r.head = 0
	}
}

func (r *run) miss(_ request, at time.Duration) {
	r.res.Missed++
	r.sinceDecideMiss++
	r.res.Series[min(int(at/time.Second), len(r.res.Series)-1)].Misses++
}

// dispatch offers the queue to the replica holding the slot (when its
// wait is over or a request arrived) and then to free replicas, asking
// batching.SLOPolicy for each batch, as the real scheduler does: one
// slot at a time.
func (r *run) dispatch(arrived bool) {
	f := r.cfg.latency(r.active())
	r.shed(f)
	if h := r.holder; h != nil {
		if !arrived && r.now < h.wakeAt {
			return
		}
		r.holder = nil
		if !r.offer(h, f) {
			return
		}
	}
	for _, rp := range r.reps {
		if r.head == len(r.queue) {
			return
		}
		if rp.leaving || rp.readyAt > r.now || rp.rows > 0 {
			continue
		}
		if !r.offer(rp, f) {
			return
		}
	}
}

// offer asks the batching policy for a batch on rp; false when rp now
// holds the slot waiting.
func (r *run) offer(rp *replica, f func(int) time.Duration) bool {
	if r.head == len(r.queue) {
		rp.wakeAt, rp.waited = 0, false
		return true
	}
	ready, _ := r.counts()
	r.items = r.items[:0]
	for _, q := range r.queue[r.head:min(len(r.queue), r.head+r.cfg.MaxBatch+1)] {
		r.items = append(r.items, batching.Item{Rows: 1, Deadline: epoch.Add(q.dl), Enqueued: epoch.Add(q.arr)})
	}
	v := batching.View{Now: epoch.Add(r.now), Items: r.items, MaxBatch: r.cfg.MaxBatch, Predict: f,
		Rate: r.decayed(r.now) / rateTau.Seconds(), Joining: r.decayedJoined(r.now) / rateTau.Seconds(),
		Replicas: max(ready, 1), Waited: rp.waited}
	d := batching.SLOPolicy{}.Decide(&v)
	if d.Take == 0 {
		rp.wakeAt, rp.waited = max(d.WaitUntil.Sub(epoch), r.now+time.Microsecond), true
		r.holder = rp
		return false
	}
	rp.wakeAt, rp.waited = 0, false
	lat := f(d.Take)
	done := r.now + lat
	rp.busyUntil, rp.rows = done, d.Take
	r.res.Batches++
	r.res.BatchRows += d.Take
	r.running += d.Take
	sec := min(int(done/time.Second), len(r.res.lat)-1)
	for _, q := range r.queue[r.head : r.head+d.Take] {
		r.sinceDecideDelay = max(r.sinceDecideDelay, r.now-q.arr)
		if done > q.dl {
			r.miss(q, done)
			r.res.Late++
			continue
		}
		r.res.Met++
		r.res.lat[sec] = append(r.res.lat[sec], float32((done-q.arr).Seconds()*1e3))
	}
	r.head += d.Take
	return true
}

// second closes a one-second point of the time series.
func (r *run) second(t time.Duration) {
	i := int(t/time.Second) - 1
	if i < 0 || i >= len(r.res.Series) {
		return
	}
	ready, starting := r.counts()
	r.res.Series[i].Replicas, r.res.Series[i].Ready = ready+starting, ready
}
