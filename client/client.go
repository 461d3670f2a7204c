// Package client is Gannet's Go SDK: inference over the server's ZeroMQ
// client endpoint (default port 5555), with no JSON on the path: a small
// binary header and each tensor's raw bytes in a frame of its own (see
// docs/protocol.md).
//
// A Client is safe for concurrent use: any number of goroutines may call
// Infer at once; requests are pipelined on one connection and answers are
// matched by request id.
package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/internal/curve"
	"github.com/gannet-ml/gannet/internal/zsock"
	"github.com/gannet-ml/gannet/wire"
)

// Tensor is a named, typed, shaped block of little-endian elements.
type Tensor = wire.Tensor

// DataType is a tensor element type (wire.TypeFP32 and so on).
type DataType = wire.DataType

// Error is an error answered by the server; its Kind says what went wrong
// (wire.KindInvalid: a bad request, wire.KindNotFound: no such model,
// wire.KindUnavailable and wire.KindDeadline: try again later, ...).
type Error = wire.Error

// ErrClosed is returned by Infer on a closed Client.
var ErrClosed = errors.New("gannet client: closed")

// Options tune a Client. Zero values are documented defaults.
type Options struct {
	// MaxMessageBytes bounds a response; 0 means 1 GiB.
	MaxMessageBytes int64
	// CurveServerKey, if set, secures the connection with CurveZMQ: it is
	// the server's public key, and CurveSecretKey this client's secret key
	// (both Z85, as `gannet keygen` makes them). The server admits the
	// client only if its public key is in the server's authorized keys.
	CurveServerKey, CurveSecretKey string
}

// Client is a connection to a Gannet server's client endpoint.
type Client struct {
	loop   *zsock.Loop[outgoing]
	nextID atomic.Uint64
	limit  int64

	mu      sync.Mutex // guards pending
	pending map[uint64]*call

	broken bool // loop goroutine only: the connection broke since it was last made
}

// call is a request waiting for its answer.
type call struct {
	ch     chan wire.ClientMessage // cap 1
	frames [][]byte                // to send it again after a reconnect
}

// Dial connects to endpoint (e.g. "tcp://localhost:5555"). ZeroMQ connects
// in the background and reconnects by itself: Dial does not wait for the
// server, Infer does (until its context ends).
func Dial(ctx context.Context, endpoint string, opts ...Options) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 1 << 30
	}
	var secure func(*zmq.Socket) error
	if o.CurveServerKey != "" || o.CurveSecretKey != "" {
		server, err := curve.ReadPublic(o.CurveServerKey)
		if err != nil {
			return nil, fmt.Errorf("gannet client: CurveServerKey: %w", err)
		}
		kp, err := curve.ParseSecret(o.CurveSecretKey)
		if err != nil {
			return nil, fmt.Errorf("gannet client: CurveSecretKey: %w", err)
		}
		secure = curve.Client(server, kp)
	}
	c := &Client{limit: o.MaxMessageBytes, pending: map[uint64]*call{}}
	loop, err := zsock.Start[outgoing](zsock.Config{
		Type:    zmq.DEALER,
		Connect: endpoint,
		Monitor: zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED,
		Setup: func(s *zmq.Socket) error {
			if secure != nil {
				if err := secure(s); err != nil {
					return err
				}
			}
			return s.SetMaxmsgsize(o.MaxMessageBytes)
		},
	}, (*handler)(c))
	if err != nil {
		return nil, fmt.Errorf("gannet client: %w", err)
	}
	c.loop = loop
	return c, nil
}

// InferOption sets an optional part of a request.
type InferOption func(*wire.Request)

// WithVersion asks for a model version ("" means the served one).
func WithVersion(v string) InferOption { return func(r *wire.Request) { r.Version = v } }

// WithOutputs asks for these outputs only, in this order.
func WithOutputs(names ...string) InferOption {
	return func(r *wire.Request) { r.Outputs = names }
}

// WithTimeout sets the server's deadline for the request (rounded to
// microseconds) apart from ctx: the server answers by then at the latest,
// while Infer still waits no longer than ctx allows.
func WithTimeout(d time.Duration) InferOption {
	return func(r *wire.Request) { r.TimeoutMicros = max(d.Microseconds(), 1) }
}

// WithPriority sets the request priority (Triton's convention: 1 is the
// highest, 0 the default). The server accepts it; the current batcher
// serves requests first come, first served regardless.
func WithPriority(p int32) InferOption { return func(r *wire.Request) { r.Priority = p } }

// Infer runs the model on inputs and returns its outputs. The server's
// deadline for the request is ctx's deadline; ctx ending makes Infer return
// ctx.Err() at once (a late answer is dropped). When the connection is made
// anew (the server restarted), pending requests are sent again. Still, give
// ctx a deadline: a request the server never answers (a message over its
// size limit is dropped with the connection) is otherwise waited for
// forever. inputs must not be changed until Infer returns. Server-side
// failures are *Error values.
func (c *Client) Infer(ctx context.Context, model string, inputs []Tensor, opts ...InferOption) ([]Tensor, error) {
	req := &wire.Request{ID: c.nextID.Add(1), Model: model, Inputs: inputs}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		req.TimeoutMicros = max(left.Microseconds(), 1)
	}
	for _, o := range opts {
		o(req)
	}
	if err := req.Check(); err != nil {
		return nil, &Error{Kind: wire.KindInvalid, Msg: "gannet client: " + err.Error()}
	}
	cl := &call{ch: make(chan wire.ClientMessage, 1), frames: req.AppendFrames(nil)}
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.pending[req.ID] = cl
	c.mu.Unlock()
	if err := c.loop.Post(outgoing{id: req.ID, frames: cl.frames}); err != nil {
		c.forget(req.ID)
		return nil, ErrClosed
	}
	select {
	case msg, ok := <-cl.ch:
		if !ok {
			return nil, ErrClosed
		}
		switch m := msg.(type) {
		case *wire.Response:
			return m.Outputs, nil
		case *wire.Failure:
			return nil, &Error{Kind: m.Kind, Msg: m.Message}
		}
		return nil, fmt.Errorf("gannet client: unexpected answer %T", msg)
	case <-ctx.Done():
		c.forget(req.ID)
		return nil, ctx.Err()
	}
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Close closes the connection; pending and later Infer calls fail with
// ErrClosed.
func (c *Client) Close() error {
	c.loop.Close()
	c.mu.Lock()
	for _, cl := range c.pending {
		close(cl.ch)
	}
	c.pending = nil
	c.mu.Unlock()
	return nil
}

type handler Client

func (h *handler) Recv(frames [][]byte) {
	c := (*Client)(h)
	msg, err := wire.DecodeClient(frames, c.limit)
	if err != nil {
		return // nothing to match it to
	}
	var id uint64
	switch m := msg.(type) {
	case *wire.Response:
		id = m.ID
	case *wire.Failure:
		id = m.ID
	default:
		return
	}
	c.deliver(id, msg)
}

func (c *Client) deliver(id uint64, msg wire.ClientMessage) {
	c.mu.Lock()
	cl := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if cl != nil {
		cl.ch <- msg // cap 1, one answer per id: never blocks
	}
}

// outgoing is a request on its way to the socket.
type outgoing struct {
	id     uint64
	frames [][]byte
}

func (h *handler) Mail(o outgoing) {
	c := (*Client)(h)
	// The frames alias the caller's inputs, which are the caller's again
	// once Infer has returned: send only while the request is pending, and
	// hold the lock so that Infer cannot return meanwhile. (The send copies
	// the data and does not block.)
	c.mu.Lock()
	_, pending := c.pending[o.id]
	var err error
	if pending {
		err = c.loop.Send(o.frames)
	}
	c.mu.Unlock()
	if err != nil {
		c.deliver(o.id, &wire.Failure{ID: o.id, Kind: wire.KindUnavailable, Message: "gannet client: cannot send the request: " + err.Error()})
	}
}

func (h *handler) Tick(time.Time) {}

// Event sends every pending request again when the connection is made
// anew (the server restarted, or the connection broke): requests the old
// connection carried may be lost. Inference is idempotent; if both the
// old and the new answer arrive, the second matches nothing and is dropped.
func (h *handler) Event(e zmq.Event, _ string) {
	c := (*Client)(h)
	if e == zmq.EVENT_DISCONNECTED {
		c.broken = true
		return
	}
	if e != zmq.EVENT_CONNECTED || !c.broken {
		return
	}
	c.broken = false
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.pending {
		c.loop.Send(cl.frames) // failures: the request waits for its context
	}
}
