package batching

import (
	"fmt"
	"slices"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// dispatch joins the requests' inputs along dimension 0 and runs them.
func (q *Queue) dispatch(slot Slot, reqs []*Request, rows int) {
	now := time.Now()
	b := &wire.Batch{Model: q.cfg.Model, Rows: uint32(rows), Inputs: joinInputs(reqs, rows)}
	if len(reqs) > 1 { // the worker drops the items that are late when it starts
		b.Items = make([]wire.Item, len(reqs))
		for i, r := range reqs {
			b.Items[i] = wire.Item{Rows: uint32(r.Rows)}
			if !r.Deadline.IsZero() {
				b.Items[i].Deadline = r.Deadline.UnixNano()
			}
		}
	}
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
	slot.Run(b, func(res *wire.Result, err error) { q.complete(reqs, rows, now, res, err) })
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
func (q *Queue) complete(reqs []*Request, rows int, sent time.Time, res *wire.Result, err error) {
	now := time.Now()
	if err == nil && len(res.Dropped) > 0 {
		reqs, rows, err = q.answerDropped(now, reqs, res.Dropped)
	}
	if err == nil {
		q.profile.Observe(rows, time.Duration(res.ComputeNS), now.Sub(sent))
	}
	feasible := q.feasibleBatch()
	q.mu.Lock()
	q.inflight--
	q.lastDone = now
	q.feasible = feasible
	q.mu.Unlock()
	if err == nil {
		compute, total := time.Duration(res.ComputeNS), now.Sub(sent)
		q.metrics.compute.Observe(compute.Seconds())
		q.policy.Observe(rows, total)
		q.metrics.observeProfile(q.profile, rows)
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
		if q.cfg.SLO > 0 {
			q.metrics.slo[boolIndex(now.Sub(arrival(r.Arrived, r.enqueued)) <= q.cfg.SLO)].Inc()
		}
		r.finish(now, nil)
	}
}

// answerDropped answers the requests a worker dropped because their
// deadline had passed when the batch started, and returns the others and
// their rows (what the outputs hold).
func (q *Queue) answerDropped(now time.Time, reqs []*Request, dropped []uint16) ([]*Request, int, error) {
	kept := make([]*Request, 0, len(reqs))
	rows, next := 0, 0
	for i, r := range reqs {
		if next < len(dropped) && int(dropped[next]) == i {
			next++
			q.metrics.shed[shedExpired].Inc()
			r.finish(now, fmt.Errorf("model %q: %w (its deadline passed before the worker started the batch)", q.cfg.Model, ErrDeadline))
			continue
		}
		kept = append(kept, r)
		rows += r.Rows
	}
	if next != len(dropped) || len(kept) == 0 {
		// Indices past the batch (or everything dropped): not a reply this
		// batch can have had; answer the rest rather than guess.
		return kept, rows, wire.Errorf(wire.KindInternal, "model %q: replica dropped items %v of a batch of %d", q.cfg.Model, dropped, len(reqs))
	}
	return kept, rows, nil
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
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
