package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/accel"
	"github.com/gannet-ml/gannet/worker"
)

func workerCmd(args []string) error {
	fs := flag.NewFlagSet("gannet worker", flag.ExitOnError)
	var cfg worker.Config
	fs.StringVar(&cfg.Connect, "connect", "tcp://127.0.0.1:5556", "the server's worker endpoint")
	fs.StringVar(&cfg.Model, "model", "", "model to ask for (default: the server picks)")
	fs.IntVar(&cfg.Capacity, "capacity", 1, "batches accepted at once")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", 0, "heartbeat interval (default 250ms)")
	fs.StringVar(&cfg.ID, "id", "", "worker name in logs (default host-pid)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	serverKey := fs.String("curve-server-key", "", "the server's CurveZMQ public key (or a file holding it); with --curve-secret-key")
	secretKey := fs.String("curve-secret-key", "", "this worker's CurveZMQ secret key file (gannet keygen); its public key must be in the server's --authorized-keys")
	fs.Parse(args)
	// The CPU engine's threads (GOMAXPROCS) and its BLAS under gorgonia.
	accel.Setup(0)
	var err error
	if cfg.SocketOptions, err = workerSecurity(*serverKey, *secretKey); err != nil {
		return err
	}
	log, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	cfg.Logger = log.With("worker", os.Getpid())
	cfg.Version = version
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = worker.Run(ctx, cfg)
	flushZMQ(2 * time.Second)
	return err
}

// flushZMQ ends libzmq's default context, waiting at most limit. A closed
// socket's last messages (the worker's goodbye DISCONNECT, within its
// LINGER) leave only while the context lives: a process that exits right
// after closing can lose them, and on a loaded machine it did (the
// frontend then took the worker for dead only after its heartbeats
// lapsed). The bound is for a socket left open, which would make the
// termination wait for ever.
func flushZMQ(limit time.Duration) {
	done := make(chan struct{})
	go func() {
		zmq.Term()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
	}
}
