package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Run executes one batch of n rows, 1 <= n <= the largest bucket. inputs[i]
// is the raw little-endian, row-major FP32 data of graph input i (Inputs()
// order) for n rows. Run pads the batch with zeros to the smallest bucket
// >= n, runs that bucket, and returns for each graph output (Outputs()
// order) the first n rows' bytes (freshly allocated, owned by the caller) and
// the output shape (with dimension 0 = n). Not safe for concurrent use.
func (p *Program) Run(n int, inputs [][]byte) (outputs [][]byte, shapes [][]int64, err error) {
	defer func() {
		if err != nil {
			outputs, shapes = nil, nil
		}
	}()
	defer recoverAs(&err, "Run")
	largest := p.buckets[len(p.buckets)-1]
	if n < 1 || n > largest {
		return nil, nil, badInput("onnx: batch of %d rows is out of range 1..%d", n, largest)
	}
	if len(inputs) != len(p.inputs) {
		return nil, nil, badInput("onnx: %d inputs given, the model has %d", len(inputs), len(p.inputs))
	}
	for i, in := range inputs {
		if want := n * p.inRow[i] * 4; len(in) != want {
			return nil, nil, badInput("onnx: input %q: %d bytes, want %d (%d rows of %v FP32)",
				p.inputs[i].Name, len(in), want, n, p.inTail[i])
		}
	}
	k := sort.SearchInts(p.buckets, n)
	return p.runBucket(p.progs[k], n, inputs)
}

// runBucket runs bp on the first n rows of inputs (all zeros when inputs is
// nil) and returns the first n rows of each output.
func (p *Program) runBucket(bp *bucketProg, n int, inputs [][]byte) ([][]byte, [][]int64, error) {
	for i, node := range bp.in {
		data := bp.inData[i]
		filled := 0
		if inputs != nil {
			filled = n * p.inRow[i]
			decodeF32(data[:filled], inputs[i])
		}
		clear(data[filled:])
		// Input nodes stay live for the whole tape, so gorgonia never
		// works on them in place: the Dense bound at build time is reused.
		if err := G.Let(node, bp.inDense[i]); err != nil {
			return nil, nil, fmt.Errorf("%w: binding input %q: %v", ErrInternal, p.inputs[i].Name, err)
		}
	}
	bp.vm.Reset()
	if err := bp.vm.RunAll(); err != nil {
		return nil, nil, fmt.Errorf("%w: bucket %d: %v", ErrInternal, bp.size, err)
	}
	outputs := make([][]byte, len(bp.out))
	shapes := make([][]int64, len(bp.out))
	for i, node := range bp.out {
		data, err := denseF32(node.Value())
		if err != nil {
			return nil, nil, fmt.Errorf("%w: output %q: %v", ErrInternal, p.outputs[i].Name, err)
		}
		need := n * p.outRow[i]
		if len(data) < need {
			return nil, nil, internal("onnx: output %q holds %d values, want %d", p.outputs[i].Name, len(data), need)
		}
		outputs[i] = encodeF32(data[:need])
		shapes[i] = append([]int64{int64(n)}, p.outTail[i]...)
	}
	return outputs, shapes, nil
}

// denseF32 returns the row-major FP32 data of a value.
func denseF32(v G.Value) ([]float32, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("value is %T, want *tensor.Dense", v)
	}
	if d.RequiresIterator() {
		if d, ok = d.Materialize().(*tensor.Dense); !ok {
			return nil, fmt.Errorf("cannot materialise a view")
		}
	}
	data, ok := d.Data().([]float32)
	if !ok {
		return nil, fmt.Errorf("value is %v, want float32", d.Dtype())
	}
	return data[:d.Shape().TotalSize()], nil
}

func decodeF32(dst []float32, src []byte) {
	for k := range dst {
		dst[k] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*k:]))
	}
}

func encodeF32(src []float32) []byte {
	out := make([]byte, 4*len(src))
	for k, v := range src {
		binary.LittleEndian.PutUint32(out[4*k:], math.Float32bits(v))
	}
	return out
}

// recoverAs turns a panic in the calling goroutine into an ErrInternal error.
// Gorgonia's tape machine runs its instructions in a goroutine of its own
// (TapeMachine.RunAll does `go m.runall(...)`), and im2col fans out to
// goroutines too: a panic there cannot be recovered. safeEval exists so that
// Compile meets such panics first, in this goroutine.
func recoverAs(err *error, what string) {
	if r := recover(); r != nil {
		*err = internal("onnx: %s: gorgonia panicked: %v", what, r)
	}
}

// safeEval evaluates every node of g with its op's Do, in this goroutine,
// so that an op that would panic on these shapes does so where recoverAs
// can catch it. It uses the values bound to the input nodes.
func safeEval(g *G.ExprGraph) (err error) {
	defer recoverAs(&err, "dry run")
	sorted, err := G.Sort(g)
	if err != nil {
		return internal("onnx: sorting the graph: %v", err)
	}
	isInput := map[*G.Node]bool{}
	for _, n := range g.Inputs() {
		isInput[n] = true
	}
	vals := make(map[*G.Node]G.Value, len(sorted))
	for i := len(sorted) - 1; i >= 0; i-- {
		n := sorted[i]
		if isInput[n] {
			if vals[n] = n.Value(); vals[n] == nil {
				return internal("onnx: node %v has no value", n)
			}
			continue
		}
		op := n.Op()
		if op == nil {
			return internal("onnx: node %v has no op", n)
		}
		var args []G.Value
		for it := g.From(n.ID()); it.Next(); {
			c := it.Node().(*G.Node)
			v, ok := vals[c]
			if !ok {
				return internal("onnx: node %v: operand %v is not evaluated", n, c)
			}
			args = append(args, v)
		}
		if a := op.Arity(); a >= 0 && a != len(args) {
			return internal("onnx: op %v has %d operands, want %d", op, len(args), a)
		}
		v, err := op.Do(args...)
		if err != nil {
			return internal("onnx: op %v: %v", op, err)
		}
		if !v.Shape().Eq(n.Shape()) {
			return internal("onnx: op %v gave shape %v, the graph says %v", op, v.Shape(), n.Shape())
		}
		vals[n] = v
	}
	return nil
}
