package worker

import (
	"fmt"
	"slices"
	"time"

	"github.com/gannet-ml/gannet/models/onnx"
	"github.com/gannet-ml/gannet/wire"
)

// onnxEngine runs an ONNX model compiled by models/onnx, one gorgonia
// program per bucket.
type onnxEngine struct {
	prog    *onnx.Program
	outputs []wire.TensorSpec
}

// compileONNX parses and compiles an ONNX file for the buckets (Compile
// dry-runs each) and returns the engine and its number of inputs.
func compileONNX(file []byte, buckets []int) (engine, int, error) {
	parsed, err := onnx.Parse(file)
	if err != nil {
		return nil, 0, err
	}
	e := &onnxEngine{}
	for _, o := range parsed.Outputs() {
		dt, ok := wire.ParseDataType(o.DataType)
		if !ok {
			return nil, 0, fmt.Errorf("output %q has unsupported datatype %s", o.Name, o.DataType)
		}
		e.outputs = append(e.outputs, wire.TensorSpec{Name: o.Name, DataType: dt, Shape: o.Shape})
	}
	e.prog, err = onnx.Compile(parsed, onnx.Options{Buckets: buckets})
	if err != nil {
		return nil, 0, err
	}
	return e, len(parsed.Inputs()), nil
}

func (e *onnxEngine) buckets() []int { return e.prog.Buckets() }

func (e *onnxEngine) run(rows int, inputs []wire.Tensor) ([]wire.Tensor, error) {
	in := make([][]byte, len(inputs))
	for i := range inputs {
		in[i] = inputs[i].Data
	}
	outs, shapes, err := e.prog.Run(rows, in)
	if err != nil {
		return nil, err
	}
	res := make([]wire.Tensor, len(outs))
	for i := range outs {
		res[i] = wire.Tensor{Name: e.outputs[i].Name, DataType: e.outputs[i].DataType, Shape: shapes[i], Data: outs[i]}
	}
	return res, nil
}

// warmUpRuns is how many times each bucket runs at load to seed the
// latency profile; the median is reported.
const warmUpRuns = 3

// warmUp times every compiled bucket on zero inputs. Compile has already
// run each once (its dry run), so these runs are warm.
func (e *onnxEngine) warmUp() []wire.BucketTime {
	infos := e.prog.Inputs()
	var out []wire.BucketTime
	for _, n := range e.prog.Buckets() {
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
			if _, _, err := e.prog.Run(n, in); err != nil {
				return out // no profile beyond this bucket; the frontend learns it online
			}
			times[k] = time.Since(start)
		}
		slices.Sort(times[:])
		out = append(out, wire.BucketTime{Rows: uint32(n), NS: times[warmUpRuns/2].Nanoseconds()})
	}
	return out
}
