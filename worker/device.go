package worker

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gannet-ml/gannet/models/synthetic"
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
	engine   engine
	inputs   int
	maxBatch int
	profile  []wire.BucketTime // warm-up timings, sent in LOADED
}

// engine runs one compiled model: ONNX (engine_onnx.go) or synthetic
// (engine_synthetic.go). Only the device goroutine uses it.
type engine interface {
	// run runs a batch of rows rows (inputs already checked against the
	// model's input count) and returns its outputs.
	run(rows int, inputs []wire.Tensor) ([]wire.Tensor, error)
	// warmUp is the time of a batch of each compiled bucket, ascending:
	// the seed of the frontend's latency profile of this replica.
	warmUp() []wire.BucketTime
	// buckets are the batch sizes compiled, for the log.
	buckets() []int
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
	m.profile = m.engine.warmUp()
	reply.Profile = m.profile
	d.models[l.Model] = m
	if d.files[l.Digest] == nil {
		d.files[l.Digest] = l.Bytes
		d.mu.Lock()
		d.digests = append(d.digests, l.Digest)
		d.mu.Unlock()
	}
	d.log("model loaded", "model", l.Model, "buckets", m.engine.buckets())
	return reply
}

// compile checks a LOAD and compiles its model for its platform: a
// synthetic spec (models/synthetic) or, failing that, an ONNX file.
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
	m = &model{name: l.Model, digest: l.Digest, maxBatch: int(l.MaxBatchSize)}
	if synthetic.IsSpec(l.Bytes) {
		m.engine, m.inputs, err = compileSynthetic(l.Bytes, Buckets(m.maxBatch))
	} else {
		m.engine, m.inputs, err = compileONNX(l.Bytes, Buckets(m.maxBatch))
	}
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", l.Model, err)
	}
	return m, nil
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
	rows, inputs, dropped := dropLate(b, time.Now().UnixNano())
	start := time.Now()
	outs, err := m.engine.run(rows, inputs)
	elapsed := time.Since(start)
	if err != nil {
		return fail(wire.KindInternal, "model %q: %v", b.Model, err)
	}
	return &wire.Result{ID: b.ID, ComputeNS: elapsed.Nanoseconds(), Dropped: dropped, Outputs: outs}
}

// dropLate removes from a batch the items whose deadline has passed at
// now (the frontend answers them): it returns the rows and inputs left,
// and the dropped items' indices. The batch's own deadline (the latest of
// its items') has not passed, so at least one item is left.
func dropLate(b *wire.Batch, now int64) (rows int, inputs []wire.Tensor, dropped []uint16) {
	for i, it := range b.Items {
		if it.Deadline != 0 && now >= it.Deadline && i <= 0xffff {
			dropped = append(dropped, uint16(i))
		}
	}
	if len(dropped) == 0 {
		return int(b.Rows), b.Inputs, nil
	}
	rows = int(b.Rows)
	for _, i := range dropped {
		rows -= int(b.Items[i].Rows)
	}
	inputs = make([]wire.Tensor, len(b.Inputs))
	for j, in := range b.Inputs {
		rowBytes := len(in.Data) / int(b.Rows)
		data := make([]byte, 0, len(in.Data))
		off, next := 0, 0
		for i, it := range b.Items {
			n := int(it.Rows) * rowBytes
			if next < len(dropped) && int(dropped[next]) == i {
				next++
			} else {
				data = append(data, in.Data[off:off+n]...)
			}
			off += n
		}
		shape := slices.Clone(in.Shape)
		shape[0] = int64(rows)
		inputs[j] = wire.Tensor{Name: in.Name, DataType: in.DataType, Shape: shape, Data: data}
	}
	return rows, inputs, dropped
}
