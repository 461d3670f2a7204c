// Package autoscale decides how many replicas each model should have.
//
// It owns:
//
//   - [Decide], Gannet's pure decision function: from one model's metrics
//     (arrival rate and count, queue, queueing delay, SLO misses, ready
//     and starting replicas, per-replica capacity) and the decision state
//     carried from the previous call, it returns the desired replica count
//     and a reason.
//   - [Capacity], the per-replica throughput at the SLO-feasible batch size
//     of a latency profile.
//   - [RayDecide] and [KPADecide], re-implementations of Ray Serve's default
//     autoscaling policy and Knative's Pod Autoscaler, as decision functions
//     of the same kind, for the simulator's comparisons.
//   - [Window], the time-bucketed mean the baselines' metrics need.
//   - [Controller], the loop that every Interval reads a [Source], decides
//     per model and tells a [Provisioner], and decides at once when woken
//     ([Controller.Wake]: a request waits for a model with no replica) or
//     nudged ([Controller.Nudge]: admission refused a request for want of
//     capacity). Provisioners (local processes, containers, pods) live
//     elsewhere.
//
// The trace-driven simulator is autoscale/sim.
//
// Concurrency: the decision functions are pure (their state is a value
// passed in and returned) and safe for concurrent use. A Window is not
// safe for concurrent use. A Controller's Run is one goroutine; its
// Status, Wake and Nudge methods may be called from any goroutine.
package autoscale
