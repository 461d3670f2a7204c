package worker

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gannet-ml/gannet/models/onnx"
	"github.com/gannet-ml/gannet/wire"
)

// job is one LOAD or BATCH for the device goroutine.
type job struct {
	session *session
	load    *wire.Load
	batch   *wire.Batch
}

// device runs jobs one at a time on its own goroutine: compiling a model and
// running a batch both happen there, so the session's socket goroutine stays
// free for heartbeats.
type device struct {
	name string
	log  func(msg string, args ...any)
	jobs chan job
	done chan struct{} // closed when the goroutine returns

	mu      sync.Mutex // guards digests
	digests [][32]byte // models compiled, for HELLO

	models map[string]*model   // device goroutine only: by model name
	files  map[[32]byte][]byte // device goroutine only: model files by SHA-256
}

// model is a compiled model ready to run batches.
type model struct {
	name     string
	digest   [32]byte
	prog     *onnx.Program
	inputs   int
	outputs  []wire.TensorSpec
	maxBatch int
	profile  []wire.BucketTime // warm-up timings, sent in LOADED
}

func newDevice(cfg Config) *device {
	d := &device{
		name:   fmt.Sprintf("cpu:%d", runtime.GOMAXPROCS(0)),
		log:    cfg.Logger.Info,
		jobs:   make(chan job, cfg.Capacity+4),
		done:   make(chan struct{}),
		models: map[string]*model{},
		files:  map[[32]byte][]byte{},
	}
	go d.run()
	return d
}

// submit queues a job without blocking; false when the device is full.
func (d *device) submit(j job) bool {
	select {
	case d.jobs <- j:
		return true
	default:
		return false
	}
}

func (d *device) stop() {
	close(d.jobs)
	<-d.done
}

func (d *device) cached() [][32]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([][32]byte(nil), d.digests...)
}

func (d *device) run() {
	defer close(d.done)
	for j := range d.jobs {
		s := j.session
		switch {
		case j.load != nil:
			s.send(d.load(j.load))
		case s.isOver():
			// The frontend has already given up on this batch.
		default:
			s.send(d.execute(j.batch))
		}
		s.finished()
	}
}

// load compiles a model, or finds it compiled already.
func (d *device) load(l *wire.Load) *wire.Loaded {
	reply := &wire.Loaded{Model: l.Model, Digest: l.Digest}
	// A model compiled from the same file for the same batch size is
	// reused; the buckets depend on the batch size.
	for _, m := range d.models {
		if m.digest == l.Digest && m.maxBatch == int(l.MaxBatchSize) {
			d.models[l.Model] = m
			reply.Profile = m.profile
			return reply
		}
	}
	if l.Bytes == nil {
		l.Bytes = d.files[l.Digest]
	}
	m, err := compile(l)
	if err != nil {
		reply.Kind = wire.KindInvalid
		reply.Message = err.Error()
		return reply
	}
	m.profile = warmUp(m)
	reply.Profile = m.profile
	d.models[l.Model] = m
	if d.files[l.Digest] == nil {
		d.files[l.Digest] = l.Bytes
		d.mu.Lock()
		d.digests = append(d.digests, l.Digest)
		d.mu.Unlock()
	}
	d.log("model loaded", "model", l.Model, "buckets", m.prog.Buckets())
	return reply
}

func compile(l *wire.Load) (m *model, err error) {
	if l.Bytes == nil {
		return nil, fmt.Errorf("model %q: the frontend sent no bytes and this worker does not hold the file", l.Model)
	}
	if sha256.Sum256(l.Bytes) != l.Digest {
		return nil, fmt.Errorf("model %q: file does not match its SHA-256 digest", l.Model)
	}
	if l.MaxBatchSize < 1 {
		return nil, fmt.Errorf("model %q: max batch size %d", l.Model, l.MaxBatchSize)
	}
	parsed, err := onnx.Parse(l.Bytes)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", l.Model, err)
	}
	m = &model{name: l.Model, digest: l.Digest, inputs: len(parsed.Inputs()), maxBatch: int(l.MaxBatchSize)}
	for _, o := range parsed.Outputs() {
		dt, ok := wire.ParseDataType(o.DataType)
		if !ok {
			return nil, fmt.Errorf("model %q: output %q has unsupported datatype %s", l.Model, o.Name, o.DataType)
		}
		m.outputs = append(m.outputs, wire.TensorSpec{Name: o.Name, DataType: dt, Shape: o.Shape})
	}
	m.prog, err = onnx.Compile(parsed, onnx.Options{Buckets: Buckets(m.maxBatch)})
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", l.Model, err)
	}
	return m, nil
}

// warmUpRuns is how many times each bucket runs at load to seed the
// latency profile; the median is reported.
const warmUpRuns = 3

// warmUp times every compiled bucket on zero inputs. Compile has already
// run each once (its dry run), so these runs are warm.
func warmUp(m *model) []wire.BucketTime {
	infos := m.prog.Inputs()
	var out []wire.BucketTime
	for _, n := range m.prog.Buckets() {
		in := make([][]byte, len(infos))
		for i, info := range infos {
			size := 4
			if dt, ok := wire.ParseDataType(info.DataType); ok {
				size = dt.Size()
			}
			for _, d := range info.Shape[1:] {
				size *= int(max(d, 1))
			}
			in[i] = make([]byte, n*size)
		}
		var times [warmUpRuns]time.Duration
		for k := range times {
			start := time.Now()
			if _, _, err := m.prog.Run(n, in); err != nil {
				return out // no profile beyond this bucket; the frontend learns it online
			}
			times[k] = time.Since(start)
		}
		slices.Sort(times[:])
		out = append(out, wire.BucketTime{Rows: uint32(n), NS: times[warmUpRuns/2].Nanoseconds()})
	}
	return out
}

// Buckets are the batch sizes compiled for a model: powers of two below
// maxBatch, and maxBatch itself. A batch runs in the smallest bucket that
// holds it, padded.
func Buckets(maxBatch int) []int {
	var b []int
	for n := 1; n < maxBatch; n *= 2 {
		b = append(b, n)
	}
	return append(b, maxBatch)
}

// execute runs one batch and returns its RESULT or ERROR.
func (d *device) execute(b *wire.Batch) (reply wire.WorkerMessage) {
	fail := func(k wire.Kind, format string, args ...any) wire.WorkerMessage {
		return &wire.BatchError{ID: b.ID, Kind: k, Message: fmt.Sprintf(format, args...)}
	}
	m := d.models[b.Model]
	switch {
	case m == nil:
		return fail(wire.KindUnavailable, "model %q is not loaded on this worker", b.Model)
	case b.Deadline != 0 && time.Now().UnixNano() >= b.Deadline:
		return fail(wire.KindDeadline, "model %q: deadline passed before the batch could run", b.Model)
	case b.Rows < 1 || int(b.Rows) > m.maxBatch:
		return fail(wire.KindInvalid, "model %q: batch of %d rows, max %d", b.Model, b.Rows, m.maxBatch)
	case len(b.Inputs) != m.inputs:
		return fail(wire.KindInvalid, "model %q: batch has %d inputs, the model %d", b.Model, len(b.Inputs), m.inputs)
	}
	defer func() {
		if p := recover(); p != nil {
			reply = fail(wire.KindInternal, "model %q: panic while running: %v", b.Model, p)
		}
	}()
	in := make([][]byte, len(b.Inputs))
	for i := range b.Inputs {
		in[i] = b.Inputs[i].Data
	}
	start := time.Now()
	outs, shapes, err := m.prog.Run(int(b.Rows), in)
	elapsed := time.Since(start)
	if err != nil {
		return fail(wire.KindInternal, "model %q: %v", b.Model, err)
	}
	res := &wire.Result{ID: b.ID, ComputeNS: elapsed.Nanoseconds(), Outputs: make([]wire.Tensor, len(outs))}
	for i := range outs {
		res.Outputs[i] = wire.Tensor{Name: m.outputs[i].Name, DataType: m.outputs[i].DataType, Shape: shapes[i], Data: outs[i]}
	}
	return res
}
