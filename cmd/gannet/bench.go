package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gannet-ml/gannet/client"
	"github.com/gannet-ml/gannet/internal/curve"
	"github.com/gannet-ml/gannet/internal/fmnist"
	"github.com/gannet-ml/gannet/internal/loadgen"
	"github.com/gannet-ml/gannet/wire"
)

// Transports of `gannet bench`.
const (
	transportJSON   = "http-json"
	transportBinary = "http-binary"
	transportSDK    = "sdk"
)

type benchFlags struct {
	url, sdk, transport, model     string
	arrival, trace                 string
	rate, rampTo                   float64
	poisson                        bool
	seed                           uint64
	duration, warmup, slo, timeout time.Duration
	clientTimeout                  time.Duration
	batch, inputs, maxInflight     int
	sdkConns                       int
	dataDir, out                   string
	jsonOut, quiet, spin           bool
	authTokenFile                  string
	curveServerKey, curveSecretKey string
	inProcess, repo                string
	bucketTime                     time.Duration
	durationSet                    bool
	stdout, stderr                 io.Writer
	stderrTerminal                 bool
}

func benchCmd(args []string) error {
	f := benchFlags{stdout: os.Stdout, stderr: os.Stderr, stderrTerminal: loadgen.IsTerminal(os.Stderr)}
	fl := flag.NewFlagSet("gannet bench", flag.ExitOnError)
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), `usage: gannet bench [flags]                 open-loop load against a server
       gannet bench --in-process MODEL [flags] the model's compute time per batch size, no serving

A load run sends requests at scheduled times whatever the number outstanding
(no coordinated omission) and measures latency from the scheduled time.
Trace files (--arrival trace): one request time in seconds per line, or
"t_seconds rate" lines (the rate from t on); # starts a comment. Times
are at most a week.

`)
		fl.PrintDefaults()
	}
	fl.StringVar(&f.url, "url", "http://localhost:8000", "the server's HTTP base URL (also read for model metadata)")
	fl.StringVar(&f.sdk, "sdk", "tcp://localhost:5555", "the server's ZeroMQ SDK endpoint")
	fl.StringVar(&f.transport, "transport", transportJSON, "http-json, http-binary (Triton's binary tensor extension) or sdk")
	fl.StringVar(&f.model, "model", "fashion-mnist-cnn", "model to load")
	fl.Float64Var(&f.rate, "rate", 100, "requests/s (a ramp's start rate)")
	fl.StringVar(&f.arrival, "arrival", loadgen.Constant, "arrival process: constant, poisson, ramp (--rate to --ramp-to over --duration) or trace (--trace)")
	fl.Float64Var(&f.rampTo, "ramp-to", 0, "a ramp's end rate, requests/s")
	fl.StringVar(&f.trace, "trace", "", "trace file for --arrival trace")
	fl.BoolVar(&f.poisson, "poisson", false, "space a ramp or a trace of rates as a Poisson process (default: evenly)")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed (Poisson arrivals, random inputs)")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "measured length of the run (a trace's own length when not given)")
	fl.DurationVar(&f.warmup, "warmup", 2*time.Second, "warm-up before it, at the starting rate, not measured")
	fl.DurationVar(&f.slo, "slo", 20*time.Millisecond, "latency SLO: goodput counts OK answers within it")
	fl.DurationVar(&f.timeout, "timeout", 0, "deadline sent with each request (OIP v2 parameter timeout; SDK WithTimeout); 0: none")
	fl.DurationVar(&f.clientTimeout, "client-timeout", 0, "how long the generator waits for an answer (default --timeout + 1s, or 10s)")
	fl.IntVar(&f.batch, "batch", 1, "rows per request")
	fl.IntVar(&f.inputs, "inputs", 256, "distinct requests (images or random tensors), sent in turn")
	fl.IntVar(&f.maxInflight, "max-inflight", 4096, "most requests outstanding (and HTTP connections); past it a request counts as an overload error")
	fl.IntVar(&f.sdkConns, "sdk-conns", 1, "SDK connections")
	fl.StringVar(&f.dataDir, "data-dir", fmnist.DefaultDir, "Fashion-MNIST data set (inputs of the fashion-mnist models)")
	fl.StringVar(&f.out, "out", "", "directory for result.json, latency.png and cdf.png")
	fl.BoolVar(&f.jsonOut, "json", false, "print the result as one JSON object, the last line")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	fl.BoolVar(&f.spin, "spin", false, "precise send times: spin the last millisecond before each (costs CPU; Go timers wake up to ~1ms late)")
	fl.StringVar(&f.authTokenFile, "auth-token-file", "", "send the first token of this file as Authorization: Bearer")
	fl.StringVar(&f.curveServerKey, "curve-server-key", "", "the server's CurveZMQ public key (or a file holding it), for --transport sdk")
	fl.StringVar(&f.curveSecretKey, "curve-secret-key", "", "this client's CurveZMQ secret key file, with --curve-server-key")
	fl.StringVar(&f.inProcess, "in-process", "", "measure MODEL's compute time per batch size in this process, without serving")
	fl.StringVar(&f.repo, "model-repository", "", "with --in-process: model repository directory (default: the built-in one)")
	fl.DurationVar(&f.bucketTime, "bucket-time", time.Second, "with --in-process: time spent on each batch size")
	fl.Parse(args)
	if fl.NArg() > 0 {
		return fmt.Errorf("bench: unexpected arguments %q", fl.Args())
	}
	fl.Visit(func(fl *flag.Flag) { f.durationSet = f.durationSet || fl.Name == "duration" })
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if f.inProcess != "" {
		return benchInProcess(f)
	}
	return benchLoad(ctx, f)
}

// benchLoad runs a load and reports it.
func benchLoad(ctx context.Context, f benchFlags) error {
	switch {
	case f.batch < 1 || f.inputs < 1:
		return errors.New("bench: --batch and --inputs must be positive")
	case f.duration <= 0 && (f.arrival != loadgen.Trace || f.durationSet):
		return errors.New("bench: --duration must be positive")
	case f.timeout < 0 || f.warmup < 0 || f.clientTimeout < 0:
		return errors.New("bench: negative --timeout, --warmup or --client-timeout")
	}
	arr := loadgen.Arrivals{Process: f.arrival, Rate: f.rate, RampTo: f.rampTo, Duration: f.duration, Poisson: f.poisson}
	warmRate := f.rate
	if f.arrival == loadgen.Trace {
		tf, err := readTrace(f.trace)
		if err != nil {
			return err
		}
		arr.Trace, warmRate = tf, tf.MeanRate()
		if !f.durationSet {
			arr.Duration = 0 // the trace's own length
		}
	}
	rng := rand.New(rand.NewPCG(f.seed, 0x9a77e7))
	main, err := arr.Schedule(rng)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	window := arr.Duration
	if window <= 0 {
		window = time.Duration(arr.Trace.Length() * 1e9)
	}
	window = max(window, time.Millisecond)
	if f.arrival == loadgen.Ramp && warmRate == 0 {
		warmRate = f.rampTo / 10
	}
	sched, warm := loadgen.WithWarmup(main, warmRate, f.warmup)
	if warm == 0 {
		f.warmup = 0
	}

	tr, err := f.transportFor(rng)
	if err != nil {
		return err
	}
	defer tr.Close()
	ct := f.clientTimeout
	if ct == 0 {
		ct = 10 * time.Second
		if f.timeout > 0 {
			ct = f.timeout + time.Second
		}
	}
	label := fmt.Sprintf("%s %s %s", f.model, f.transport, f.arrival)
	cfg := loadgen.Config{
		Schedule: sched, Warm: warm, Start: int64(f.warmup), Duration: window,
		MaxInflight: f.maxInflight, ClientTimeout: ct, Transport: tr, Spin: f.spin,
	}
	if !f.quiet && f.stderrTerminal {
		cfg.Progress = loadgen.ProgressBar(f.stderr, label)
	}
	run, err := loadgen.Execute(ctx, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if run.SenderErr != nil {
		fmt.Fprintln(f.stderr, "gannet bench: transport:", run.SenderErr)
	}
	res := loadgen.Summarize(run, f.slo)
	res.Model, res.Transport, res.Arrival = f.model, f.transport, f.arrival
	res.TargetHz, res.RampTo, res.Batch = f.rate, f.rampTo, f.batch
	res.TimeoutMS = float64(f.timeout) / 1e6
	if f.out != "" {
		if err := writeBenchOut(f.out, label, run, &res, f.slo); err != nil {
			return err
		}
	}
	printLoad(f.stdout, &res)
	if f.out != "" {
		fmt.Fprintf(f.stdout, "wrote %s\n", filepath.Join(f.out, "result.json")+", "+loadgen.LatencyPlot+", "+loadgen.CDFPlot)
	}
	if f.jsonOut {
		res.Windows = nil
		if err := printJSON(f.stdout, res); err != nil {
			return err
		}
	}
	return err // context.Canceled when interrupted: still reported above
}

// transportFor builds the transport and its inputs.
func (f *benchFlags) transportFor(rng *rand.Rand) (loadgen.Transport, error) {
	md, err := loadgen.FetchMetadata(f.url, f.model, 5*time.Second)
	if err != nil {
		if f.transport != transportSDK || !strings.HasPrefix(f.model, "fashion-mnist") {
			return nil, fmt.Errorf("bench: %w", err)
		}
		md = &wire.ModelMetadata{Name: f.model, Inputs: loadgen.FashionMNISTInputs}
	}
	inputs, err := benchInputs(f.model, md.Inputs, f.batch, f.inputs, f.dataDir, rng, f.stderr)
	if err != nil {
		return nil, err
	}
	timeoutMicros := int64(0)
	if f.timeout > 0 {
		timeoutMicros = max(f.timeout.Microseconds(), 1)
	}
	switch f.transport {
	case transportJSON, transportBinary:
		token, err := firstToken(f.authTokenFile)
		if err != nil {
			return nil, err
		}
		return loadgen.NewHTTP(loadgen.HTTPConfig{URL: f.url, Model: f.model, Binary: f.transport == transportBinary,
			Inputs: inputs, TimeoutMicros: timeoutMicros, MaxConns: f.maxInflight, AuthToken: token})
	case transportSDK:
		opts := client.Options{}
		if f.curveServerKey != "" || f.curveSecretKey != "" {
			if opts.CurveServerKey, err = curve.ReadPublic(f.curveServerKey); err != nil {
				return nil, fmt.Errorf("--curve-server-key: %w", err)
			}
			b, err := os.ReadFile(f.curveSecretKey)
			if err != nil {
				return nil, fmt.Errorf("--curve-secret-key: %w", err)
			}
			opts.CurveSecretKey = strings.TrimSpace(string(b))
		}
		return loadgen.NewSDK(loadgen.SDKConfig{Endpoint: f.sdk, Model: f.model, Inputs: inputs,
			Timeout: f.timeout, Conns: f.sdkConns, Options: opts})
	}
	return nil, fmt.Errorf("bench: --transport %q: want %s, %s or %s", f.transport, transportJSON, transportBinary, transportSDK)
}

// benchInputs makes count requests of rows rows: Fashion-MNIST test images
// for the fashion-mnist models, random data otherwise (or when the data
// set cannot be read, with a warning).
func benchInputs(model string, specs []wire.TensorSpec, rows, count int, dataDir string, rng *rand.Rand, warn io.Writer) ([][]wire.Tensor, error) {
	var images [][]float32
	if strings.HasPrefix(model, "fashion-mnist") && loadgen.IsImageModel(specs) {
		var err error
		images, _, err = fmnist.TestImages(dataDir, min(rows*count, fmnist.TestCount))
		if err != nil {
			fmt.Fprintf(warn, "gannet bench: %v; sending random images\n", err)
			images = nil
		}
	}
	return loadgen.MakeInputs(specs, rows, count, images, rng)
}

func readTrace(path string) (*loadgen.TraceFile, error) {
	if path == "" {
		return nil, errors.New("bench: --arrival trace needs --trace FILE")
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer file.Close()
	tf, err := loadgen.ParseTrace(file)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", path, err)
	}
	return tf, nil
}

func firstToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	tokens, err := readTokens(path)
	if err != nil || len(tokens) == 0 {
		return "", fmt.Errorf("--auth-token-file %s: no token (%v)", path, err)
	}
	return tokens[0], nil
}

// writeBenchOut writes result.json (with the per-window series) and the
// plots into dir.
func writeBenchOut(dir, title string, run *loadgen.Run, res *loadgen.Result, slo time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return loadgen.WritePlots(dir, title, run, res, slo)
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// printLoad prints a load run's summary for people.
func printLoad(w io.Writer, r *loadgen.Result) {
	fmt.Fprintf(w, "%s over %s, %s arrivals: %d requests in %.1fs (offered %.1f/s)\n",
		r.Model, r.Transport, r.Arrival, r.Requests, r.DurationS, r.Rate)
	fmt.Fprintf(w, "  throughput %.1f/s  goodput %.1f/s at SLO %gms (%.2f%% of requests)\n",
		r.Throughput, r.Goodput, r.SLOMS, 100*r.SLOShare)
	fmt.Fprintf(w, "  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
		r.P50MS, r.P90MS, r.P99MS, r.P999MS, r.MaxMS, r.MeanMS)
	fmt.Fprintf(w, "  from the actual send: p50 %.3f  p99 %.3f\n", r.ServiceP50MS, r.ServiceP99MS)
	printCounts(w, "errors", r.Errors)
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "    answered in ms  p50 %.3f  p99 %.3f\n", r.ErrorP50MS, r.ErrorP99MS)
	}
	printCounts(w, "refusals", r.Refusals)
	for _, ex := range r.RefusalExamples {
		fmt.Fprintf(w, "    e.g. %s\n", ex)
	}
	g := r.Generator
	fmt.Fprintf(w, "  generator: send lag p50 %.3fms p99 %.3fms max %.3fms, %d in flight at most, %.1fus CPU/request\n",
		g.SendLagP50MS, g.SendLagP99MS, g.SendLagMaxMS, g.MaxInflight, g.CPUPerReqUS)
	if g.NotSent > 0 {
		fmt.Fprintf(w, "  interrupted: %d requests not sent\n", g.NotSent)
	}
}

func printCounts(w io.Writer, what string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
	fmt.Fprintf(w, "  %s:", what)
	for _, k := range keys {
		fmt.Fprintf(w, " %q %d;", k, m[k])
	}
	fmt.Fprintln(w)
}
