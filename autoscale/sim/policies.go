package sim

import (
	"time"

	"github.com/gannet-ml/gannet/autoscale"
)

// Gannet is Gannet's policy: autoscale.Decide every Interval (250 ms),
// and at once when admission refuses a request (at most once between two
// ticks), with the inputs `gannet serve`'s source gives it (cmd/gannet's
// queueSource): the arrival rate from autoscale.RateEstimate, and the
// queue's arrival counter.
type Gannet struct {
	Config   autoscale.Config
	Every    time.Duration // 0: autoscale.DefaultInterval
	SLO      time.Duration
	st       autoscale.State
	Decision autoscale.Decision // the last one
	rate     autoscale.RateEstimate
}

// NewGannet returns Gannet's policy for a model with this SLO.
func NewGannet(slo time.Duration) *Gannet { return &Gannet{SLO: slo} }

// Name implements Policy.
func (*Gannet) Name() string { return "gannet" }

// Interval implements Policy.
func (g *Gannet) Interval() time.Duration {
	if g.Every > 0 {
		return g.Every
	}
	return autoscale.DefaultInterval
}

// nudgedOnShed: serve's controller is nudged by admission refusals.
func (*Gannet) nudgedOnShed() {}

// Observe implements Policy: Gannet's inputs are the current metrics.
func (*Gannet) Observe(*Metrics) {}

// Decide implements Policy.
func (g *Gannet) Decide(m *Metrics) (int, string) {
	// Every simulated request is one row: the arrival count is the count
	// of arrived rows RateEstimate takes, and ArrivedRows stays 0 (unknown).
	rate := g.rate.Rate(m.Now, m.Arrivals, m.RateEWMA)
	in := autoscale.Input{
		Now: m.Now, Rate: rate, Arrivals: m.Arrivals, QueueLen: m.QueueLen, QueueDelay: m.QueueDelay, Misses: m.Misses,
		SLO: g.SLO, Ready: m.Ready, Starting: m.Starting, Capacity: m.Capacity, Min: m.Min, Max: m.Max,
	}
	g.Decision, g.st = autoscale.Decide(g.Config, g.st, in)
	return g.Decision.Replicas, g.Decision.Reason
}

// Ray is the Ray Serve re-implementation: the replicas' ongoing requests
// are sampled every 100 ms, averaged over LookBack, and reach the policy
// every MetricsInterval; autoscale.RayDecide runs every LoopPeriod.
type Ray struct {
	Config   autoscale.RayConfig
	win      *autoscale.Window
	reported float64
	nextPush time.Time
	st       autoscale.RayState
	started  bool
}

// NewRay returns the Ray policy (zero config fields: Ray's defaults).
func NewRay(cfg autoscale.RayConfig) *Ray {
	cfg = cfg.WithDefaults()
	return &Ray{Config: cfg, win: autoscale.NewWindow(cfg.LookBack, sampleEvery)}
}

// Name implements Policy.
func (*Ray) Name() string { return "ray" }

// Interval implements Policy.
func (p *Ray) Interval() time.Duration { return p.Config.LoopPeriod }

// Observe implements Policy.
func (p *Ray) Observe(m *Metrics) {
	p.win.Add(m.Now, float64(m.Ongoing))
	if !m.Now.Before(p.nextPush) {
		p.reported = p.win.Mean(m.Now)
		p.nextPush = m.Now.Add(p.Config.MetricsInterval)
	}
}

// Decide implements Policy.
func (p *Ray) Decide(m *Metrics) (int, string) {
	if !p.started {
		p.st.Target, p.started = m.Ready+m.Starting, true
	}
	n, st := autoscale.RayDecide(p.Config, p.st, autoscale.RayInput{Running: m.Ready, Ongoing: p.reported, Min: m.Min, Max: m.Max})
	p.st = st
	return n, ""
}

// KPA is the Knative Pod Autoscaler re-implementation: concurrency
// (requests waiting or running) is sampled every 100 ms into 1-s buckets
// averaged over the stable and panic windows; autoscale.KPADecide runs
// every TickInterval.
type KPA struct {
	Config        autoscale.KPAConfig
	stable, panic *autoscale.Window
	st            autoscale.KPAState
}

// NewKPA returns the KPA policy; cfg.ContainerConcurrency must be set.
func NewKPA(cfg autoscale.KPAConfig) *KPA {
	cfg = cfg.WithDefaults()
	return &KPA{Config: cfg, stable: autoscale.NewWindow(cfg.StableWindow, time.Second), panic: autoscale.NewWindow(cfg.PanicWindow, time.Second)}
}

// Name implements Policy.
func (*KPA) Name() string { return "kpa" }

// Interval implements Policy.
func (p *KPA) Interval() time.Duration { return p.Config.TickInterval }

// Observe implements Policy.
func (p *KPA) Observe(m *Metrics) {
	p.stable.Add(m.Now, float64(m.Ongoing))
	p.panic.Add(m.Now, float64(m.Ongoing))
}

// Decide implements Policy.
func (p *KPA) Decide(m *Metrics) (int, string) {
	n, st := autoscale.KPADecide(p.Config, p.st, autoscale.KPAInput{
		Now: m.Now, Ready: m.Ready, StableConcurrency: p.stable.Mean(m.Now), PanicConcurrency: p.panic.Mean(m.Now), Min: m.Min, Max: m.Max,
	})
	p.st = st
	return n, ""
}
