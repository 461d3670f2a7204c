// Package server owns the client-facing endpoints: HTTP (fasthttp, KServe
// Open Inference Protocol v2 with Triton's binary tensor extension, health,
// metadata and /metrics) and the ZeroMQ client endpoint of the Go SDK. It
// decodes each request into tensors it owns, validates them against the
// model, gives each an absolute deadline, submits it to the model's batching
// queue, waits for the answer and encodes it. Errors become HTTP statuses in
// one place (status.go).
//
// A Server is safe for concurrent use; its endpoints run until Shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/gannet-ml/gannet/batching"
	"github.com/gannet-ml/gannet/wire"
)

// Queue takes requests for one model (a *batching.Queue).
type Queue interface {
	Submit(r *batching.Request) error
}

// Prechecker is a Queue that can refuse a request before it is decoded
// (batching.Queue): Precheck reports whether a request of the default
// priority that arrived then, with this deadline, would be refused,
// counting the refusal.
type Prechecker interface {
	Precheck(arrived, deadline time.Time) error
}

// Readiness says whether a model has a replica, and if not, why not.
type Readiness interface {
	Ready(model string) (bool, string)
}

// Model is one served model.
type Model struct {
	Meta  *wire.ModelMetadata
	Queue Queue
}

// Config configures a Server. Zero values are documented defaults.
type Config struct {
	// HTTPAddr is the HTTP listen address; "" means ":8000".
	HTTPAddr string
	// ZMQAddr is the client endpoint; "" means "tcp://*:5555", "off" none.
	ZMQAddr string
	// MaxRequestBytes bounds a request body, before and after
	// decompression; 0 means 64 MiB.
	MaxRequestBytes int64
	// RequestTimeout is the deadline of requests that ask for none (and the
	// most any may ask for); 0 means 30s.
	RequestTimeout time.Duration
	// HTTPReadTimeout is how long a new HTTP connection may take to send
	// its first request, and any request to arrive in full once its first
	// byte has; 0 means 1 minute. A connection that sends nothing in that
	// time is closed without an answer; one that sends part of a request
	// gets 408.
	HTTPReadTimeout time.Duration
	// Models are the served models (at least one).
	Models []Model
	// ZMQSocketOptions, if set, is applied to the client endpoint's socket
	// before it binds (CURVE server keys); nil means none.
	ZMQSocketOptions func(*zmq.Socket) error
	// AuthTokens, if any, are the bearer tokens HTTP requests must carry
	// (Authorization: Bearer <token>); health endpoints are exempt. Empty
	// means no HTTP authentication.
	AuthTokens []string
	// Ready tells model readiness (required).
	Ready Readiness
	// Gatherer serves /metrics; nil means no /metrics.
	Gatherer prometheus.Gatherer
	// ModelStatus, if set, gives the "autoscaler" object of a model's GET
	// /v2/models/{m}/stats (JSON-encoded); ok false leaves it out.
	ModelStatus func(model string) (status any, ok bool)
	// Metrics; nil means none.
	Metrics *Metrics
	// Version is reported by GET /v2.
	Version string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if len(c.Models) == 0 {
		return errors.New("server: no models")
	}
	if c.Ready == nil {
		return errors.New("server: no Readiness")
	}
	if c.MaxRequestBytes < 0 || c.RequestTimeout < 0 || c.HTTPReadTimeout < 0 {
		return errors.New("server: negative MaxRequestBytes, RequestTimeout or HTTPReadTimeout")
	}
	for _, m := range c.Models {
		if m.Meta == nil || m.Queue == nil || m.Meta.Name == "" {
			return errors.New("server: a model without metadata, name or queue")
		}
	}
	return nil
}

// Server serves the endpoints.
type Server struct {
	cfg    Config
	log    *slog.Logger
	models map[string]*model
	names  []string // model names, config order
	http   *fasthttp.Server
	ln     net.Listener
	zmq    *zmqEndpoint // nil when off
	// unstamp ends the host-wide receive timestamps the server keeps on
	// while it serves HTTP (stampAnchor), after Shutdown.
	unstamp func()
	wg      sync.WaitGroup
	serve   error // from http.Serve, read after wg.Wait
}

type model struct {
	Model
	http, zmq *modelMetrics
}

// New binds the endpoints and starts serving.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = ":8000"
	}
	if cfg.ZMQAddr == "" {
		cfg.ZMQAddr = "tcp://*:5555"
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 64 << 20
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.HTTPReadTimeout == 0 {
		cfg.HTTPReadTimeout = time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, models: map[string]*model{}}
	for _, m := range cfg.Models {
		if s.models[m.Meta.Name] != nil {
			return nil, fmt.Errorf("server: model %q listed twice", m.Meta.Name)
		}
		s.models[m.Meta.Name] = &model{Model: m,
			http: cfg.Metrics.forModel(m.Meta.Name, "http"),
			zmq:  cfg.Metrics.forModel(m.Meta.Name, "zmq")}
		s.names = append(s.names, m.Meta.Name)
	}
	s.http = s.newHTTP()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.ln = ln
	if cfg.ZMQAddr != "off" {
		if s.zmq, err = startZMQ(s); err != nil {
			ln.Close()
			return nil, err
		}
	}
	s.unstamp = stampAnchor()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serve = s.http.Serve(readListener{ln})
	}()
	return s, nil
}

// HTTPAddr is the bound HTTP address (with the real port).
func (s *Server) HTTPAddr() string { return s.ln.Addr().String() }

// ZMQEndpoint is the bound client endpoint, or "" when off.
func (s *Server) ZMQEndpoint() string {
	if s.zmq == nil {
		return ""
	}
	return s.zmq.loop.Endpoint()
}

// Shutdown stops accepting connections and requests on both endpoints and
// waits until the requests being handled are answered or ctx ends. Queues
// and replicas must still be running while it waits. The SDK endpoint's
// socket stays open so that answers still to come (from closing queues and
// replicas) reach their clients: Close closes it, last.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.zmq != nil {
		s.zmq.closing.Store(true)
	}
	err := s.http.ShutdownWithContext(ctx)
	s.wg.Wait()
	s.unstamp()
	if s.zmq != nil {
		s.zmq.wait(ctx)
	}
	if err == nil && s.serve != nil && !errors.Is(s.serve, net.ErrClosed) {
		err = s.serve
	}
	return err
}

// Close closes the SDK endpoint's socket, after the answers already posted
// to it are sent. Call it after Shutdown, once queues and replicas are
// closed.
func (s *Server) Close() {
	if s.zmq != nil {
		s.zmq.loop.Close()
	}
}
