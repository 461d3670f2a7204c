package main

// Autoscaling in `gannet serve`: the models whose config.yaml has a
// replicas block get an autoscale.Controller fed by queueSource (the
// batching queues and the dispatcher) and served by procProvisioner
// (`gannet worker` children of this process).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gannet-ml/gannet/autoscale"
	"github.com/gannet-ml/gannet/batching"
	"github.com/gannet-ml/gannet/dispatch"
	"github.com/gannet-ml/gannet/internal/supervise"
)

// noSLOBudget stands for the SLO of a model without one when its
// per-replica capacity is estimated: throughput at batches of up to half
// a second.
const noSLOBudget = time.Second

// scaledModel is one autoscaled model as the source sees it.
type scaledModel struct {
	name     string
	q        *batching.Queue
	slo      time.Duration // 0: none
	maxBatch int
	min, max int
	// Inputs' goroutine only: the queue's Missed at the last call, and
	// the rate estimate made from its counters.
	missed uint64
	rate   autoscale.RateEstimate
}

// queueSource is the controller's autoscale.Source: per model, the
// queue's arrival rate (rows/s) and arrival counts (requests and rows),
// length, oldest wait and misses since the last call; the dispatcher's
// ready replicas; the provisioner's starting ones; and a replica's
// capacity from the model's latency profile.
type queueSource struct {
	models []*scaledModel
	disp   *dispatch.Dispatcher
	prov   *procProvisioner
}

func (s *queueSource) Inputs(now time.Time) ([]autoscale.ModelInput, error) {
	out := make([]autoscale.ModelInput, 0, len(s.models))
	for _, m := range s.models {
		st := m.q.Stats()
		misses := st.Missed - min(m.missed, st.Missed)
		m.missed = st.Missed
		budget := m.slo
		if budget == 0 {
			budget = noSLOBudget
		}
		capacity, _ := autoscale.Capacity(m.q.Profile().Typical, budget, m.maxBatch)
		st.Rate = m.rate.Rate(now, st.ArrivedRows, st.Rate)
		out = append(out, autoscale.ModelInput{Model: m.name, Input: autoscale.Input{
			Now: now, Rate: st.Rate, Arrivals: st.Arrivals, ArrivedRows: st.ArrivedRows, QueueLen: st.Len, QueueDelay: st.OldestWait, Misses: int(misses),
			SLO: m.slo, Ready: s.disp.Replicas(m.name), Starting: s.prov.Starting(m.name),
			Capacity: capacity, Min: m.min, Max: m.max,
		}})
	}
	return out, nil
}

// procProvisioner is the local process provisioner: ScaleTo takes a
// parked worker of the warm pool (dispatch.Assign: LOAD at once) or,
// when the pool is empty, starts a `gannet worker --model M` child
// (supervised: one that dies is restarted); or it removes the newest
// ones, starting ones first. A removed ready replica is drained first
// (dispatch.Drain: no new batch, those in flight answered), then sent
// SIGTERM, so no request is lost. Replicas that joined on their own count
// as ready and are never stopped.
//
// The warm pool is `warm` `gannet worker` children started without
// --model, announced to the dispatcher with dispatch.Park so that they
// are parked at HELLO: no replica of anything. One that dies is restarted
// by its supervisor and parked again; one that is assigned leaves the
// pool for good (it is removed like any replica, and the supervisor
// restarts it on its model: the assignment outlives its sessions). The
// refill goroutine tops the pool up poolRefillDelay after it is taken
// from.
type procProvisioner struct {
	disp    *dispatch.Dispatcher
	dm      *dispatch.Metrics
	metrics *autoscaleMetrics
	log     *slog.Logger
	start   func(name string, args []string) (*supervise.Process, error)
	args    func(model, id string) []string // a worker's arguments; model "": a warm-pool worker
	drain   time.Duration                   // longest wait for a drain before SIGTERM anyway
	warm    int                             // warm-pool size (--warm-workers)

	mu     sync.Mutex         // guards procs, pool, seq, closed; held across process starts and dispatcher calls
	procs  map[string][]*proc // by model, oldest first
	pool   []*proc            // the warm pool, oldest first (parked, or starting and announced)
	seq    int
	closed bool
	wg     sync.WaitGroup // the goroutines stopping removed processes, and refill

	refill     chan struct{} // buffered (1): the pool was taken from
	stopRefill chan struct{} // closed by close: refill returns

	// readyMu guards ready and started. It is never held while waiting
	// for anything (the dispatcher's goroutine takes it in onReplica); with
	// mu, mu is taken first.
	readyMu sync.Mutex
	ready   map[string]bool      // by worker id: true while a ready replica (any worker's, ours or not)
	started map[string]coldStart // by worker id: when it was asked for, until its first ready
}

// coldStart is when a replica was asked for, and how ("process": a new
// worker process; "pool": a parked worker assigned).
type coldStart struct {
	at   time.Time
	from string
}

// poolRefillDelay is how long the refill waits after the pool is taken
// from before it starts processes: the assigned workers are loading their
// model then, and on a small host a starting process takes CPU from them.
const poolRefillDelay = 250 * time.Millisecond

// proc is one worker process the provisioner started.
type proc struct {
	id string // its --id, matched against dispatch.ReplicaEvent
	p  *supervise.Process
}

// Starting is how many of the model's processes are not ready replicas;
// it also sets gannet_replicas{state="starting"}.
func (p *procProvisioner) Starting(model string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.startingLocked(model)
	p.dm.SetStarting(model, n)
	return n
}

func (p *procProvisioner) startingLocked(model string) int {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	n := 0
	for _, pr := range p.procs[model] {
		if !p.ready[pr.id] {
			n++
		}
	}
	return n
}

// onReplica tracks readiness and measures cold starts; it is the
// dispatcher's OnReplica (its goroutine: it only takes readyMu).
func (p *procProvisioner) onReplica(e dispatch.ReplicaEvent) {
	p.readyMu.Lock()
	defer p.readyMu.Unlock()
	if e.Ready {
		p.ready[e.WorkerID] = true
	} else {
		delete(p.ready, e.WorkerID) // absent: not ready
	}
	if c, ok := p.started[e.WorkerID]; ok && e.Ready {
		p.metrics.coldStart.WithLabelValues(e.Model, c.from).Observe(time.Since(c.at).Seconds())
		delete(p.started, e.WorkerID)
	}
}

// ScaleTo implements autoscale.Provisioner. It never blocks on a process:
// starts are asynchronous, and removals drain in goroutines Close waits for.
func (p *procProvisioner) ScaleTo(_ context.Context, model string, n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("provisioner closed")
	}
	own := p.procs[model]
	cur := p.disp.Replicas(model) + p.startingLocked(model)
	var err error
	for ; cur < n; cur++ {
		if pr := p.takeWarmLocked(model); pr != nil {
			own = append(own, pr)
			continue
		}
		p.seq++
		id := fmt.Sprintf("auto-%s-%d", model, p.seq)
		p.readyMu.Lock()
		p.started[id] = coldStart{time.Now(), "process"}
		p.readyMu.Unlock()
		sp, serr := p.start("worker "+id, p.args(model, id))
		if serr != nil {
			err = serr
			break
		}
		own = append(own, &proc{id: id, p: sp})
	}
	for ; cur > n; cur-- {
		if len(own) == 0 {
			break // only replicas that joined on their own are left
		}
		i := len(own) - 1 // the newest starting one, else the newest
		p.readyMu.Lock()
		for j := len(own) - 1; j >= 0; j-- {
			if !p.ready[own[j].id] {
				i = j
				break
			}
		}
		delete(p.ready, own[i].id)
		delete(p.started, own[i].id)
		p.readyMu.Unlock()
		pr := own[i]
		own = slices.Delete(own, i, i+1)
		p.wg.Add(1)
		go p.stop(pr)
	}
	p.procs[model] = own
	p.dm.SetStarting(model, p.startingLocked(model))
	return err
}

// takeWarmLocked assigns the oldest worker of the warm pool to the model
// and returns it (nil when the pool is empty), and wakes the refill.
func (p *procProvisioner) takeWarmLocked(model string) *proc {
	for len(p.pool) > 0 {
		pr := p.pool[0]
		p.pool = p.pool[1:]
		select {
		case p.refill <- struct{}{}:
		default:
		}
		p.readyMu.Lock()
		p.started[pr.id] = coldStart{time.Now(), "pool"}
		p.readyMu.Unlock()
		err := p.disp.Assign(pr.id, model)
		if err == nil {
			return pr
		}
		p.log.Warn("autoscale: cannot assign a warm worker; stopping it", "worker", pr.id, "model", model, "err", err)
		p.readyMu.Lock()
		delete(p.started, pr.id)
		p.readyMu.Unlock()
		p.wg.Add(1)
		go p.stop(pr)
	}
	return nil
}

// refillLoop keeps the warm pool at p.warm workers: once at the start,
// then poolRefillDelay after each time the pool is taken from, until
// close. It is started by attach and owned by the provisioner (close
// stops it and waits for it).
func (p *procProvisioner) refillLoop() {
	defer p.wg.Done()
	p.fillPool()
	for {
		select {
		case <-p.stopRefill:
			return
		case <-p.refill:
		}
		select {
		case <-p.stopRefill:
			return
		case <-time.After(poolRefillDelay):
		}
		p.fillPool()
	}
}

// fillPool starts warm-pool workers until there are p.warm, each
// announced to the dispatcher (Park) before its process starts.
func (p *procProvisioner) fillPool() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed && len(p.pool) < p.warm {
		p.seq++
		id := fmt.Sprintf("warm-%d", p.seq)
		if err := p.disp.Park(id); err != nil {
			p.log.Error("autoscale: cannot announce a warm worker", "err", err)
			return
		}
		sp, err := p.start("worker "+id, p.args("", id))
		if err != nil {
			p.log.Error("autoscale: cannot start a warm worker", "err", err)
			return
		}
		p.pool = append(p.pool, &proc{id: id, p: sp})
	}
}

// stop drains a removed replica, then stops its process.
func (p *procProvisioner) stop(pr *proc) {
	defer p.wg.Done()
	t := time.NewTimer(p.drain)
	defer t.Stop()
	select {
	case <-p.disp.Drain(pr.id):
	case <-t.C:
		p.log.Warn("autoscale: drain timed out; stopping the worker anyway", "worker", pr.id)
	}
	pr.p.Stop(5 * time.Second)
}

// close stops scaling, waits for the removals under way and returns the
// processes left, for the ordered shutdown to stop.
func (p *procProvisioner) close() []*supervise.Process {
	p.mu.Lock()
	if !p.closed {
		close(p.stopRefill)
	}
	p.closed = true
	var left []*supervise.Process
	for _, own := range p.procs {
		for _, pr := range own {
			left = append(left, pr.p)
		}
	}
	for _, pr := range p.pool {
		left = append(left, pr.p)
	}
	p.procs, p.pool = nil, nil
	p.mu.Unlock()
	p.wg.Wait()
	return left
}

// autoscaleMetrics are the autoscaler's metrics, by model.
type autoscaleMetrics struct {
	desired, rate, capacity, delay *prometheus.GaugeVec
	decisions, events              *prometheus.CounterVec
	coldStart                      *prometheus.HistogramVec
}

func newAutoscaleMetrics(reg prometheus.Registerer) *autoscaleMetrics {
	m := &autoscaleMetrics{
		desired: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_autoscaler_desired_replicas", Help: "Replicas the autoscaler wants for the model (ready + starting once reached)."}, []string{"model"}),
		rate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_autoscaler_arrival_rate", Help: "The autoscaler's estimate of the model's arrival rate, in rows per second (a request of n rows counts n)."}, []string{"model"}),
		capacity: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_autoscaler_replica_capacity", Help: "The autoscaler's estimate of one replica's throughput at its SLO-feasible batch size, in rows per second (0: unknown)."}, []string{"model"}),
		delay: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_autoscaler_queue_delay_seconds", Help: "Age of the model's longest-waiting request at the last decision."}, []string{"model"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_autoscaler_decisions_total", Help: "Autoscaler decisions (one per model per interval, plus at most one round per interval woken by a request waiting for a model with no replica, and one woken by admission refusing a request for want of capacity; a woken round skips models with replicas starting or scaled less than an interval ago), by reason."}, []string{"model", "reason"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_autoscaler_scaling_events_total", Help: "Changes of the replica count the autoscaler asked for, by direction (up, down)."}, []string{"model", "direction"}),
		coldStart: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gannet_autoscaler_cold_start_seconds", Help: "Time from asking for a replica to its being ready, by how: from=process (a worker process started) or pool (a parked warm worker assigned).",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}, []string{"model", "from"}),
	}
	if reg != nil {
		reg.MustRegister(m.desired, m.rate, m.capacity, m.delay, m.decisions, m.events, m.coldStart)
	}
	return m
}

// AutoscalerStatus is a model's "autoscaler" object in GET
// /v2/models/{m}/stats.
type AutoscalerStatus struct {
	Desired    int     `json:"desired"`
	Ready      int     `json:"ready"`
	Starting   int     `json:"starting"`
	Min        int     `json:"min"`
	Max        int     `json:"max"`
	Reason     string  `json:"reason"`
	Rate       float64 `json:"rate"`         // rows per second
	Capacity   float64 `json:"capacity"`     // rows per second per replica; 0: unknown
	Need       int     `json:"need"`         // replicas the rate needs at the target utilization
	QueueLen   int     `json:"queue_length"` // requests waiting
	QueueDelay int64   `json:"queue_delay_ns"`
}

// autoscaler runs the controller of the autoscaled models.
type autoscaler struct {
	ctrl    *autoscale.Controller
	prov    *procProvisioner
	metrics *autoscaleMetrics
	cancel  context.CancelFunc
	done    chan struct{} // closed when the controller's goroutine returns

	mu     sync.Mutex // guards status
	status map[string]AutoscalerStatus
}

// onDecision records a decision in the metrics and the status.
func (a *autoscaler) onDecision(model string, in autoscale.Input, d autoscale.Decision) {
	m := a.metrics
	m.desired.WithLabelValues(model).Set(float64(d.Replicas))
	m.rate.WithLabelValues(model).Set(in.Rate)
	m.capacity.WithLabelValues(model).Set(in.Capacity)
	m.delay.WithLabelValues(model).Set(in.QueueDelay.Seconds())
	m.decisions.WithLabelValues(model, d.Reason).Inc()
	switch cur := in.Ready + in.Starting; {
	case d.Replicas > cur:
		m.events.WithLabelValues(model, "up").Inc()
	case d.Replicas < cur:
		m.events.WithLabelValues(model, "down").Inc()
	}
	a.mu.Lock()
	a.status[model] = AutoscalerStatus{Desired: d.Replicas, Ready: in.Ready, Starting: in.Starting, Min: in.Min, Max: in.Max,
		Reason: d.Reason, Rate: in.Rate, Capacity: in.Capacity, Need: d.Need, QueueLen: in.QueueLen, QueueDelay: int64(in.QueueDelay)}
	a.mu.Unlock()
}

// Status is a model's last decision; ok false for a model not autoscaled
// (or not decided on yet).
func (a *autoscaler) Status(model string) (AutoscalerStatus, bool) {
	if a == nil {
		return AutoscalerStatus{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.status[model]
	return s, ok
}

// run starts the controller's goroutine; stop ends it.
func (a *autoscaler) run() {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	go func() {
		defer close(a.done)
		a.ctrl.Run(ctx)
	}()
}

// stop ends the controller (no scaling from now on), waits for the
// replicas being removed to drain, and returns the worker processes left.
func (a *autoscaler) stop() []*supervise.Process {
	if a == nil {
		return nil
	}
	a.cancel()
	<-a.done
	return a.prov.close()
}

// autoscaleFlags are serve's autoscaling flags.
type autoscaleFlags struct {
	interval, downWindow, idle time.Duration
	warm                       int // --warm-workers
}

// onStarved is the dispatcher's OnStarved: a request waits for a model
// with no ready replica, so the controller decides now rather than at its
// next tick (a scale from zero starts at once).
func (a *autoscaler) onStarved(string) { a.ctrl.Wake() }

// onShed is an autoscaled model's batching.Config.OnShed: admission
// refused a request for want of capacity, so the controller decides now
// (Nudge: at most once between two ticks, apart from onStarved's wakes)
// rather than up to an interval later.
func (a *autoscaler) onShed() { a.ctrl.Nudge() }

// newAutoscaler builds the autoscaler of the models with a replicas block
// (nil when none has one). Its provisioner's onReplica must be the
// dispatcher's OnReplica: so it is built in two steps, newAutoscaler
// before the dispatcher and attach after.
func newAutoscaler(f serveFlags, reg prometheus.Registerer, dm *dispatch.Metrics, log *slog.Logger) (*autoscaler, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cfg := autoscale.Config{DownWindow: f.autoscale.downWindow, IdleToZero: f.autoscale.idle}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &autoscaler{metrics: newAutoscaleMetrics(reg), status: map[string]AutoscalerStatus{}}
	a.prov = &procProvisioner{
		dm: dm, metrics: a.metrics, log: log, drain: f.drainTimeout, procs: map[string][]*proc{},
		ready: map[string]bool{}, started: map[string]coldStart{}, warm: f.autoscale.warm,
		refill: make(chan struct{}, 1), stopRefill: make(chan struct{}),
		start: func(name string, args []string) (*supervise.Process, error) {
			return supervise.Start(supervise.Config{Name: name, Path: exe, Args: args, Logger: log})
		},
	}
	a.ctrl = &autoscale.Controller{Provisioner: a.prov, Config: cfg, Interval: f.autoscale.interval, Log: log, OnDecision: a.onDecision}
	return a, nil
}

// attach gives the autoscaler the dispatcher and the queues of its
// models, starts each model's min replicas and the controller.
func (a *autoscaler) attach(disp *dispatch.Dispatcher, connect string, f serveFlags, extra []string, models []*scaledModel) {
	a.prov.disp = disp
	a.prov.args = func(model, id string) []string {
		args := []string{"worker", "--connect", connect, "--id", id, "--heartbeat", f.heartbeat.String(), "--log-level", f.logLevel}
		if model != "" {
			args = append(args, "--model", model)
		}
		return append(args, extra...)
	}
	a.ctrl.Source = &queueSource{models: models, disp: disp, prov: a.prov}
	for _, m := range models {
		if err := a.prov.ScaleTo(context.Background(), m.name, m.min); err != nil {
			a.prov.log.Error("autoscale: cannot start workers", "model", m.name, "err", err)
		}
	}
	if a.prov.warm > 0 {
		a.prov.wg.Add(1)
		go a.prov.refillLoop()
	}
	a.run()
}
