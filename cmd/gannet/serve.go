package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gannet-ml/gannet"
	"github.com/gannet-ml/gannet/autoscale"
	"github.com/gannet-ml/gannet/batching"
	"github.com/gannet-ml/gannet/dispatch"
	"github.com/gannet-ml/gannet/internal/supervise"
	"github.com/gannet-ml/gannet/models"
	"github.com/gannet-ml/gannet/server"
	"github.com/gannet-ml/gannet/worker"
)

type serveFlags struct {
	httpAddr, zmqAddr, workerAddr string
	repo                          string
	localWorkers                  int
	maxRequestBytes               int64
	requestTimeout, heartbeat     time.Duration
	drainTimeout, httpReadTimeout time.Duration
	curveSecret, authorizedKeys   string
	authTokenFile                 string
	logLevel                      string
	policy                        string // overrides every model's batching_policy
	autoscale                     autoscaleFlags
}

func serveCmd(args []string) error {
	var f serveFlags
	fl := flag.NewFlagSet("gannet serve", flag.ExitOnError)
	fl.StringVar(&f.httpAddr, "http-addr", ":8000", "HTTP listen address (KServe OIP v2, /metrics)")
	fl.StringVar(&f.zmqAddr, "zmq-addr", "tcp://*:5555", `ZeroMQ endpoint for SDK clients ("off": none)`)
	fl.StringVar(&f.workerAddr, "worker-addr", "tcp://*:5556", "ZeroMQ endpoint workers connect to")
	fl.StringVar(&f.repo, "model-repository", "", "model repository directory (default: the built-in one)")
	fl.IntVar(&f.localWorkers, "local-workers", 1, "worker processes to start per model (0: remote workers only)")
	fl.Int64Var(&f.maxRequestBytes, "max-request-bytes", 64<<20, "largest request body, before and after decompression")
	fl.DurationVar(&f.requestTimeout, "request-timeout", 30*time.Second, "deadline of requests that set no timeout")
	fl.DurationVar(&f.heartbeat, "heartbeat", 250*time.Millisecond, "worker heartbeat interval (dead after 3 silent ones)")
	fl.DurationVar(&f.httpReadTimeout, "http-read-timeout", time.Minute, "time a new HTTP connection has to send its first request, and a request to arrive in full (a silent connection is closed, a partial request gets 408)")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, time allowed to answer requests in flight")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.policy, "batching-policy", "", `override every model's batching_policy: "slo", "fixed" (with a delay: "fixed:2ms") or "aimd"`)
	fl.StringVar(&f.authTokenFile, "auth-token-file", "", "HTTP requests (but health checks) must carry Authorization: Bearer <a token of this file>, one per line")
	fl.StringVar(&f.curveSecret, "curve-secret-key", "", "secure both ZeroMQ endpoints with CurveZMQ: this server's secret key file (gannet keygen)")
	fl.StringVar(&f.authorizedKeys, "authorized-keys", "", "with --curve-secret-key: file of the public keys of workers and clients let in, one per line")
	fl.DurationVar(&f.autoscale.interval, "autoscale-interval", autoscale.DefaultInterval, "how often the autoscaler decides (models with replicas in config.yaml)")
	fl.DurationVar(&f.autoscale.downWindow, "autoscale-down-window", autoscale.DefaultDownWindow, "how long fewer replicas must have sufficed before one is removed")
	fl.DurationVar(&f.autoscale.idle, "autoscale-idle", autoscale.DefaultIdleToZero, "how long a model with replicas.min 0 must be idle before its last replica goes")
	fl.IntVar(&f.autoscale.warm, "warm-workers", 2, "idle worker processes kept started and parked (on no model) for the autoscaler to assign on a scale-up (only with models that have replicas in config.yaml; 0: none)")
	fl.Parse(args)
	if fl.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fl.Args())
	}
	if f.localWorkers < 0 {
		return errors.New("serve: --local-workers must not be negative")
	}
	if f.autoscale.warm < 0 {
		return errors.New("serve: --warm-workers must not be negative")
	}
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(log)
	return serve(f, log)
}

func serve(f serveFlags, log *slog.Logger) error {
	// Signals first: a SIGTERM during start-up still shuts down in order.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var fsys fs.FS = gannet.BuiltinModels()
	if f.repo != "" {
		fsys = os.DirFS(f.repo)
	}
	repo, err := models.Open(fsys)
	if err != nil {
		return err
	}
	tokens, err := readTokens(f.authTokenFile)
	if err != nil {
		return err
	}
	sec, err := setUpSecurity(f.curveSecret, f.authorizedKeys)
	if err != nil {
		return err
	}
	defer sec.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gannet_build_info", Help: "Always 1; labels tell the build."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(buildInfo)

	// Start order: worker fabric, queues, endpoints, local workers, the
	// autoscaler.
	dm := dispatch.NewMetrics(reg)
	dcfg := dispatch.Config{Addr: f.workerAddr, Heartbeat: f.heartbeat, Metrics: dm, Logger: log,
		SocketOptions: sec.serverOptions()}
	var scaler *autoscaler
	if slices.ContainsFunc(repo.Models, func(m *models.Model) bool { return m.Config.Replicas != nil }) {
		if scaler, err = newAutoscaler(f, reg, dm, log); err != nil {
			return err
		}
		dcfg.OnReplica = scaler.prov.onReplica
		dcfg.OnStarved = scaler.onStarved
	}
	var scaled []*scaledModel
	zero := map[string]bool{} // models that may have no replica and still be ready
	for _, m := range repo.Models {
		dcfg.Models = append(dcfg.Models, dispatch.Model{Name: m.Name, Version: m.Version, File: m.File, Digest: m.Digest, MaxBatchSize: m.Config.MaxBatchSize})
	}
	disp, err := dispatch.New(dcfg)
	if err != nil {
		return err
	}
	bm := batching.NewMetrics(reg)
	var queues []*batching.Queue
	scfg := server.Config{
		HTTPAddr: f.httpAddr, ZMQAddr: f.zmqAddr, MaxRequestBytes: f.maxRequestBytes,
		RequestTimeout: f.requestTimeout, HTTPReadTimeout: f.httpReadTimeout, Ready: readiness{disp, zero}, Gatherer: reg, Metrics: server.NewMetrics(reg),
		Version: version, Logger: log, ZMQSocketOptions: sec.serverOptions(), AuthTokens: tokens,
	}
	for _, m := range repo.Models {
		policy, err := policyOf(m.Config, f.policy)
		if err != nil {
			disp.Close()
			return fmt.Errorf("model %q: %w", m.Name, err)
		}
		bcfg := batching.Config{Model: m.Name, MaxBatchSize: m.Config.MaxBatchSize, MaxQueue: m.Config.MaxQueueSize,
			SLO: m.Config.SLO.Latency, Policy: policy, Buckets: worker.Buckets(m.Config.MaxBatchSize), Metrics: bm, Logger: log}
		if m.Config.Replicas != nil {
			bcfg.OnShed = scaler.onShed
		}
		q, err := batching.New(bcfg, replicas{disp, m.Name})
		if err != nil {
			disp.Close()
			return err
		}
		queues = append(queues, q)
		scfg.Models = append(scfg.Models, server.Model{Meta: &m.Metadata, Queue: q})
		if r := m.Config.Replicas; r != nil {
			scaled = append(scaled, &scaledModel{name: m.Name, q: q, slo: m.Config.SLO.Latency, maxBatch: m.Config.MaxBatchSize, min: r.Min, max: r.Max})
			zero[m.Name] = r.Min == 0
		}
	}
	scfg.ModelStatus = func(model string) (any, bool) { return scaler.Status(model) }
	srv, err := server.New(scfg)
	if err != nil {
		closeQueues(queues, time.Second)
		disp.Close()
		return err
	}
	procs, err := startLocalWorkers(f, repo, disp.Endpoint(), sec.workerArgs(), log)
	if err != nil {
		log.Error("cannot start local workers", "err", err)
	}
	if scaler != nil {
		connect, err := localEndpoint(disp.Endpoint())
		if err != nil {
			log.Error("autoscale: no endpoint for local workers", "err", err)
		}
		scaler.attach(disp, connect, f, sec.workerArgs(), scaled)
	}
	log.Info("gannet serving", "version", version, "http", srv.HTTPAddr(), "zmq", srv.ZMQEndpoint(),
		"workers", disp.Endpoint(), "models", len(repo.Models), "local_workers", len(procs))

	<-ctx.Done()
	stop()

	// Ordered shutdown: stop taking requests and answer those in flight
	// (queues and replicas still run), close the queues, stop the local
	// workers (they finish the batches they hold), close the worker fabric
	// (failing whatever is still in flight), and last close the SDK socket,
	// which carries those answers.
	log.Info("shutting down", "drain_timeout", f.drainTimeout)
	// The autoscaler first: no replica comes or goes from now on (those
	// being removed finish draining); its workers stop with the others.
	procs = append(procs, scaler.stop()...)
	dctx, cancel := context.WithTimeout(context.Background(), f.drainTimeout)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		log.Warn("HTTP shutdown", "err", err)
	}
	closeQueues(queues, max(time.Until(deadlineOf(dctx)), 0))
	supervise.StopAll(procs, 5*time.Second)
	disp.Close()
	srv.Close()
	log.Info("stopped")
	return nil
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func closeQueues(qs []*batching.Queue, wait time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, q := range qs {
		q.Close(ctx)
	}
}

// replicas adapts the dispatcher's slots of one model to batching.
type replicas struct {
	d     *dispatch.Dispatcher
	model string
}

func (r replicas) Acquire(ctx context.Context) (batching.Slot, error) {
	s, err := r.d.Acquire(ctx, r.model)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (r replicas) Count() int { return r.d.Replicas(r.model) }

// readiness is the dispatcher's readiness, except that a model that may
// scale to zero is ready with no replica (its requests wait for the one
// the autoscaler starts) unless no worker can load it.
type readiness struct {
	d    *dispatch.Dispatcher
	zero map[string]bool
}

func (r readiness) Ready(model string) (bool, string) {
	ok, why := r.d.Ready(model)
	if !ok && r.zero[model] && !r.d.Broken(model) {
		return true, ""
	}
	return ok, why
}

// policyOf is the batching policy of a model's config, or of the
// --batching-policy override ("slo", "aimd", "fixed" or "fixed:DELAY").
func policyOf(c models.Config, override string) (batching.Policy, error) {
	name, delay := c.BatchingPolicy, c.MaxQueueDelay
	if override != "" {
		var arg string
		name, arg, _ = strings.Cut(override, ":")
		if arg != "" {
			d, err := time.ParseDuration(arg)
			if err != nil || d < 0 || name != "fixed" {
				return nil, fmt.Errorf("--batching-policy %q: want slo, aimd, fixed or fixed:DELAY", override)
			}
			delay = d
		}
	}
	switch name {
	case "", "slo":
		return batching.SLOPolicy{}, nil
	case "fixed":
		return batching.FixedDelay{Delay: delay}, nil
	case "aimd":
		if c.SLO.Latency == 0 {
			return nil, errors.New("the aimd batching policy needs an slo")
		}
		return batching.NewAIMD(c.SLO.Latency, c.MaxBatchSize), nil
	}
	return nil, fmt.Errorf("batching policy %q: want slo, aimd or fixed", name)
}

// startLocalWorkers starts --local-workers worker processes per model
// without a replicas block (the autoscaler starts the others), as children
// of this binary, each asking for its model.
func startLocalWorkers(f serveFlags, repo *models.Repository, endpoint string, extra []string, log *slog.Logger) ([]*supervise.Process, error) {
	if f.localWorkers == 0 {
		return nil, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	connect, err := localEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	var procs []*supervise.Process
	for _, m := range repo.Models {
		if m.Config.Replicas != nil {
			continue // the autoscaler's
		}
		for i := range f.localWorkers {
			p, err := supervise.Start(supervise.Config{
				Name:   fmt.Sprintf("worker %s/%d", m.Name, i),
				Path:   exe,
				Args:   append([]string{"worker", "--connect", connect, "--model", m.Name, "--heartbeat", f.heartbeat.String(), "--log-level", f.logLevel}, extra...),
				Logger: log,
			})
			if err != nil {
				return procs, err
			}
			procs = append(procs, p)
		}
	}
	return procs, nil
}

// localEndpoint turns a bound endpoint ("tcp://0.0.0.0:5556") into one a
// local process can connect to ("tcp://127.0.0.1:5556").
func localEndpoint(bound string) (string, error) {
	u, err := url.Parse(bound)
	if err != nil || u.Scheme != "tcp" {
		return bound, err // ipc:// and the like connect as bound
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || host == "*" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "tcp://" + host + ":" + port, nil
}
