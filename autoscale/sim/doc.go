// Package sim is the trace-driven autoscaling simulator behind
// `gannet simulate`: a simulated cluster in virtual time, where requests
// arrive from a trace (step, ramp, square wave, Poisson bursts, or a
// file), wait in one queue per model, and run in batches on replicas with
// a latency profile latency(b) = base + b x per_item. Batches are formed
// by the real batching policy (batching.SLOPolicy, a pure function of a
// batching.View), with each request's deadline at arrival + SLO; requests
// that can no longer meet their deadline are shed and count as SLO misses.
// Replicas become ready a cold-start time after they are asked for, or
// a warm-start time when a parked worker of the warm pool (Config.
// WarmWorkers, as `gannet serve --warm-workers`) is assigned, and leave
// after their batch in flight (drain). An autoscaling policy (Gannet's
// autoscale.Decide, or the Ray Serve and Knative KPA re-implementations)
// decides the replica count at its own interval from the simulated
// metrics (Gannet's also at once when admission refuses a request, at
// most once between two ticks, and not while replicas start or within an
// interval of a change, as serve's controller is nudged by
// batching.Config.OnShed); Gannet's inputs are
// those `gannet serve`'s source gives it
// (the queue's decayed rate estimate, the rate over its last two
// decisions, the arrival counter). The warm pool is the cluster's, so it
// serves every policy alike.
//
// It owns the traces and their file format, the simulated cluster, the
// policy adapters, the oracle, and the results and plot. It imports
// batching (for the policy) in addition to autoscale; nothing in the
// serving path imports it.
//
// Concurrency: a Run is single-threaded and deterministic for a seed;
// separate Runs may proceed in parallel. Traces are immutable values.
package sim
