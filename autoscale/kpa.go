package autoscale

import (
	"math"
	"time"
)

// KPAConfig is Knative's Pod Autoscaler configuration (config-autoscaler
// ConfigMap and revision annotations), as far as its decider uses it. The
// zero value means Knative's defaults, except ContainerConcurrency, which
// must be set (Knative's default, 100, is for web servers).
//
// Reference: knative/serving pkg/autoscaler/scaling/autoscaler.go
// ((*autoscaler).Scale) and the Knative docs "Additional autoscaling
// configuration for Knative Pod Autoscaler" (stable-window 60s,
// panic-window-percentage 10, panic-threshold-percentage 200,
// container-concurrency-target-percentage 70, max-scale-up-rate 1000,
// max-scale-down-rate 2, tick-interval 2s).
type KPAConfig struct {
	// ContainerConcurrency is the per-pod concurrency target
	// (container-concurrency-target-default or the revision's
	// containerConcurrency).
	ContainerConcurrency float64
	TargetUtilization    float64       // container-concurrency-target-percentage (0.7)
	StableWindow         time.Duration // 60 s
	PanicWindow          time.Duration // 10% of the stable window: 6 s
	PanicThreshold       float64       // 2.0: panic when the panic-window pod count >= 2x ready
	MaxScaleUpRate       float64       // 1000
	MaxScaleDownRate     float64       // 2
	TickInterval         time.Duration // 2 s: how often Scale runs
}

// Knative's defaults.
const (
	KPATargetUtilization = 0.7
	KPAStableWindow      = 60 * time.Second
	KPAPanicThreshold    = 2.0
	KPAMaxScaleUpRate    = 1000
	KPAMaxScaleDownRate  = 2
	KPATickInterval      = 2 * time.Second
)

// WithDefaults returns c with zero fields set to Knative's defaults.
func (c KPAConfig) WithDefaults() KPAConfig {
	if c.TargetUtilization == 0 {
		c.TargetUtilization = KPATargetUtilization
	}
	if c.StableWindow == 0 {
		c.StableWindow = KPAStableWindow
	}
	if c.PanicWindow == 0 {
		c.PanicWindow = c.StableWindow / 10
	}
	if c.PanicThreshold == 0 {
		c.PanicThreshold = KPAPanicThreshold
	}
	if c.MaxScaleUpRate == 0 {
		c.MaxScaleUpRate = KPAMaxScaleUpRate
	}
	if c.MaxScaleDownRate == 0 {
		c.MaxScaleDownRate = KPAMaxScaleDownRate
	}
	if c.TickInterval == 0 {
		c.TickInterval = KPATickInterval
	}
	return c
}

// KPAInput is what the KPA sees each tick.
type KPAInput struct {
	Now   time.Time
	Ready int // ready pods
	// StableConcurrency and PanicConcurrency are the observed total
	// concurrency (requests in flight, summed over pods) averaged over the
	// stable and panic windows.
	StableConcurrency, PanicConcurrency float64
	Min, Max                            int // min-scale, max-scale (0: none)
}

// KPAState is the panic-mode state the KPA keeps between ticks.
type KPAState struct {
	PanicTime    time.Time // zero: not panicking
	MaxPanicPods int
}

// KPADecide is one tick of the KPA: the desired pod count and the new
// state. It is a pure function. Scale-down delay (0 by default) and
// scale to zero's grace period are not modelled.
func KPADecide(cfg KPAConfig, st KPAState, in KPAInput) (int, KPAState) {
	cfg = cfg.WithDefaults()
	target := cfg.ContainerConcurrency * cfg.TargetUtilization
	if target <= 0 {
		return max(in.Ready, in.Min), st
	}
	ready := math.Max(1, float64(in.Ready))
	maxUp := math.Ceil(cfg.MaxScaleUpRate * ready)
	maxDown := math.Floor(ready / cfg.MaxScaleDownRate)
	dspc := math.Ceil(in.StableConcurrency / target)
	dppc := math.Ceil(in.PanicConcurrency / target)
	stable := int(math.Min(math.Max(dspc, maxDown), maxUp))
	panicking := int(math.Min(math.Max(dppc, maxDown), maxUp))

	over := dppc/ready >= cfg.PanicThreshold
	switch {
	case over:
		st.PanicTime = in.Now // start or extend panic
	case !st.PanicTime.IsZero() && st.PanicTime.Add(cfg.StableWindow).Before(in.Now):
		st = KPAState{} // the surge has reached the stable window
	}
	desired := stable
	if !st.PanicTime.IsZero() {
		desired = max(desired, panicking)
		// In panic mode the KPA never scales down.
		st.MaxPanicPods = max(st.MaxPanicPods, desired)
		desired = st.MaxPanicPods
	}
	desired = max(desired, in.Min)
	if in.Max > 0 {
		desired = min(desired, in.Max)
	}
	return desired, st
}
