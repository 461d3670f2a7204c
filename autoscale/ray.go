package autoscale

import (
	"math"
	"time"
)

// RayConfig is Ray Serve's autoscaling_config, as far as its default
// policy uses it. The zero value means Ray's defaults (below).
//
// Reference: ray-project/ray python/ray/serve/autoscaling_policy.py
// (replica_queue_length_autoscaling_policy, _apply_scaling_factors,
// _apply_bounds, _apply_delay_logic, _get_cold_start_scale_up_replicas)
// and doc/source/serve/autoscaling-guide.md.
type RayConfig struct {
	// TargetOngoing is target_ongoing_requests: requests queued or running
	// per replica the policy aims at (default 2).
	TargetOngoing float64
	// UpscaleDelay and DownscaleDelay: a decision must hold for this long
	// (as consecutive control-loop periods) before it is applied
	// (defaults 30 s and 600 s).
	UpscaleDelay, DownscaleDelay time.Duration
	// SmoothingFactor is smoothing_factor (upscaling and downscaling
	// factor alike; default 1).
	SmoothingFactor float64
	// LoopPeriod is Ray's CONTROL_LOOP_INTERVAL_S (0.1 s): the policy is
	// called once per period and the delays count periods.
	LoopPeriod time.Duration
	// LookBack is look_back_period_s, the window the replicas' ongoing
	// request counts are averaged over, and MetricsInterval is
	// metrics_interval_s, how often the averages reach the controller
	// (10 s each). Decide takes the averaged value; the caller averages.
	LookBack, MetricsInterval time.Duration
}

// Ray Serve's defaults.
const (
	RayTargetOngoing   = 2
	RayUpscaleDelay    = 30 * time.Second
	RayDownscaleDelay  = 600 * time.Second
	RayLoopPeriod      = 100 * time.Millisecond
	RayLookBack        = 10 * time.Second
	RayMetricsInterval = 10 * time.Second
)

// WithDefaults returns c with zero fields set to Ray's defaults.
func (c RayConfig) WithDefaults() RayConfig {
	if c.TargetOngoing == 0 {
		c.TargetOngoing = RayTargetOngoing
	}
	if c.UpscaleDelay == 0 {
		c.UpscaleDelay = RayUpscaleDelay
	}
	if c.DownscaleDelay == 0 {
		c.DownscaleDelay = RayDownscaleDelay
	}
	if c.SmoothingFactor == 0 {
		c.SmoothingFactor = 1
	}
	if c.LoopPeriod == 0 {
		c.LoopPeriod = RayLoopPeriod
	}
	if c.LookBack == 0 {
		c.LookBack = RayLookBack
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = RayMetricsInterval
	}
	return c
}

// RayInput is what Ray's policy sees each control-loop period.
type RayInput struct {
	Running int // running replicas (current_num_replicas)
	// Ongoing is total_num_requests: the requests queued or running over
	// all replicas (and queued at handles), averaged over LookBack as last
	// reported.
	Ongoing  float64
	Min, Max int // min_replicas, max_replicas
}

// RayState is the policy state Ray keeps between calls.
type RayState struct {
	Target  int // target_num_replicas, the last decision
	Counter int // the decision counter: > 0 periods wanting up, < 0 down
}

// RayDecide is one call of Ray Serve's default policy: it returns the new
// target replica count and state. It is a pure function.
func RayDecide(cfg RayConfig, st RayState, in RayInput) (int, RayState) {
	cfg = cfg.WithDefaults()
	// Cold start fast path: from zero running replicas, any request scales
	// to max(ceil(1 x upscaling factor), target) at once, bypassing delays.
	if in.Running == 0 {
		if in.Ongoing > 0 {
			st.Target = max(int(math.Ceil(cfg.SmoothingFactor)), st.Target)
		}
		return st.Target, st
	}
	// replica_queue_length policy: desired = running x ongoing / (target x running).
	desired := float64(in.Running) * in.Ongoing / (cfg.TargetOngoing * float64(in.Running))
	// _apply_scaling_factors.
	scaled := int(math.Ceil(float64(in.Running) + cfg.SmoothingFactor*(desired-float64(in.Running))))
	if int(math.Ceil(desired)) < in.Running && scaled == in.Running {
		scaled--
	}
	// _apply_bounds.
	scaled = max(in.Min, scaled)
	if in.Max > 0 {
		scaled = min(in.Max, scaled)
	}
	// _apply_delay_logic against the current target.
	decision := st.Target
	switch {
	case scaled > st.Target:
		if st.Counter < 0 {
			st.Counter = 0
		}
		st.Counter++
		if st.Counter > int(cfg.UpscaleDelay/cfg.LoopPeriod) {
			st.Counter, decision = 0, scaled
		}
	case scaled < st.Target:
		if st.Counter > 0 {
			st.Counter = 0
		}
		st.Counter--
		if st.Target > 1 {
			scaled = max(1, scaled) // only 1 -> 0 may reach zero
		}
		if st.Counter < -int(cfg.DownscaleDelay/cfg.LoopPeriod) {
			st.Counter, decision = 0, scaled
		}
	default:
		st.Counter = 0
	}
	st.Target = decision
	return decision, st
}
