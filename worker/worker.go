// Package worker is the worker process: it connects to a frontend's worker
// port with a DEALER socket, says HELLO (device, capacity, cached models),
// loads the model the frontend sends (content-addressed by SHA-256: an ONNX
// file, or a synthetic model's spec from models/synthetic, which sleeps
// instead of computing), runs batches on its device goroutine and replies
// with results, and keeps heartbeats going both ways. When the frontend goes silent or says
// DISCONNECT, it reconnects with backoff (250 ms to 1 s) on a fresh socket and says HELLO
// again; models already compiled are kept, so the frontend need not resend
// them.
//
// Run is the whole worker; it is meant to be the only thing a process does.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Config configures a worker. Zero values are documented defaults.
type Config struct {
	// Connect is the frontend's worker endpoint, e.g. "tcp://127.0.0.1:5556".
	Connect string
	// Model is the model this worker asks to host; "" lets the frontend pick.
	Model string
	// Capacity is how many batches the worker accepts at once; 0 means 1.
	Capacity int
	// Heartbeat is the heartbeat interval; 0 means 250ms. The frontend is
	// dead after Liveness silent intervals (0 means 3).
	Heartbeat time.Duration
	Liveness  int
	// ID names the worker in logs and metrics; "" means host-pid.
	ID string
	// Version is sent in HELLO.
	Version string
	// MaxMessageBytes bounds a message from the frontend (a model file is one
	// message); 0 means 2 GiB.
	MaxMessageBytes int64
	// SocketOptions, if set, is applied to each new DEALER socket before it
	// connects (CURVE client keys, from package curve); nil means none.
	SocketOptions func(*zmq.Socket) error
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if c.Connect == "" {
		return errors.New("worker: no frontend endpoint to connect to")
	}
	if c.Capacity < 0 || c.Heartbeat < 0 || c.Liveness < 0 || c.MaxMessageBytes < 0 {
		return errors.New("worker: negative Capacity, Heartbeat, Liveness or MaxMessageBytes")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Capacity == 0 {
		c.Capacity = 1
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 250 * time.Millisecond
	}
	if c.Liveness == 0 {
		c.Liveness = 3
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 2 << 30
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Run connects to the frontend and serves until ctx ends; then it refuses
// new batches, answers those it has accepted, says DISCONNECT and returns
// nil.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.setDefaults()
	dev := newDevice(cfg)
	defer dev.stop()

	// The backoff is capped low so that a restarted frontend sees its
	// workers again within about 2 s (a session gives up after Liveness
	// silent intervals, then waits the backoff); attempts are cheap.
	const minBackoff, maxBackoff = 250 * time.Millisecond, time.Second
	backoff := minBackoff
	for {
		s, err := startSession(cfg, dev)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			s.close("worker shutting down")
			return nil
		case <-s.ended:
		}
		heard := s.heard()
		s.close("")
		if heard {
			backoff = minBackoff
		}
		cfg.Logger.Warn("lost the frontend; reconnecting", "frontend", cfg.Connect, "reason", s.reason(), "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
