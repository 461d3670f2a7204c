package batching

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
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
			q.shedLate(time.Now(), q.profile.Typical)
			continue
		}
		q.fill(slot)
	}
}

// errEarlier ends a wait for a slot because a request with an earlier
// deadline has arrived.
var errEarlier = errors.New("a request with an earlier deadline arrived")

func isWaitEnd(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// acquire waits for a replica slot, but not past the moment the first
// waiting request must start to meet its deadline, so that it can be
// answered on time. Submit ends the wait early when a request with an
// earlier deadline arrives.
func (q *Queue) acquire() (Slot, error) {
	q.mu.Lock()
	until := q.latestStartLocked()
	ctx, cancel := context.WithCancelCause(q.ctx)
	q.waitUntil, q.cancelWait = until, cancel
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.waitUntil, q.cancelWait = time.Time{}, nil
		q.mu.Unlock()
		cancel(nil)
	}()
	if !until.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, until)
		defer stop()
	}
	return q.replicas.Acquire(ctx)
}

// latestStartLocked is the earliest of the waiting requests' latest start
// times (deadline minus the predicted time of a batch of their rows, by
// lateLocked: while probing, the deadline itself); zero when none has a
// deadline.
func (q *Queue) latestStartLocked() time.Time {
	predict := q.lateLocked(time.Now(), q.profile.Typical)
	var first time.Time
	for _, r := range q.waiting {
		if r.Deadline.IsZero() {
			continue
		}
		if t := r.Deadline.Add(-predict(r.Rows)); first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first
}

// failAll answers every waiting request with err.
func (q *Queue) failAll(err error) {
	q.mu.Lock()
	all := q.waiting
	q.waiting, q.rows = nil, 0
	q.mu.Unlock()
	q.metrics.pending.Set(0)
	now := time.Now()
	for _, r := range all {
		r.finish(now, fmt.Errorf("model %q: %w", q.cfg.Model, err))
	}
}

// lateLocked is the run time that shedLate and the wait for a slot count
// before a waiting request's deadline: predict (a typical time), or
// nothing while probing (see probingLocked), when predictions are not
// trusted. The two must agree: a wait that ended at a latest start by the
// prediction, for a request that shedLate kept, ended at once, again and
// again, the scheduler spinning on a core until a slot came.
func (q *Queue) lateLocked(now time.Time, predict func(int) time.Duration) func(int) time.Duration {
	if q.probingLocked(now) {
		return func(int) time.Duration { return 0 }
	}
	return predict
}

// shedLate answers, unrun, the waiting requests that can no longer meet
// their deadline: already past it, or predicted (by predict, through
// lateLocked) to finish after it even in a batch of their own.
func (q *Queue) shedLate(now time.Time, predict func(int) time.Duration) {
	q.mu.Lock()
	predict = q.lateLocked(now, predict)
	var late []*Request
	kept := q.waiting[:0]
	for _, r := range q.waiting {
		if !r.Deadline.IsZero() && now.Add(predict(r.Rows)).After(r.Deadline) {
			late = append(late, r)
			q.rows -= r.Rows
		} else {
			kept = append(kept, r)
		}
	}
	clear(q.waiting[len(kept):])
	q.waiting = kept
	n := len(kept)
	q.mu.Unlock()
	if late != nil {
		q.metrics.pending.Set(float64(n))
	}
	q.failLate(now, late)
}

func (q *Queue) failLate(now time.Time, late []*Request) {
	for _, r := range late {
		waited := now.Sub(r.enqueued).Round(time.Microsecond)
		if !now.Before(r.Deadline) {
			q.metrics.shed[shedExpired].Inc()
			r.finish(now, fmt.Errorf("model %q: %w (waited %v)", q.cfg.Model, ErrDeadline, waited))
		} else {
			q.metrics.shed[shedLate].Inc()
			r.finish(now, fmt.Errorf("model %q: %w: %v left, not enough to run (waited %v)",
				q.cfg.Model, ErrWouldMiss, r.Deadline.Sub(now).Round(time.Microsecond), waited))
		}
	}
}

// failDropped answers the requests a policy dropped to keep up.
func (q *Queue) failDropped(now time.Time, dropped []*Request) {
	for _, r := range dropped {
		q.metrics.shed[shedOverload].Inc()
		r.finish(now, fmt.Errorf("model %q: %w: %v left, dropped so that a larger batch behind it could meet its deadline (waited %v)",
			q.cfg.Model, ErrWouldMiss, r.Deadline.Sub(now).Round(time.Microsecond), now.Sub(r.enqueued).Round(time.Microsecond)))
	}
}

// fill forms one batch for slot: it asks the policy, and either
// dispatches the batch, or holds the slot and asks again when a request
// arrives or the policy's wait ends. A slot left without requests is
// released.
func (q *Queue) fill(slot Slot) {
	waited := false
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := time.Now()
		q.shedLate(now, slot.Typical)
		q.mu.Lock()
		v := q.viewLocked(now, slot, waited)
		if len(v.Items) == 0 {
			q.mu.Unlock()
			slot.Release()
			return
		}
		d := q.policy.Decide(&v)
		if d.Take > 0 {
			d.Drop = min(max(d.Drop, 0), len(v.Items)-1)
			d.Take = min(d.Take, len(v.Items)-d.Drop)
			dropped := slices.Clone(q.waiting[:d.Drop])
			reqs := slices.Clone(q.waiting[d.Drop : d.Drop+d.Take])
			rest := copy(q.waiting, q.waiting[d.Drop+d.Take:])
			clear(q.waiting[rest:])
			q.waiting = q.waiting[:rest]
			rows := 0
			for _, r := range dropped {
				q.rows -= r.Rows
			}
			for _, r := range reqs {
				rows += r.Rows
			}
			q.rows -= rows
			q.inflight++
			q.mu.Unlock()
			q.metrics.pending.Set(float64(rest))
			q.metrics.reason[d.Reason].Inc()
			q.failDropped(now, dropped)
			q.dispatch(slot, reqs, rows)
			return
		}
		closing := q.closed
		q.mu.Unlock()
		if closing { // no waiting for company while draining
			d.WaitUntil = now
		}
		waited = true
		wait := max(d.WaitUntil.Sub(now), 0)
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-q.wake:
		case <-timer.C:
		case <-q.ctx.Done():
			slot.Release()
			return
		}
	}
}

// viewLocked is the policy's view: the head of the queue, as far as one
// row shape reaches and one request past what fits in a batch.
func (q *Queue) viewLocked(now time.Time, slot Slot, waited bool) View {
	items := q.items[:0]
	rows := 0
	for i, r := range q.waiting {
		if i > 0 && !sameRowShape(q.waiting[0], r) {
			break
		}
		items = append(items, Item{Rows: r.Rows, Deadline: r.Deadline, Enqueued: r.enqueued, Level: level(r)})
		if rows += r.Rows; rows > q.cfg.MaxBatchSize {
			break
		}
	}
	q.items = items
	// Predictions of this decision, memoized: a policy may ask for the same
	// batch size many times.
	if q.predicted == nil {
		q.predicted = make([]time.Duration, q.cfg.MaxBatchSize+1)
		q.predict = func(rows int) time.Duration {
			if rows < 1 || rows > q.cfg.MaxBatchSize {
				return q.predictSlot.Predict(rows)
			}
			if q.predicted[rows] < 0 {
				q.predicted[rows] = q.predictSlot.Predict(rows)
			}
			return q.predicted[rows]
		}
	}
	for i := range q.predicted {
		q.predicted[i] = -1
	}
	q.predictSlot = slot
	return View{
		Now:            now,
		Items:          items,
		MaxBatch:       q.cfg.MaxBatchSize,
		Predict:        q.predict,
		Rate:           q.rateLocked(now) / rateTau.Seconds(),
		Joining:        q.joinedLocked(now) / rateTau.Seconds(),
		RowsPerRequest: q.meanRowsLocked(),
		Replicas:       q.replicaCount(),
		Backlog:        q.rows,
		Waited:         waited,
	}
}
