// Package ops wraps accel's kernels (accel/kernels) as gorgonia Ops, so a
// compiler that builds gorgonia graphs (models/onnx) can use them in place
// of gorgonia's own: Conv2D, Gemm, MaxPool, AvgPool, GlobalAvgPool, Add
// (residual, fused activation, in place), Activation and Reshape (a view).
//
// Every op is built for fixed input shapes (the compiler knows them per
// batch bucket) by the node constructors in this package, checks its
// inputs' dtype and shape in Do and UsePreallocDo (a mismatch is an error,
// not a panic), and implements gorgonia.UsePreallocDoer so an executor
// (accel/exec) can give it its output buffer. Do allocates its result, as
// gorgonia's TapeMachine expects; UsePreallocDo allocates nothing.
//
// Concurrency: an op value holds the scratch buffer an executor gave it
// (SetScratch), so one op value must not run concurrently with itself; the
// graphs of different buckets or programs hold different op values. Inputs
// (weights included) are never written, except input 0 of Add and
// Activation by UnsafeDo or when the executor plans them in place.
package ops

import (
	"fmt"
	"hash"
	"hash/fnv"
	"unsafe"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// tensorT is the gorgonia type of a tensor of rank dims (a scalar for 0).
func tensorT(dims int) hm.Type {
	if dims == 0 {
		return hm.TypeVariable('a')
	}
	return &G.TensorType{Dims: dims, Of: hm.TypeVariable('a')}
}

// fnType is the type of an op from its inputs' ranks to its output's.
func fnType(out int, in ...int) hm.Type {
	ts := make([]hm.Type, 0, len(in)+1)
	for _, d := range in {
		ts = append(ts, tensorT(d))
	}
	return hm.NewFnType(append(ts, tensorT(out))...)
}

// f32 returns the float32 data of a dense tensor or scalar value, checking
// that it holds want values (want < 0: any).
func f32(v G.Value, op string, i, want int) ([]float32, error) {
	switch d := v.(type) {
	case *tensor.Dense:
		if d.Dtype() != tensor.Float32 {
			return nil, fmt.Errorf("%s: input %d is %v, want float32", op, i, d.Dtype())
		}
		if d.RequiresIterator() {
			return nil, fmt.Errorf("%s: input %d is not contiguous", op, i)
		}
		data := d.Float32s()
		if want >= 0 && len(data) != want {
			return nil, fmt.Errorf("%s: input %d has shape %v (%d values), want %d values", op, i, d.Shape(), len(data), want)
		}
		return data, nil
	case *G.F32:
		if want >= 0 && want != 1 {
			return nil, fmt.Errorf("%s: input %d is a scalar, want %d values", op, i, want)
		}
		return unsafe.Slice((*float32)(d), 1), nil
	case nil:
		return nil, fmt.Errorf("%s: input %d is not bound", op, i)
	}
	return nil, fmt.Errorf("%s: input %d is %T, want *tensor.Dense", op, i, v)
}

// output returns prealloc's data if it is a float32 tensor of shape s, or
// a freshly allocated tensor when prealloc is nil.
func output(prealloc G.Value, s tensor.Shape, op string) (*tensor.Dense, []float32, error) {
	if prealloc == nil {
		d := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(s.Clone()...))
		return d, d.Float32s(), nil
	}
	d, ok := prealloc.(*tensor.Dense)
	if !ok || d.Dtype() != tensor.Float32 || d.RequiresIterator() {
		return nil, nil, fmt.Errorf("%s: preallocated output is %T, want a contiguous float32 *tensor.Dense", op, prealloc)
	}
	data := d.Float32s()
	if len(data) != s.TotalSize() {
		return nil, nil, fmt.Errorf("%s: preallocated output holds %d values, want %v", op, len(data), s)
	}
	return d, data, nil
}

// arity checks the number of inputs.
func arity(in []G.Value, lo, hi int, op string) error {
	if len(in) < lo || len(in) > hi {
		return fmt.Errorf("%s: %d inputs, want %d..%d", op, len(in), lo, hi)
	}
	return nil
}

// base holds the methods every op here shares; name is its String.
type base struct{}

func (base) ReturnsPtr() bool  { return false }
func (base) CallsExtern() bool { return false }

func hashString(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func writeHash(h hash.Hash, s string) { h.Write([]byte(s)) }

// shapeOf returns a node's shape.
func shapeOf(n *G.Node) tensor.Shape { return n.Shape() }

// scratch is a scratch buffer: the executor's (shared by the ops of one
// executor, which run one at a time) or the op's own.
type scratch struct {
	buf []float32
}

// ScratchLen is implemented by ops that want scratch; SetScratch gives
// them a buffer of at least that many values.
func (s *scratch) SetScratch(buf []float32) { s.buf = buf }

// get returns n values of scratch, allocating the op's own if the executor
// gave none or too few (only on the TapeMachine path or on a first run).
func (s *scratch) get(n int) []float32 {
	if len(s.buf) < n {
		s.buf = make([]float32, n)
	}
	return s.buf[:n]
}
