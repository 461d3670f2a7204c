package dispatch

import (
	"fmt"

	"github.com/gannet-ml/gannet/wire"
)

// Parking: a warm pool of idle workers. A worker whose id was announced
// with Park and that asks for no model in HELLO is registered and
// heartbeated but placed on no model (state "parked"); it is no replica of
// anything until Assign gives it a model, which sends LOAD at once. The
// process start, connection and HELLO are then already paid for when a
// replica is wanted. Workers whose id was not announced (started by hand,
// or asking for a model) are placed at HELLO as always.

// intentReq is a Park (model "") or an Assign posted to the loop.
type intentReq struct {
	id, model string
	done      chan error // buffered; the loop answers once
}

// Park announces a warm-pool worker: when the worker whose HELLO id is id
// says HELLO asking for no model, it is parked rather than placed, and
// waits for Assign. Call it before starting the worker. It returns once
// the dispatcher's goroutine has recorded it (an error only when the
// dispatcher is closed). Drain(id) forgets it.
func (d *Dispatcher) Park(id string) error { return d.intend(id, "") }

// Assign places the worker whose HELLO id is id on the model: if it is
// parked, LOAD is sent at once and it becomes a replica when it answers
// LOADED; if it has not said HELLO yet (its process is starting, or it is
// reconnecting), it is placed on the model when it does (asking for no
// model). The assignment outlives the worker's sessions, so a worker that
// reconnects or whose process is restarted serves the same model again,
// until Drain(id). It fails for an unknown model, a worker registered and
// not parked (placed on another model), or a closed dispatcher; it
// returns once the dispatcher's goroutine has acted.
func (d *Dispatcher) Assign(id, model string) error {
	if d.models[model] == nil {
		return fmt.Errorf("dispatch: assign %s: %w %q", id, ErrUnknownModel, model)
	}
	return d.intend(id, model)
}

func (d *Dispatcher) intend(id, model string) error {
	if id == "" {
		return fmt.Errorf("dispatch: a worker id is needed")
	}
	r := &intentReq{id: id, model: model, done: make(chan error, 1)}
	if err := d.loop.Post(mail{intent: r}); err != nil {
		return fmt.Errorf("dispatch: %w", err)
	}
	return <-r.done // every accepted post reaches Mail, even at Close
}

// intent records a Park or an Assign and, for an Assign of a parked
// worker, places it. Loop goroutine.
func (d *Dispatcher) intent(r *intentReq) {
	var w *worker
	for _, c := range d.workers {
		if c.hello.WorkerID == r.id {
			w = c
			break
		}
	}
	if r.model == "" { // Park
		d.intents[r.id] = ""
		r.done <- nil
		return
	}
	m := d.models[r.model]
	switch {
	case w == nil:
		// Placed when it says HELLO.
	case w.state == stateParked:
		d.setState(w, stateLoading)
		d.log.Info("parked worker assigned", "worker", r.id, "model", m.Name)
		d.place(w, m)
	case w.model != m:
		r.done <- wire.Errorf(wire.KindInvalid, "worker %s is not parked: it is %s model %q", r.id, stateNames[w.state], modelName(w))
		return
	}
	d.intents[r.id] = r.model
	r.done <- nil
}

// modelName is the name of the worker's model, "" when parked.
func modelName(w *worker) string {
	if w.model == nil {
		return ""
	}
	return w.model.Name
}
