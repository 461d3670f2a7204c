package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gannet-ml/gannet/client"
	"github.com/gannet-ml/gannet/wire"
)

// SDKConfig configures a ZeroMQ SDK transport.
type SDKConfig struct {
	Endpoint string // e.g. tcp://localhost:5555
	Model    string
	Inputs   [][]wire.Tensor // request i sends Inputs[i % len(Inputs)]
	// Timeout > 0 is sent as the request's deadline (client.WithTimeout);
	// otherwise the server's deadline is the client timeout.
	Timeout time.Duration
	// Conns is the number of SDK connections (each a client.Client with
	// its own socket goroutine), used round-robin by the senders; 0 is 1.
	Conns int
	// Options are passed to client.Dial (CurveZMQ keys).
	Options client.Options
}

type sdkTransport struct {
	cfg     SDKConfig
	clients []*client.Client
	opts    []client.InferOption
	next    int // NewSender is called by the pacer goroutine only
}

// NewSDK dials the SDK endpoint (ZeroMQ connects in the background: the
// first requests wait for the connection, which is what a warm-up is for).
func NewSDK(cfg SDKConfig) (Transport, error) {
	if len(cfg.Inputs) == 0 {
		return nil, errors.New("sdk transport: no inputs")
	}
	t := &sdkTransport{cfg: cfg}
	if cfg.Timeout > 0 {
		t.opts = []client.InferOption{client.WithTimeout(cfg.Timeout)}
	}
	for range max(cfg.Conns, 1) {
		c, err := client.Dial(context.Background(), cfg.Endpoint, cfg.Options)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("--sdk %s: %w", cfg.Endpoint, err)
		}
		t.clients = append(t.clients, c)
	}
	return t, nil
}

func (t *sdkTransport) NewSender() (Sender, error) {
	c := t.clients[t.next%len(t.clients)]
	t.next++
	return &sdkSender{t: t, c: c}, nil
}

func (t *sdkTransport) Close() error {
	for _, c := range t.clients {
		c.Close()
	}
	return nil
}

type sdkSender struct {
	t *sdkTransport
	c *client.Client
}

// sdkKinds names the SDK's error kinds without allocating.
var sdkKinds = func() map[wire.Kind]string {
	m := map[wire.Kind]string{}
	for k := range wire.Kind(16) {
		m[k] = "sdk_" + k.String()
	}
	return m
}()

func (s *sdkSender) Send(i int, deadline time.Time) (string, []byte) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	_, err := s.c.Infer(ctx, s.t.cfg.Model, s.t.cfg.Inputs[i%len(s.t.cfg.Inputs)], s.t.opts...)
	cancel()
	if err == nil {
		return "", nil
	}
	var e *client.Error
	switch {
	case errors.As(err, &e):
		kind, ok := sdkKinds[e.Kind]
		if !ok {
			kind = "sdk_" + e.Kind.String()
		}
		if e.Kind != wire.KindUnavailable && e.Kind != wire.KindDeadline {
			return kind, nil
		}
		return kind, []byte(e.Msg)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", nil
	case errors.Is(err, client.ErrClosed):
		return "closed", nil
	}
	return "transport", nil
}
