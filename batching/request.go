package batching

import (
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// Request is one inference request on its way through a Queue.
//
// The caller fills the inputs, Rows, Deadline and Done, and must not touch
// the request again until Done is called; Done is called exactly once, on a
// goroutine of the queue or of the replica layer, and must not block.
type Request struct {
	// Inputs are the request's tensors in the model's input order, already
	// validated against the model; dimension 0 of each is Rows.
	Inputs []wire.Tensor
	Rows   int
	// Deadline is when the answer stops being useful; zero means none.
	Deadline time.Time
	// Arrived is when the request reached the host, if the caller knows it
	// (HTTP: the kernel's receive time); the SLO runs from then. Zero, or a
	// time after Submit, means Submit's own time.
	Arrived time.Time
	// Priority orders requests strictly: 1 is served first, then 2, ...;
	// 0 (unset) last. Within a level, earliest deadline first.
	Priority int64
	// Done receives the answered request.
	Done func(*Request)

	// Set before Done is called:
	Outputs []wire.Tensor // all model outputs, dimension 0 = Rows; alias the batch result
	Err     error         // a *wire.Error when the request failed
	Queued  time.Duration // time from Submit to dispatch (or to failure)
	Compute time.Duration // the batch's compute time on the replica

	enqueued time.Time
	seq      uint64 // arrival order
}

func (r *Request) finish(now time.Time, err error) {
	r.Err = err
	if r.Queued == 0 {
		r.Queued = now.Sub(r.enqueued)
	}
	r.Done(r)
}
