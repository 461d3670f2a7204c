package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gannet-ml/gannet/autoscale"
	"github.com/gannet-ml/gannet/autoscale/sim"
)

// simulateCmd is `gannet simulate`: the trace-driven autoscaling
// simulator (package autoscale/sim).
func simulateCmd(args []string) error {
	return simulate(args, os.Stdout, os.Stderr)
}

type simulateFlags struct {
	traces               string
	duration             time.Duration
	low, high            float64
	at, until, period    time.Duration
	burstGap, burstLen   time.Duration
	cfg                  sim.Config
	admission            string
	policies             string
	rayTarget, kpaTarget float64
	targetUtil           float64
	downWindow           time.Duration
	interval             time.Duration
	plot                 string
	jsonOut              bool
}

func simulate(args []string, stdout, stderr io.Writer) error {
	var f simulateFlags
	fl := flag.NewFlagSet("gannet simulate", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), `usage: gannet simulate [flags]

Simulates one model's replicas in virtual time under autoscaling policies
(Gannet's, and re-implementations of Ray Serve's and Knative's KPA) on an
arrival trace, with the real batching policy, and reports per policy: SLO
attainment, replica-seconds, the oracle's replica-seconds (a lower bound
that knows the trace), and scaling actions. Deterministic for a --seed.

Traces (--trace, comma-separated; "all" is the four synthetic ones):
  step     --low until --step-at, --high until --step-until, --low after
  ramp     --low to --high over the first half, back over the second
  square   --low and --high alternating, --period
  bursts   --low with bursts of --high lasting --burst-len, Poisson starts
           --burst-gap apart on average
  FILE     CSV lines "t_seconds,rate_per_second" (requests/s from t to the
           next line's t; the last line's t ends the trace; # comments)
Rates default to 10% (--low) and 80% (--high) of 4 replicas' capacity at
the SLO-feasible batch size. One run simulates at most a week of trace,
20 million expected requests and rates of 1e8 requests/s.

`)
		fl.PrintDefaults()
	}
	fl.StringVar(&f.traces, "trace", "all", "step, ramp, square, bursts, all, or a trace file (comma-separated list)")
	fl.DurationVar(&f.duration, "duration", 10*time.Minute, "length of the synthetic traces")
	fl.Float64Var(&f.low, "low", 0, "low rate, requests/s (0: 10% of 4 replicas' capacity)")
	fl.Float64Var(&f.high, "high", 0, "high rate, requests/s (0: 80% of 4 replicas' capacity)")
	fl.DurationVar(&f.at, "step-at", time.Minute, "step: when the rate goes up")
	fl.DurationVar(&f.until, "step-until", 0, "step: when it goes back down (0: at 4/5 of --duration)")
	fl.DurationVar(&f.period, "period", 2*time.Minute, "square: period")
	fl.DurationVar(&f.burstGap, "burst-gap", time.Minute, "bursts: mean time between burst starts")
	fl.DurationVar(&f.burstLen, "burst-len", 10*time.Second, "bursts: length of a burst")
	fl.DurationVar(&f.cfg.SLO, "slo", sim.DefaultSLO, "latency SLO; request deadline = arrival + SLO")
	fl.DurationVar(&f.cfg.Base, "base", sim.DefaultBase, "latency profile: base + batch x per-item")
	fl.DurationVar(&f.cfg.PerItem, "per-item", sim.DefaultPerItem, "latency profile: per item")
	fl.IntVar(&f.cfg.MaxBatch, "max-batch", sim.DefaultMaxBatch, "max_batch_size")
	fl.DurationVar(&f.cfg.ColdStart, "cold-start", sim.DefaultColdStart, "time from a replica asked for to ready")
	fl.IntVar(&f.cfg.Min, "min", 1, "min replicas (0 allows scale to zero)")
	fl.IntVar(&f.cfg.Max, "max", sim.DefaultMax, "max replicas")
	fl.IntVar(&f.cfg.WarmWorkers, "warm-workers", 2, "warm pool: parked workers a replica asked for is taken from, ready --warm-start later (serve's --warm-workers; 0: none)")
	fl.DurationVar(&f.cfg.WarmStart, "warm-start", sim.DefaultWarmStart, "time from a parked worker assigned to ready (its model's LOAD)")
	fl.IntVar(&f.cfg.Cores, "cores", 0, "model CPU contention: with n > cores replicas, batches take n/cores longer (0: none)")
	fl.StringVar(&f.admission, "admission", string(sim.AdmitQueue), "refusal at arrival: queue (batching's prediction) or slo-batch (batches of the SLO-feasible size)")
	fl.StringVar(&f.policies, "policies", "gannet,ray,kpa", "policies to compare")
	fl.Float64Var(&f.rayTarget, "ray-target", autoscale.RayTargetOngoing, "Ray: target_ongoing_requests per replica")
	fl.Float64Var(&f.kpaTarget, "kpa-concurrency", 0, "KPA: container concurrency target per pod (0: the SLO-feasible batch size)")
	fl.Float64Var(&f.targetUtil, "target-utilization", 0, "Gannet: target utilization (0: default)")
	fl.DurationVar(&f.downWindow, "down-window", 0, "Gannet: scale-down window (0: default)")
	fl.DurationVar(&f.interval, "interval", autoscale.DefaultInterval, "Gannet: how often it decides (serve's --autoscale-interval)")
	fl.Uint64Var(&f.cfg.Seed, "seed", 1, "random seed (arrivals, burst times)")
	fl.StringVar(&f.plot, "plot", "", "PNG file of load, replicas and p99 over time (per trace: NAME-TRACE.png when several)")
	fl.BoolVar(&f.jsonOut, "json", false, "print the results as one JSON object, the last line")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("simulate: unexpected arguments %q", fl.Args())
	}
	return runSimulate(f, stdout)
}

// simPolicyJSON is one policy's line of the JSON result.
type simPolicyJSON struct {
	SLOAttainment        float64        `json:"slo_attainment"`
	ReplicaSeconds       float64        `json:"replica_seconds"`
	WarmSeconds          float64        `json:"warm_pool_seconds"`
	OracleReplicaSeconds float64        `json:"oracle_replica_seconds"`
	Ratio                float64        `json:"replica_seconds_ratio"`
	ScalingActions       int            `json:"scaling_actions"`
	Requests             int            `json:"requests"`
	Missed               int            `json:"missed"`
	Shed                 int            `json:"shed"`
	Late                 int            `json:"late"`
	P99MS                float64        `json:"p99_ms"`
	MeanBatch            float64        `json:"mean_batch"`
	Reasons              map[string]int `json:"reasons,omitempty"`
}

type simTraceJSON struct {
	Trace    string                   `json:"trace"`
	Seconds  float64                  `json:"seconds"`
	Policies map[string]simPolicyJSON `json:"policies"`
}

type simJSON struct {
	SLOMS       float64                  `json:"slo_ms"`
	CapacityRPS float64                  `json:"capacity_rps"`
	Batch       int                      `json:"slo_batch"`
	Admission   string                   `json:"admission"`
	WarmWorkers int                      `json:"warm_workers"`
	Seed        uint64                   `json:"seed"`
	Traces      []simTraceJSON           `json:"traces"`
	Policies    map[string]simPolicyJSON `json:"policies,omitempty"` // the only trace's, when one
}

func runSimulate(f simulateFlags, stdout io.Writer) error {
	cfg := f.cfg
	cfg.Admission = sim.Admission(f.admission)
	cfg = cfg.WithDefaults()
	if cfg.MaxBatch > sim.MaxBatchSize { // before Capacity tries every size
		return fmt.Errorf("simulate: --max-batch %d: want at most %d", cfg.MaxBatch, sim.MaxBatchSize)
	}
	capacity, batch := cfg.Capacity()
	if capacity == 0 {
		return errors.New("simulate: not even a batch of one fits half the SLO")
	}
	if f.low == 0 {
		f.low = 0.1 * 4 * capacity
	}
	if f.high == 0 {
		f.high = 0.8 * 4 * capacity
	}
	switch {
	case !(f.low >= 0 && f.high >= 0) || math.IsInf(f.low, 0) || math.IsInf(f.high, 0):
		return fmt.Errorf("simulate: --low %v, --high %v: rates must be finite and >= 0", f.low, f.high)
	case f.duration <= 0 || f.duration > sim.MaxDuration:
		return fmt.Errorf("simulate: --duration %v: want more than 0 and at most %v", f.duration, sim.MaxDuration)
	case f.burstGap < 0 || f.burstGap > sim.MaxDuration || f.period > sim.MaxDuration:
		return fmt.Errorf("simulate: --burst-gap %v, --period %v: want at most %v", f.burstGap, f.period, sim.MaxDuration)
	}
	if f.interval <= 0 {
		return errors.New("simulate: --interval must be > 0")
	}
	if f.until == 0 {
		f.until = f.duration * 4 / 5
		if f.until <= f.at {
			f.until = f.duration // a short run: high to the end
		}
	}
	gcfg := autoscale.Config{TargetUtilization: f.targetUtil, DownWindow: f.downWindow}
	if err := gcfg.Validate(); err != nil {
		return err
	}
	names := strings.Split(f.traces, ",")
	if f.traces == "all" {
		names = []string{"step", "ramp", "square", "bursts"}
	}
	out := simJSON{SLOMS: simMS(cfg.SLO), CapacityRPS: capacity, Batch: batch, Admission: string(cfg.Admission), WarmWorkers: cfg.WarmWorkers, Seed: cfg.Seed}
	fmt.Fprintf(stdout, "capacity %.0f requests/s per replica at batch %d (latency %v + %v x batch, SLO %v, budget SLO/2); cold start %v; warm pool %d (ready in %v, not counted in replica-s); admission %s\n",
		capacity, batch, cfg.Base, cfg.PerItem, cfg.SLO, cfg.ColdStart, cfg.WarmWorkers, cfg.WarmStart, cfg.Admission)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "trace\tpolicy\tSLO attainment\treplica-s\toracle replica-s\tratio\tactions\tshed\tlate\tp99 ms\tmean batch\t")
	for _, name := range names {
		tr, err := simTrace(strings.TrimSpace(name), f, cfg.Seed)
		if err != nil {
			return err
		}
		cfg.Trace = tr
		var results []*sim.Result
		tj := simTraceJSON{Trace: tr.Name, Seconds: tr.Duration().Seconds(), Policies: map[string]simPolicyJSON{}}
		for _, pn := range strings.Split(f.policies, ",") {
			p, err := simPolicy(strings.TrimSpace(pn), f, cfg, gcfg, batch)
			if err != nil {
				return err
			}
			r, err := sim.Run(cfg, p)
			if err != nil {
				return err
			}
			results = append(results, r)
			pj := simPolicyJSON{
				SLOAttainment: r.SLOAttainment, ReplicaSeconds: r.ReplicaSeconds, WarmSeconds: r.WarmSeconds, OracleReplicaSeconds: r.OracleReplicaSeconds,
				Ratio: r.Ratio(), ScalingActions: r.ScalingActions, Requests: r.Requests, Missed: r.Missed, Shed: r.Shed, Late: r.Late,
				P99MS: simMS(r.P99), MeanBatch: float64(r.BatchRows) / math.Max(1, float64(r.Batches)),
			}
			if len(r.Reasons) > 0 {
				pj.Reasons = r.Reasons
			}
			tj.Policies[r.Policy] = pj
			fmt.Fprintf(tw, "%s\t%s\t%.4f%%\t%.0f\t%.0f\t%.3f\t%d\t%d\t%d\t%.1f\t%.1f\t\n", tr.Name, r.Policy, 100*r.SLOAttainment,
				r.ReplicaSeconds, r.OracleReplicaSeconds, r.Ratio(), r.ScalingActions, r.Shed, r.Late, pj.P99MS, pj.MeanBatch)
		}
		out.Traces = append(out.Traces, tj)
		if f.plot != "" {
			file := f.plot
			if len(names) > 1 {
				ext := filepath.Ext(file)
				file = strings.TrimSuffix(file, ext) + "-" + tr.Name + ext
			}
			if err := sim.WritePlot(file, fmt.Sprintf("%s trace, SLO %v, cold start %v", tr.Name, cfg.SLO, cfg.ColdStart), simMS(cfg.SLO), results); err != nil {
				return err
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !f.jsonOut {
		return nil
	}
	if len(out.Traces) == 1 {
		out.Policies = out.Traces[0].Policies
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// maxSimSegments bounds the segments a synthetic trace is built of (a
// square wave's half periods, the bursts), so that a tiny --period or
// --burst-len is an error rather than gigabytes of segments.
const maxSimSegments = 1_000_000

func simTrace(name string, f simulateFlags, seed uint64) (sim.Trace, error) {
	switch name {
	case "step":
		switch {
		case f.at < 0 || f.at > f.duration:
			return sim.Trace{}, fmt.Errorf("simulate: --step-at %v: want it within --duration %v", f.at, f.duration)
		case f.until < f.at:
			return sim.Trace{}, fmt.Errorf("simulate: --step-until %v: before --step-at %v", f.until, f.at)
		}
		return sim.Step(f.low, f.high, f.at, f.until, f.duration), nil
	case "ramp":
		return sim.Ramp(f.low, f.high, f.duration), nil
	case "square":
		if f.period <= 0 || f.duration/max(f.period/2, time.Millisecond) > maxSimSegments {
			return sim.Trace{}, fmt.Errorf("simulate: --period %v: want more than 0, and at most %d half periods in --duration %v", f.period, maxSimSegments, f.duration)
		}
		return sim.Square(f.low, f.high, f.period, f.duration), nil
	case "bursts":
		if f.burstLen <= 0 || f.duration/f.burstLen > maxSimSegments {
			return sim.Trace{}, fmt.Errorf("simulate: --burst-len %v: want more than 0, and at most %d bursts' lengths in --duration %v", f.burstLen, maxSimSegments, f.duration)
		}
		return sim.Bursts(f.low, f.high, f.burstGap, f.burstLen, f.duration, seed), nil
	}
	file, err := os.Open(name)
	if err != nil {
		return sim.Trace{}, fmt.Errorf("simulate: --trace %q is not step, ramp, square, bursts or a readable file: %w", name, err)
	}
	defer file.Close()
	return sim.ParseTrace(filepath.Base(name), file)
}

func simPolicy(name string, f simulateFlags, cfg sim.Config, gcfg autoscale.Config, batch int) (sim.Policy, error) {
	switch name {
	case "gannet":
		g := sim.NewGannet(cfg.SLO)
		g.Config, g.Every = gcfg, f.interval
		return g, nil
	case "ray":
		return sim.NewRay(autoscale.RayConfig{TargetOngoing: f.rayTarget}), nil
	case "kpa":
		cc := f.kpaTarget
		if cc == 0 {
			cc = float64(batch)
		}
		return sim.NewKPA(autoscale.KPAConfig{ContainerConcurrency: cc}), nil
	}
	return nil, fmt.Errorf("simulate: unknown policy %q (gannet, ray, kpa)", name)
}

func simMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
