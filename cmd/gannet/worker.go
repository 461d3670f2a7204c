package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

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
	return worker.Run(ctx, cfg)
}
