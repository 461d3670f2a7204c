package batching

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// schedule is the model's scheduler goroutine; Close waits for it.
func (q *Queue) schedule() {
	defer close(q.exited)
	for {
		q.mu.Lock()
		n, closed := len(q.waiting), q.closed
		q.mu.Unlock()
		if n == 0 {
			if closed {
				return
			}
			select {
			case <-q.wake:
				continue
			case <-q.ctx.Done():
				return
			}
		}
		slot, err := q.acquire()
		if err != nil {
			if q.ctx.Err() != nil {
				return
			}
			if !isWaitEnd(err) {
				q.failAll(err) // the replica layer cannot serve this model
				continue
			}
			q.expire(time.Now())
			continue
		}
		reqs, rows := q.take(time.Now())
		if len(reqs) == 0 {
			slot.Release() // what waited has expired meanwhile
			continue
		}
		q.dispatch(slot, reqs, rows)
	}
}

// errEarlier ends a wait for a slot because a request with an earlier
// deadline has arrived.
var errEarlier = errors.New("a request with an earlier deadline arrived")

func isWaitEnd(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// acquire waits for a replica slot, but not past the earliest deadline of
// the waiting requests, so that those can be answered on time. Submit ends
// the wait early when a request with an earlier deadline arrives.
func (q *Queue) acquire() (Slot, error) {
	q.mu.Lock()
	earliest := q.earliestDeadlineLocked()
	ctx, cancel := context.WithCancelCause(q.ctx)
	q.waitUntil, q.cancelWait = earliest, cancel
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.waitUntil, q.cancelWait = time.Time{}, nil
		q.mu.Unlock()
		cancel(nil)
	}()
	if !earliest.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, earliest)
		defer stop()
	}
	return q.replicas.Acquire(ctx)
}

// failAll answers every waiting request with err.
func (q *Queue) failAll(err error) {
	q.mu.Lock()
	all := q.waiting
	q.waiting = nil
	q.mu.Unlock()
	q.metrics.pending.Set(0)
	now := time.Now()
	for _, r := range all {
		r.finish(now, fmt.Errorf("model %q: %w", q.cfg.Model, err))
	}
}

func (q *Queue) earliestDeadlineLocked() time.Time {
	var min time.Time
	for _, r := range q.waiting {
		if !r.Deadline.IsZero() && (min.IsZero() || r.Deadline.Before(min)) {
			min = r.Deadline
		}
	}
	return min
}

// expire answers the waiting requests whose deadline has passed.
func (q *Queue) expire(now time.Time) {
	q.mu.Lock()
	var dead []*Request
	kept := q.waiting[:0]
	for _, r := range q.waiting {
		if !r.Deadline.IsZero() && !now.Before(r.Deadline) {
			dead = append(dead, r)
		} else {
			kept = append(kept, r)
		}
	}
	clear(q.waiting[len(kept):])
	q.waiting = kept
	n := len(kept)
	q.mu.Unlock()
	q.metrics.pending.Set(float64(n))
	q.failExpired(now, dead)
}

func (q *Queue) failExpired(now time.Time, dead []*Request) {
	for _, r := range dead {
		q.metrics.expired.Inc()
		r.finish(now, fmt.Errorf("model %q: %w (waited %v)", q.cfg.Model, ErrDeadline, now.Sub(r.enqueued).Round(time.Microsecond)))
	}
}

// take removes requests from the head of the queue, first come first
// served, while their rows fit in one batch; expired ones are answered.
func (q *Queue) take(now time.Time) ([]*Request, int) {
	var reqs, dead []*Request
	rows := 0
	q.mu.Lock()
	i := 0
	for ; i < len(q.waiting); i++ {
		r := q.waiting[i]
		if !r.Deadline.IsZero() && !now.Before(r.Deadline) {
			dead = append(dead, r)
			continue
		}
		if rows+r.Rows > q.cfg.MaxBatchSize || len(reqs) > 0 && !sameRowShape(reqs[0], r) {
			break
		}
		reqs = append(reqs, r)
		rows += r.Rows
	}
	rest := copy(q.waiting, q.waiting[i:])
	clear(q.waiting[rest:])
	q.waiting = q.waiting[:rest]
	q.mu.Unlock()
	q.metrics.pending.Set(float64(rest))
	q.failExpired(now, dead)
	return reqs, rows
}

// dispatch joins the requests' inputs along dimension 0 and runs them.
func (q *Queue) dispatch(slot Slot, reqs []*Request, rows int) {
	now := time.Now()
	b := &wire.Batch{Model: q.cfg.Model, Rows: uint32(rows), Inputs: joinInputs(reqs, rows)}
	noDeadline := false
	for _, r := range reqs {
		r.Queued = now.Sub(r.enqueued)
		q.metrics.queue.Observe(r.Queued.Seconds())
		// The batch is useless only once every request in it is late.
		noDeadline = noDeadline || r.Deadline.IsZero()
		b.Deadline = max(b.Deadline, r.Deadline.UnixNano())
	}
	if noDeadline {
		b.Deadline = 0
	}
	q.metrics.batchSize.Observe(float64(rows))
	slot.Run(b, func(res *wire.Result, err error) { q.complete(reqs, rows, res, err) })
}

// sameRowShape reports whether two requests' inputs agree beyond dimension
// 0, so that their rows can be joined (a model may leave other dimensions
// variable).
func sameRowShape(a, b *Request) bool {
	for i := range a.Inputs {
		if !slices.Equal(a.Inputs[i].Shape[1:], b.Inputs[i].Shape[1:]) {
			return false
		}
	}
	return true
}

func joinInputs(reqs []*Request, rows int) []wire.Tensor {
	if len(reqs) == 1 {
		return reqs[0].Inputs
	}
	first := reqs[0].Inputs
	inputs := make([]wire.Tensor, len(first))
	for i := range inputs {
		size := 0
		for _, r := range reqs {
			size += len(r.Inputs[i].Data)
		}
		data := make([]byte, 0, size)
		for _, r := range reqs {
			data = append(data, r.Inputs[i].Data...)
		}
		shape := slices.Clone(first[i].Shape)
		shape[0] = int64(rows)
		inputs[i] = wire.Tensor{Name: first[i].Name, DataType: first[i].DataType, Shape: shape, Data: data}
	}
	return inputs
}

// complete splits a batch's outputs among its requests and answers them.
// It runs on the replica layer's goroutine and must not block.
func (q *Queue) complete(reqs []*Request, rows int, res *wire.Result, err error) {
	now := time.Now()
	if err == nil {
		q.metrics.compute.Observe(time.Duration(res.ComputeNS).Seconds())
		err = checkOutputs(res.Outputs, rows)
	}
	if err != nil {
		for _, r := range reqs {
			r.finish(now, err)
		}
		return
	}
	compute := time.Duration(res.ComputeNS)
	off := 0
	for _, r := range reqs {
		r.Outputs = make([]wire.Tensor, len(res.Outputs))
		for j := range res.Outputs {
			o := &res.Outputs[j]
			rowBytes := len(o.Data) / rows
			shape := slices.Clone(o.Shape)
			shape[0] = int64(r.Rows)
			r.Outputs[j] = wire.Tensor{Name: o.Name, DataType: o.DataType, Shape: shape,
				Data: o.Data[off*rowBytes : (off+r.Rows)*rowBytes : (off+r.Rows)*rowBytes]}
		}
		off += r.Rows
		r.Compute = compute
		r.finish(now, nil)
	}
}

func checkOutputs(outs []wire.Tensor, rows int) error {
	for i := range outs {
		o := &outs[i]
		if len(o.Shape) == 0 || o.Shape[0] != int64(rows) || len(o.Data)%rows != 0 {
			return wire.Errorf(wire.KindInternal, "replica returned output %q with shape %v for a batch of %d", o.Name, o.Shape, rows)
		}
	}
	return nil
}
