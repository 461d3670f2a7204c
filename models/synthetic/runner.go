package synthetic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// Runner runs batches of a synthetic model. It is safe for concurrent use;
// concurrent batches sleep concurrently.
type Runner struct {
	spec  Spec
	sleep func(time.Duration)

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

// New returns a runner of a valid spec. sleep waits for a batch's time;
// nil means time.Sleep (a timer: the goroutine parks, no CPU is spent).
// Tests inject their own.
func New(s Spec, sleep func(time.Duration)) (*Runner, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if sleep == nil {
		sleep = time.Sleep
	}
	return &Runner{spec: s, sleep: sleep, rng: rand.New(rand.NewPCG(s.Seed, 0x5e7e71c))}, nil
}

// Spec returns the runner's spec.
func (r *Runner) Spec() Spec { return r.spec }

// Delay is the time of the next batch of rows rows: Latency(rows) plus,
// with a jitter, the next uniform draw from [0, Jitter) of the seeded
// generator.
func (r *Runner) Delay(rows int) time.Duration {
	d := r.spec.Latency(rows)
	if r.spec.Jitter > 0 {
		r.mu.Lock()
		d += time.Duration(r.rng.Int64N(int64(r.spec.Jitter)))
		r.mu.Unlock()
	}
	return d
}

// Run runs a batch of rows rows: it checks the one input against the spec,
// sleeps Delay(rows) and returns the input as the output (the same bytes,
// not a copy).
func (r *Runner) Run(rows int, inputs []wire.Tensor) ([]wire.Tensor, error) {
	if err := r.check(rows, inputs); err != nil {
		return nil, err
	}
	r.sleep(r.Delay(rows))
	in := inputs[0]
	return []wire.Tensor{{Name: r.spec.Output, DataType: in.DataType, Shape: slices.Clone(in.Shape), Data: in.Data}}, nil
}

func (r *Runner) check(rows int, inputs []wire.Tensor) error {
	want := r.spec.Input
	if rows < 1 {
		return fmt.Errorf("synthetic: batch of %d rows", rows)
	}
	if len(inputs) != 1 {
		return fmt.Errorf("synthetic: %d inputs, want 1 (%q)", len(inputs), want.Name)
	}
	in := inputs[0]
	if in.DataType != want.DataType {
		return fmt.Errorf("synthetic: input %q is %v, want %v", want.Name, in.DataType, want.DataType)
	}
	if len(in.Shape) != len(want.Shape) || in.Shape[0] != int64(rows) {
		return fmt.Errorf("synthetic: input %q has shape %v for %d rows, want %v", want.Name, in.Shape, rows, want.Shape)
	}
	for i, d := range want.Shape[1:] {
		if d != -1 && in.Shape[i+1] != d {
			return fmt.Errorf("synthetic: input %q has shape %v, want %v", want.Name, in.Shape, want.Shape)
		}
	}
	n, err := wire.ByteSize(in.DataType, in.Shape, 0)
	if err != nil {
		return fmt.Errorf("synthetic: input %q: %w", want.Name, err)
	}
	if n != int64(len(in.Data)) {
		return fmt.Errorf("synthetic: input %q of shape %v has %d bytes, want %d", want.Name, in.Shape, len(in.Data), n)
	}
	return nil
}

// Profile is the warm-up profile of the given batch sizes, computed, not
// measured: each batch size's Mean.
func (r *Runner) Profile(buckets []int) []wire.BucketTime {
	out := make([]wire.BucketTime, len(buckets))
	for i, n := range buckets {
		out[i] = wire.BucketTime{Rows: uint32(n), NS: r.spec.Mean(n).Nanoseconds()}
	}
	return out
}
