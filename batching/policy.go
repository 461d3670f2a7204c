package batching

import (
	"fmt"
	"time"
)

// Item is what a policy sees of one waiting request.
type Item struct {
	Rows     int
	Deadline time.Time // zero: none
	Enqueued time.Time
	Level    int64 // priority class; lower is served first
}

// View is the input of a policy's decision: the requests that could join
// the next batch, in service order (strict priority, then earliest
// deadline first), and what is known about the replica that will run it.
// It holds only values: a policy is a pure function of it.
type View struct {
	Now      time.Time
	Items    []Item // in service order, all of one row shape
	MaxBatch int    // most rows in one batch
	// Predict is the replica's predicted time from dispatch to answer of a
	// batch of rows (a high quantile); 0 when unknown.
	Predict func(rows int) time.Duration
	// Rate is the model's recent arrival rate in rows per second (a
	// request of n rows counts n): the unit of batch sizes and capacity.
	// It counts every arrival, refused ones too: the load offered.
	Rate float64
	// Joining is the recent rate, in rows per second, of the rows that
	// joined the queue (Rate less the refused): how soon more company
	// comes for a batch. 0: none lately.
	Joining float64
	// RowsPerRequest is the mean rows of the model's requests (0 or less:
	// 1): how many rows the next arrival brings, on average.
	RowsPerRequest float64
	// Replicas is how many replicas serve the model (at least 1).
	Replicas int
	// Backlog is how many rows wait in the whole queue (Items may show
	// only its head).
	Backlog int
	// Waited reports whether this slot has already been held back waiting
	// for more requests.
	Waited bool
}

// Reason says why a batch was sent (or why none was).
type Reason uint8

const (
	ReasonNone     Reason = iota // no batch: wait
	ReasonFull                   // the batch is full (max_batch_size or the next request does not fit)
	ReasonDeadline               // a larger batch would miss the tightest deadline in it
	ReasonIdle                   // everything queued was taken; waiting would not help
	ReasonWaited                 // sent after waiting for more requests
	ReasonTimer                  // the fixed-delay policy's delay ran out
	ReasonCap                    // the AIMD policy's batch cap
	numReasons
)

var reasonNames = [numReasons]string{"none", "full", "deadline", "idle", "waited", "timer", "cap"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", r)
}

// Decision is a policy's answer: answer the first Drop items unrun (they
// are sacrificed so that a batch that keeps up can meet its deadlines),
// then run the next Take items now; or (Take 0) hold the replica slot and
// decide again at WaitUntil or when a request arrives, whichever is first.
type Decision struct {
	Drop      int
	Take      int
	WaitUntil time.Time
	Reason    Reason
}

// Policy decides how large the next batch is and whether to wait for
// more requests. Decide must be a pure function of the view and the
// policy's own state; Observe feeds back each batch's rows and latency
// (dispatch to answer). A Policy is used by one queue's scheduler
// goroutine (Decide) and its replicas' completion callbacks (Observe), so
// state shared between the two must be synchronised.
type Policy interface {
	Decide(v *View) Decision
	Observe(rows int, latency time.Duration)
}

// fits returns how many items from the head fit in max rows, and their rows.
func fits(items []Item, max int) (n, rows int) {
	for _, it := range items {
		if rows+it.Rows > max {
			break
		}
		rows += it.Rows
		n++
	}
	return n, rows
}

// predict is v.Predict(rows), 0 when the view has no predictor.
func (v *View) predict(rows int) time.Duration {
	if v.Predict == nil {
		return 0
	}
	return v.Predict(rows)
}

// Feasible reports whether a batch of rows dispatched now would be
// answered by deadline, as far as the profile knows (an unknown profile
// is optimistic: the request is tried rather than refused).
func (v *View) Feasible(rows int, deadline time.Time) bool {
	return deadline.IsZero() || !v.Now.Add(v.predict(rows)).After(deadline)
}
