package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gannet-ml/gannet/internal/latency"
	"github.com/gannet-ml/gannet/wire"
)

// loopHandler is the Dispatcher seen from its loop goroutine: every method
// here runs there and owns the registry.
type loopHandler Dispatcher

func (h *loopHandler) d() *Dispatcher { return (*Dispatcher)(h) }

// Recv handles one message from a worker: [routing id][header][data...].
func (h *loopHandler) Recv(frames [][]byte) {
	d := h.d()
	if len(frames) < 2 {
		return
	}
	rid := frames[0]
	msg, err := wire.DecodeWorker(frames[1:], d.cfg.MaxMessageBytes)
	if err != nil {
		d.metrics.malformed.Inc()
		d.log.Warn("malformed message from worker", "err", err)
		return
	}
	w := d.workers[string(rid)]
	if w != nil {
		w.lastSeen = time.Now()
	}
	switch m := msg.(type) {
	case *wire.Hello:
		if w != nil {
			d.remove(w, "rehello", "worker said HELLO again")
		}
		d.register(rid, m)
		return
	case *wire.Disconnect:
		if w != nil {
			d.remove(w, "disconnect", "worker disconnected: "+m.Reason)
		}
		return
	}
	if w == nil {
		// MDP rule: an unregistered peer is told to reconnect.
		d.send(rid, &wire.Disconnect{Reason: "not registered: reconnect and say HELLO"})
		return
	}
	switch m := msg.(type) {
	case *wire.Loaded:
		d.loaded(w, m)
	case *wire.Result:
		d.answer(w, m.ID, m, nil)
	case *wire.BatchError:
		d.answer(w, m.ID, nil, &wire.Error{Kind: m.Kind, Msg: m.Message})
	case *wire.Heartbeat:
	default:
		d.log.Warn("unexpected command from worker", "worker", w.hello.WorkerID, "type", fmt.Sprintf("%T", msg))
	}
}

// Mail sends a batch to its worker, or says goodbye to all.
func (h *loopHandler) Mail(m mail) {
	d := h.d()
	if m.bye {
		for _, w := range d.workers {
			d.send(w.rid, &wire.Disconnect{Reason: "server shutting down"})
		}
		return
	}
	if m.drain != nil {
		d.drain(m.drain)
		return
	}
	if m.intent != nil {
		d.intent(m.intent)
		return
	}
	p := &inflight{batch: m.batch, deadline: m.batch.Deadline, done: m.done}
	if !m.w.alive.Load() {
		// The worker left between Acquire and now: another replica runs it.
		d.redispatch(m.w.model, p, "worker "+m.w.hello.WorkerID+" left before the batch was sent")
		return
	}
	if m.w.draining.Load() {
		// Drained between Acquire and now: another replica runs it, as
		// soon as one has a free slot (not counted as a retry).
		if w := m.w.model.slots.take(); w != nil {
			d.start(w, p)
		} else {
			m.w.model.retry = append(m.w.model.retry, p)
		}
		return
	}
	d.start(m.w, p)
}

// start sends a batch to a worker under a fresh id (a late reply to an
// earlier attempt then matches nothing).
func (d *Dispatcher) start(w *worker, p *inflight) {
	d.nextID++
	p.batch.ID = d.nextID
	p.w = w
	p.sent = time.Now()
	d.pending[p.batch.ID] = p
	w.inflight++
	if !d.send(w.rid, p.batch) {
		d.remove(w, "unroutable", "cannot route to worker")
	}
}

// redispatch runs a batch whose worker was lost on another replica, at
// once if one has a free slot, else as soon as one has; unless the batch
// has been lost before (it may be what kills workers) or its deadline has
// passed, in which case it fails with why.
func (d *Dispatcher) redispatch(m *model, p *inflight, why string) {
	switch {
	case d.closing:
		p.fail(wire.Errorf(wire.KindUnavailable, "model %q: server shutting down (%s)", m.Name, why))
		return
	case p.tries >= maxTries:
		p.fail(wire.Errorf(wire.KindUnavailable, "model %q: batch already re-dispatched %d time(s), not retried again: %s", m.Name, p.tries, why))
		return
	case p.deadline != 0 && time.Now().UnixNano() >= p.deadline:
		p.fail(wire.Errorf(wire.KindDeadline, "model %q: %s, and the deadline has passed", m.Name, why))
		return
	}
	p.tries++
	d.metrics.redispatched.Inc()
	if w := m.slots.take(); w != nil {
		d.start(w, p)
		return
	}
	m.retry = append(m.retry, p)
}

// serveRetries gives a free slot of w to a batch waiting for re-dispatch;
// false if none waits.
func (d *Dispatcher) serveRetries(w *worker) bool {
	m := w.model
	if len(m.retry) == 0 {
		return false
	}
	p := m.retry[0]
	m.retry[0] = nil
	m.retry = m.retry[1:]
	d.start(w, p)
	return true
}

// expireRetries fails batches waiting for re-dispatch past their deadline.
func (d *Dispatcher) expireRetries(now time.Time) {
	for _, m := range d.order {
		kept := m.retry[:0]
		for _, p := range m.retry {
			if p.deadline != 0 && now.UnixNano() >= p.deadline {
				p.fail(wire.Errorf(wire.KindDeadline, "model %q: no replica could take the batch of a lost worker before its deadline", m.Name))
				continue
			}
			kept = append(kept, p)
		}
		clear(m.retry[len(kept):])
		m.retry = kept
	}
}

// Tick sends heartbeats and removes workers that have been silent too long.
func (h *loopHandler) Tick(now time.Time) {
	d := h.d()
	beat := now.Sub(d.beatAt) >= d.cfg.Heartbeat-d.cfg.Heartbeat/8 // tolerate a late tick
	if beat {
		d.beatAt = now
	}
	for _, w := range d.workers {
		silence := now.Sub(w.lastSeen)
		if silence > w.liveFor {
			d.metrics.detection.Observe(silence.Seconds())
			d.remove(w, "heartbeat", "no heartbeat for "+silence.Round(time.Millisecond).String())
			continue
		}
		// An interval counts as missed once half another has passed without a
		// word: heartbeats jitter.
		if missed := int((silence - d.cfg.Heartbeat/2) / d.cfg.Heartbeat); missed > w.missed {
			d.metrics.missed.Add(float64(missed - w.missed))
			w.missed = missed
		} else if missed <= 0 {
			w.missed = 0
		}
		if beat {
			d.send(w.rid, &wire.Heartbeat{})
		}
	}
	d.abandonLate(now)
	d.expireRetries(now)
}

// abandonLate answers batches still running a heartbeat interval past
// their deadline, so that no caller waits on a worker that hangs. The
// worker keeps its slot until it replies (or dies).
func (d *Dispatcher) abandonLate(now time.Time) {
	limit := now.Add(-d.cfg.Heartbeat).UnixNano()
	for _, p := range d.pending {
		if p.done != nil && p.deadline != 0 && p.deadline < limit {
			d.metrics.abandoned.Inc()
			p.fail(wire.Errorf(wire.KindDeadline, "model %q: worker %s did not answer the batch before its deadline", p.w.model.Name, p.w.hello.WorkerID))
		}
	}
}

// send encodes and sends msg to a worker; false if it cannot be routed
// (gone, or not reading: its queue is at the high-water mark).
func (d *Dispatcher) send(rid []byte, msg wire.WorkerMessage) bool {
	frames := msg.AppendFrames([][]byte{rid})
	if err := d.loop.Send(frames); err != nil {
		d.metrics.sendErrors.Inc()
		return false
	}
	return true
}

// register adds a worker and asks it to load the model it asked for;
// else, for a worker id that Park or Assign announced, parks it or loads
// the assigned model; else loads the model with the fewest replicas.
func (d *Dispatcher) register(rid []byte, hello *wire.Hello) {
	m := d.models[hello.Model]
	park := false
	if m == nil {
		if model, ok := d.intents[hello.WorkerID]; ok && hello.Model == "" {
			m, park = d.models[model], model == ""
		}
	}
	if m == nil && !park {
		// The model with the fewest replicas; among equals, one whose file
		// the worker already holds.
		for _, c := range d.order {
			if m == nil || c.placed < m.placed ||
				c.placed == m.placed && slices.Contains(hello.Cached, c.digest) && !slices.Contains(hello.Cached, m.digest) {
				m = c
			}
		}
		if hello.Model != "" {
			d.log.Warn("worker asked for an unknown model; placing another", "worker", hello.WorkerID, "asked", hello.Model, "model", m.Name)
		}
	}
	// Liveness counts the slower of the two heartbeat intervals, so a
	// worker configured to beat less often is not dropped for it; both the
	// interval and the capacity a worker claims are clamped, so that a
	// peer cannot make itself immortal or ask for unbounded slots.
	beat := max(d.cfg.Heartbeat, min(time.Duration(hello.HeartbeatMS)*time.Millisecond, maxHeartbeat))
	hello.Capacity = min(max(hello.Capacity, 1), maxCapacity)
	w := &worker{rid: rid, hello: hello, state: stateLoading, lastSeen: time.Now(),
		liveFor: time.Duration(d.cfg.Liveness) * beat}
	if park {
		w.state = stateParked
	}
	w.alive.Store(true)
	d.workers[string(rid)] = w
	d.metrics.workers.WithLabelValues(stateNames[w.state]).Inc()
	if park {
		d.log.Info("worker parked", "worker", hello.WorkerID, "device", hello.Device, "capacity", w.hello.Capacity)
		return
	}
	d.place(w, m)
}

// place puts a worker in state loading on a model and sends it LOAD,
// with the file unless the worker listed its SHA-256.
func (d *Dispatcher) place(w *worker, m *model) {
	w.model = m
	m.placed++
	m.broken.Store(false)
	load := &wire.Load{Model: m.Name, Version: m.Version, Digest: m.digest, MaxBatchSize: uint32(m.MaxBatchSize),
		HeartbeatMS: uint32(d.cfg.Heartbeat / time.Millisecond)}
	if !slices.Contains(w.hello.Cached, m.digest) {
		load.Bytes = m.File
	}
	d.log.Info("worker joined", "worker", w.hello.WorkerID, "device", w.hello.Device, "capacity", w.hello.Capacity, "model", m.Name, "send_bytes", load.Bytes != nil)
	if !d.send(w.rid, load) {
		d.remove(w, "unroutable", "cannot route to worker")
	}
}

func (d *Dispatcher) setState(w *worker, s workerState) {
	d.metrics.workers.WithLabelValues(stateNames[w.state]).Dec()
	d.metrics.workers.WithLabelValues(stateNames[s]).Inc()
	w.state = s
}

func (d *Dispatcher) loaded(w *worker, m *wire.Loaded) {
	if w.state == stateDraining {
		return // drained while loading: it never serves
	}
	if w.state != stateLoading || m.Model != w.model.Name || m.Digest != w.model.digest {
		d.send(w.rid, &wire.Disconnect{Reason: "unexpected LOADED"})
		d.remove(w, "protocol", "unexpected LOADED")
		return
	}
	if m.Kind == wire.KindUnavailable {
		// Busy or shutting down, not a bad model: let it come back and retry.
		d.send(w.rid, &wire.Disconnect{Reason: "load refused: " + m.Message})
		d.remove(w, "protocol", "could not take the model: "+m.Message)
		return
	}
	if m.Kind != wire.KindUnknown || m.Message != "" {
		d.setState(w, stateFailed)
		w.model.placed-- // it does not host the model: placement may retry elsewhere
		w.model.reason.Store("load failed on worker " + w.hello.WorkerID + ": " + m.Message)
		if w.model.placed == 0 && w.model.ready.Load() == 0 {
			w.model.broken.Store(true)
			w.model.slots.wake()
		}
		d.log.Error("worker could not load model", "worker", w.hello.WorkerID, "model", m.Model, "err", m.Message)
		return
	}
	w.profile = newProfile(w.model, m.Profile)
	d.setState(w, stateReady)
	w.model.ready.Add(1)
	d.metrics.replicas.WithLabelValues(w.model.Name, "ready").Inc()
	d.event(w, true)
	free := int(w.hello.Capacity)
	for free > 0 && d.serveRetries(w) {
		free--
	}
	w.model.slots.put(w, free)
	d.log.Info("replica ready", "worker", w.hello.WorkerID, "model", m.Model)
}

// answer completes a batch in flight and frees its slot.
func (d *Dispatcher) answer(w *worker, id uint64, res *wire.Result, err error) {
	p := d.pending[id]
	if p == nil || p.w != w {
		d.metrics.lateReplies.Inc()
		return
	}
	delete(d.pending, id)
	w.inflight--
	if w.state == stateDraining && w.inflight == 0 && w.drained != nil {
		close(w.drained)
		w.drained = nil
	}
	if res != nil && w.profile != nil {
		w.profile.Observe(int(p.batch.Rows), time.Duration(res.ComputeNS), time.Since(p.sent))
	}
	if w.state == stateReady && !d.serveRetries(w) {
		w.model.slots.put(w, 1)
	}
	if p.done == nil {
		d.metrics.lateReplies.Inc()
		return
	}
	p.done(res, err)
}

// remove forgets a worker and fails its batches in flight.
// label is the metric's reason label, reason the words for logs and errors.
func (d *Dispatcher) remove(w *worker, label, reason string) {
	if !w.alive.Swap(false) {
		return
	}
	d.metrics.lost.WithLabelValues(label).Inc()
	delete(d.workers, string(w.rid))
	if w.model != nil { // not parked
		w.model.slots.drop(w)
		if w.state != stateFailed {
			w.model.placed--
		}
		if w.state == stateReady {
			d.unready(w, "last worker left ("+reason+")")
		}
	}
	if w.drained != nil {
		close(w.drained)
		w.drained = nil
	}
	d.metrics.workers.WithLabelValues(stateNames[w.state]).Dec()
	// Its batches in flight run again elsewhere (inference is idempotent).
	var lost []*inflight
	for id, p := range d.pending {
		if p.w == w {
			delete(d.pending, id)
			if p.done != nil { // not yet given up on
				lost = append(lost, p)
			}
		}
	}
	why := "worker " + w.hello.WorkerID + " lost mid-batch: " + reason
	for _, p := range lost {
		d.redispatch(w.model, p, why)
	}
	level := slog.LevelWarn
	if label == "disconnect" || label == "shutdown" {
		level = slog.LevelInfo // an orderly goodbye
	}
	d.log.Log(context.Background(), level, "worker left", "worker", w.hello.WorkerID, "model", modelName(w), "reason", reason)
}

// newProfile is a replica's latency profile, seeded from the warm-up
// timings its worker reported in LOADED.
func newProfile(m *model, seed []wire.BucketTime) *latency.Profile {
	var buckets []int
	for _, b := range seed {
		if b.Rows >= 1 && int(b.Rows) <= m.MaxBatchSize && b.NS > 0 {
			buckets = append(buckets, int(b.Rows))
		}
	}
	p := latency.New(buckets, m.MaxBatchSize)
	for _, b := range seed {
		if b.Rows >= 1 && int(b.Rows) <= m.MaxBatchSize && b.NS > 0 {
			p.Seed(int(b.Rows), time.Duration(b.NS))
		}
	}
	return p
}

// unready takes a ready worker out of its model's ready count.
func (d *Dispatcher) unready(w *worker, why string) {
	if w.model.ready.Add(-1) == 0 {
		w.model.reason.Store("no replica: " + why)
	}
	d.metrics.replicas.WithLabelValues(w.model.Name, "ready").Dec()
	d.event(w, false)
}

func (d *Dispatcher) event(w *worker, ready bool) {
	if d.cfg.OnReplica != nil {
		d.cfg.OnReplica(ReplicaEvent{Model: w.model.Name, WorkerID: w.hello.WorkerID, Ready: ready})
	}
}

// drain stops giving batches to the worker of r.id and closes r.done when
// it has none in flight (at once if it has none, is parked or is not
// registered), and forgets the id's Park or Assign.
func (d *Dispatcher) drain(r *drainReq) {
	delete(d.intents, r.id)
	var w *worker
	for _, c := range d.workers {
		if c.hello.WorkerID == r.id && c.state != stateDraining {
			w = c
			break
		}
	}
	if w == nil || w.state == stateParked {
		close(r.done)
		return
	}
	if w.state == stateReady {
		d.unready(w, "last replica drained")
	}
	w.draining.Store(true)
	w.model.slots.drop(w)
	d.setState(w, stateDraining)
	d.log.Info("draining worker", "worker", r.id, "model", w.model.Name, "inflight", w.inflight)
	if w.inflight == 0 {
		close(r.done)
		return
	}
	w.drained = r.done
}
