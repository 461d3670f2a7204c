// Package batching owns each model's request queue and its scheduler: the
// goroutine that, whenever a replica has room, asks the model's Policy how
// many of the waiting requests to join into one batch (or whether to hold
// the replica for more), joins their inputs along dimension 0, hands the
// batch to the replica and, when the result comes back, splits the outputs
// and answers each request.
//
// The SLO is part of the API and is enforced at three points:
//
//   - Admission (Submit): each request's deadline is the earlier of its own
//     and its arrival plus the model's SLO latency. A request that would
//     wait behind a full queue, or whose predicted completion (the rows
//     ahead of it drained by the replicas at the model's profiled batch
//     time) is past its deadline, is refused at once (ErrQueueFull,
//     ErrWouldMiss: 503 with Retry-After), so memory stays bounded at any
//     offered load.
//   - Batch formation: requests are served in strict priority order, then
//     earliest deadline first. SLOPolicy sends the largest batch whose
//     predicted completion on the replica at hand meets the tightest
//     deadline in it, and waits for more only when that raises throughput
//     and every deadline still holds. Requests that can no longer make it
//     (past the deadline, or too little time left to run even alone) are
//     answered at once with ErrDeadline or ErrWouldMiss and never run.
//   - Execution: the batch carries the latest deadline of its requests; a
//     worker drops a batch whose deadline passed before it could start.
//
// Predictions come from latency profiles (package internal/latency): one
// per replica (the Slot's Predict, seeded by the worker's warm-up runs and
// updated from every answer) and one per model (Queue.Profile, from the
// answers of all replicas) for admission. FixedDelay (Triton, TF Serving)
// and AIMD (Clipper) are the baselines, selectable per model.
//
// The package does no I/O: replicas come from a Replicas implementation
// (package dispatch in the server, fakes in tests). Queue methods are safe
// for concurrent use; a Policy's Decide runs on the scheduler goroutine
// only.
package batching
