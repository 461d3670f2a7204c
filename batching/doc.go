// Package batching owns each model's request queue and its scheduler: the
// goroutine that, whenever a replica has room, takes the waiting requests
// (first come, first served, up to the model's max_batch_size rows), joins
// their inputs along dimension 0 into one batch, hands it to a replica and,
// when the result comes back, splits the outputs and answers each request.
//
// This is the first, plain batcher: it batches whatever waits while the
// replicas are busy. Requests whose deadline passes while they wait are
// answered with a KindDeadline error and never run.
//
// The package does no I/O: replicas come from a Replicas implementation
// (package dispatch in the server, fakes in tests). Queue methods are safe
// for concurrent use.
package batching
