package worker

import (
	"slices"

	"github.com/gannet-ml/gannet/models/synthetic"
	"github.com/gannet-ml/gannet/wire"
)

// syntheticEngine runs a synthetic model (models/synthetic): it echoes the
// input after sleeping the batch's time on a timer, spending no CPU.
type syntheticEngine struct {
	runner *synthetic.Runner
	bucket []int
}

// compileSynthetic decodes a synthetic spec; it has one input.
func compileSynthetic(file []byte, buckets []int) (engine, int, error) {
	spec, err := synthetic.Decode(file)
	if err != nil {
		return nil, 0, err
	}
	r, err := synthetic.New(spec, nil)
	if err != nil {
		return nil, 0, err
	}
	return &syntheticEngine{runner: r, bucket: slices.Clone(buckets)}, 1, nil
}

func (e *syntheticEngine) buckets() []int { return slices.Clone(e.bucket) }

func (e *syntheticEngine) run(rows int, inputs []wire.Tensor) ([]wire.Tensor, error) {
	return e.runner.Run(rows, inputs)
}

// warmUp is computed, not measured: each bucket's configured mean time
// (base + per_item x rows + jitter/2). Sleeping through it would only
// delay the replica's start.
func (e *syntheticEngine) warmUp() []wire.BucketTime { return e.runner.Profile(e.bucket) }
