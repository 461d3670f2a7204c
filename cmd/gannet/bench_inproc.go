package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"

	"github.com/gannet-ml/gannet"
	"github.com/gannet-ml/gannet/internal/loadgen"
	"github.com/gannet-ml/gannet/models"
	"github.com/gannet-ml/gannet/models/onnx"
	"github.com/gannet-ml/gannet/wire"
	"github.com/gannet-ml/gannet/worker"
)

// benchInProcess measures a model's compute time per batch size with the
// workers' engine, in this process: the ceiling serving is measured
// against.
func benchInProcess(f benchFlags) error {
	var fsys fs.FS = gannet.BuiltinModels()
	if f.repo != "" {
		fsys = os.DirFS(f.repo)
	}
	repo, err := models.Open(fsys)
	if err != nil {
		return err
	}
	m := repo.Lookup(f.inProcess)
	if m == nil {
		var names []string
		for _, m := range repo.Models {
			names = append(names, m.Name)
		}
		return fmt.Errorf("bench: no model %q in the repository (it has %s)", f.inProcess, strings.Join(names, ", "))
	}
	if m.Config.Platform == models.PlatformSynthetic {
		return fmt.Errorf("bench: model %q is synthetic: its batch time is its config (base + per_item x rows); --in-process measures compiled models", m.Name)
	}
	for _, in := range m.Metadata.Inputs {
		if in.DataType != wire.TypeFP32 {
			return fmt.Errorf("bench: model %q: input %q is %v; the engine runs FP32 inputs", m.Name, in.Name, in.DataType)
		}
	}
	if f.bucketTime <= 0 {
		return errors.New("bench: --bucket-time must be positive")
	}
	buckets := worker.Buckets(m.Config.MaxBatchSize) // the batch sizes workers compile
	run, err := compileForBench(m.File, buckets)
	if err != nil {
		return fmt.Errorf("bench: model %q: %w", m.Name, err)
	}
	rng := rand.New(rand.NewPCG(f.seed, 0x9a77e7))
	data := map[int][][]byte{}
	for _, n := range buckets {
		in, err := benchInputs(m.Name, m.Metadata.Inputs, n, 1, f.dataDir, rng, f.stderr)
		if err != nil {
			return err
		}
		for _, t := range in[0] {
			data[n] = append(data[n], t.Data)
		}
	}
	if !f.quiet && f.stderrTerminal {
		fmt.Fprintf(f.stderr, "measuring %s, batch sizes %v, %v each...\n", m.Name, buckets, f.bucketTime)
	}
	res, err := loadgen.MeasureBatches(buckets, f.bucketTime, 20, func(n int) error { return run(n, data[n]) })
	if err != nil {
		return fmt.Errorf("bench: model %q: %w", m.Name, err)
	}
	res.Model = m.Name
	fmt.Fprintf(f.stdout, "%s in process (GOMAXPROCS %d), median of each batch size:\n", m.Name, runtime.GOMAXPROCS(0))
	fmt.Fprintf(f.stdout, "  %6s %8s %10s %10s %10s %12s %12s\n", "batch", "runs", "p50 ms", "p90 ms", "min ms", "rows/s", "CPU us/row")
	for _, r := range res.Rows {
		fmt.Fprintf(f.stdout, "  %6d %8d %10.3f %10.3f %10.3f %12.1f %12.1f\n", r.BatchSize, r.Runs, r.P50MS, r.P90MS, r.MinMS, r.Throughput, r.CPUPerRowUS)
	}
	fmt.Fprintf(f.stdout, "  max throughput %.1f rows/s at batch size %d\n", res.MaxThroughput, res.BestBatch)
	if f.jsonOut {
		return printJSON(f.stdout, res)
	}
	return nil
}

// compileForBench compiles an ONNX file for the given batch buckets as a
// worker does (worker/device.go compile) and returns a function that runs
// n rows of raw FP32 inputs. It is the one place bench uses the onnx API.
func compileForBench(file []byte, buckets []int) (func(n int, inputs [][]byte) error, error) {
	parsed, err := onnx.Parse(file)
	if err != nil {
		return nil, err
	}
	prog, err := onnx.Compile(parsed, onnx.Options{Buckets: buckets})
	if err != nil {
		return nil, err
	}
	return func(n int, inputs [][]byte) error {
		_, _, err := prog.Run(n, inputs)
		return err
	}, nil
}
