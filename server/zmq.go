package server

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/batching"
	"github.com/gannet-ml/gannet/internal/zsock"
	"github.com/gannet-ml/gannet/wire"
)

// zmqEndpoint is the SDK's endpoint: a ROUTER socket owned by a zsock.Loop.
// Requests are decoded and submitted on the loop goroutine; answers come
// back through the loop's mailbox, posted by the batching layer's Done.
type zmqEndpoint struct {
	s        *Server
	loop     *zsock.Loop[zmqReply]
	inflight atomic.Int64 // requests submitted and not yet answered
	closing  atomic.Bool  // refuse new requests: the server is shutting down
}

// zmqInflightMax bounds requests in flight on this endpoint; it is below
// the mailbox size, so posting an answer never blocks.
const (
	zmqMailbox     = 1 << 15
	zmqInflightMax = zmqMailbox - 1024
)

// zmqReply is an answer to send to a client.
type zmqReply struct {
	to  string // ROUTER routing id
	msg wire.ClientMessage
}

func startZMQ(s *Server) (*zmqEndpoint, error) {
	e := &zmqEndpoint{s: s}
	loop, err := zsock.Start[zmqReply](zsock.Config{
		Type:    zmq.ROUTER,
		Bind:    s.cfg.ZMQAddr,
		Mailbox: zmqMailbox,
		Setup: func(sock *zmq.Socket) error {
			if err := sock.SetRouterMandatory(1); err != nil {
				return err
			}
			if s.cfg.ZMQSocketOptions != nil {
				if err := s.cfg.ZMQSocketOptions(sock); err != nil {
					return err
				}
			}
			return sock.SetMaxmsgsize(s.cfg.MaxRequestBytes)
		},
		// Answers queued to a client that does not read are bounded: past
		// this mark they are dropped.
		SendHWM: 10000,
	}, (*zmqHandler)(e))
	if err != nil {
		return nil, fmt.Errorf("server: client endpoint: %w", err)
	}
	e.loop = loop
	return e, nil
}

// wait waits (until ctx ends) for the requests in flight to be answered.
// It polls: it runs once, at shutdown.
func (e *zmqEndpoint) wait(ctx context.Context) {
	for e.inflight.Load() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
}

type zmqHandler zmqEndpoint

// Recv handles [routing id][header][tensor data...] from a client.
func (h *zmqHandler) Recv(frames [][]byte) {
	e := (*zmqEndpoint)(h)
	if len(frames) < 2 {
		return
	}
	to := string(frames[0])
	if e.closing.Load() {
		id, _ := wire.RequestID(frames[1:])
		e.fail(to, id, nil, wire.Errorf(wire.KindUnavailable, "server is shutting down"))
		return
	}
	msg, err := wire.DecodeClient(frames[1:], e.s.cfg.MaxRequestBytes)
	if err != nil {
		id, _ := wire.RequestID(frames[1:]) // so the client can match the answer
		e.fail(to, id, nil, wire.Errorf(wire.KindInvalid, "%v", err))
		return
	}
	req, ok := msg.(*wire.Request)
	if !ok {
		e.fail(to, 0, nil, wire.Errorf(wire.KindInvalid, "clients may only send REQUEST"))
		return
	}
	e.request(to, req)
}

func (h *zmqHandler) Mail(r zmqReply) {
	e := (*zmqEndpoint)(h)
	// A client that went away is unroutable; its answer is dropped.
	e.loop.Send(r.msg.AppendFrames([][]byte{[]byte(r.to)}))
}

func (h *zmqHandler) Tick(time.Time) {}

// fail answers a request with an error from the loop goroutine.
func (e *zmqEndpoint) fail(to string, id uint64, m *model, err error) {
	if m != nil {
		m.zmq.count(statusOf(err))
	}
	e.loop.Send((&wire.Failure{ID: id, Kind: wire.KindOf(err), Message: err.Error()}).AppendFrames([][]byte{[]byte(to)}))
}

func (e *zmqEndpoint) request(to string, r *wire.Request) {
	start := time.Now()
	m := e.s.models[r.Model]
	switch {
	case m == nil:
		e.s.cfg.Metrics.requests.WithLabelValues("", "404", "zmq").Inc()
		e.fail(to, r.ID, nil, wire.Errorf(wire.KindNotFound, "unknown model: %q", r.Model))
		return
	case r.Version != "" && r.Version != m.Meta.Version:
		e.fail(to, r.ID, m, wire.Errorf(wire.KindNotFound, "model %q has no version %q being served (serving %s)", r.Model, r.Version, m.Meta.Version))
		return
	case r.TimeoutMicros < 0 || r.Priority < 0:
		e.fail(to, r.ID, m, wire.Errorf(wire.KindInvalid, "negative timeout or priority"))
		return
	}
	size := 0
	for i := range r.Inputs {
		size += len(r.Inputs[i].Data)
	}
	if int64(size) > e.s.cfg.MaxRequestBytes {
		e.fail(to, r.ID, m, wire.Errorf(wire.KindTooLarge, "request inputs of %d bytes exceed the limit of %d bytes (--max-request-bytes)", size, e.s.cfg.MaxRequestBytes))
		return
	}
	inputs, rows, err := validateInputs(m.Meta, r.Inputs)
	if err == nil {
		err = validateOutputs(m.Meta, r.Outputs)
	}
	if err != nil {
		e.fail(to, r.ID, m, err)
		return
	}
	if e.inflight.Load() >= zmqInflightMax {
		e.fail(to, r.ID, m, wire.Errorf(wire.KindUnavailable, "too many requests in flight on the ZeroMQ endpoint"))
		return
	}
	req := &batching.Request{
		Inputs: inputs, Rows: rows, Priority: int64(r.Priority),
		Deadline: e.s.deadline(time.Now(), r.TimeoutMicros),
	}
	req.Done = func(done *batching.Request) {
		code := http.StatusOK
		var reply wire.ClientMessage
		if done.Err != nil {
			code = statusOf(done.Err)
			reply = &wire.Failure{ID: r.ID, Kind: wire.KindOf(done.Err), Message: done.Err.Error()}
		} else {
			reply = &wire.Response{ID: r.ID, Model: m.Meta.Name, Version: m.Meta.Version, Outputs: selectOutputs(done.Outputs, r.Outputs)}
		}
		m.zmq.count(code)
		m.zmq.duration.Observe(time.Since(start).Seconds())
		e.loop.Post(zmqReply{to: to, msg: reply}) // never blocks: see zmqInflightMax
		e.inflight.Add(-1)                        // after Post: wait must not miss it
	}
	e.inflight.Add(1)
	if err := m.Queue.Submit(req); err != nil {
		e.inflight.Add(-1)
		e.fail(to, r.ID, m, err)
	}
}

// selectOutputs picks the requested outputs in request order (all if none).
func selectOutputs(all []wire.Tensor, names []string) []wire.Tensor {
	if len(names) == 0 {
		return all
	}
	out := make([]wire.Tensor, 0, len(names))
	for _, n := range names {
		for i := range all {
			if all[i].Name == n {
				out = append(out, all[i])
			}
		}
	}
	return out
}
