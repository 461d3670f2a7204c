package onnx

import (
	"fmt"
	"hash"
	"slices"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Kernels. Most ONNX ops are written once, as a Go function over constT
// tensors (kernelFn). The builder works out the output types and shapes at
// compile time (every shape is static per bucket), then emit either runs
// the kernel at once, when every input is a constant (constant folding), or
// puts a kernOp into the bucket's gorgonia graph, which runs the same
// kernel on the run-time tensors.

// kernelFn computes an op's outputs. in[i] is nil for an optional input
// left out. It must not modify its inputs, and must return tensors of the
// types and shapes announced with it (emit checks).
type kernelFn func(in []*constT) ([]*constT, error)

// outSpec is the type and shape of one output of a kernel.
type outSpec struct {
	dt    int32
	shape []int
}

var kernSeq atomic.Uint64

// kernOp is a gorgonia op that runs output j of a kernel. Inputs that are
// constants at compile time are held by the op (fixed), not passed as
// children. Every kernOp is unique (its hash includes a sequence number), so
// gorgonia never merges two of them.
type kernOp struct {
	name    string
	id      uint64
	inDT    []int32
	inShape [][]int
	fixed   []*constT // constant inputs; nil where the input is a child or absent
	child   []bool    // input i is a child node
	outs    []outSpec
	j       int
	fn      kernelFn
}

func (op *kernOp) Arity() int {
	n := 0
	for _, c := range op.child {
		if c {
			n++
		}
	}
	return n
}

func gType(dt int32, shape []int) hm.Type {
	return G.TensorType{Dims: len(gShape(shape)), Of: gDtype(dt)}
}

func (op *kernOp) Type() hm.Type {
	var ts []hm.Type
	for i, c := range op.child {
		if c {
			ts = append(ts, gType(op.inDT[i], op.inShape[i]))
		}
	}
	o := op.outs[op.j]
	return hm.NewFnType(append(ts, gType(o.dt, o.shape))...)
}

func (op *kernOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return gShape(op.outs[op.j].shape), nil
}

func (op *kernOp) Do(vals ...G.Value) (v G.Value, err error) {
	// Do runs on the tape machine's own goroutine: a panic here could not be
	// recovered by the caller, so it is turned into an error now.
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%s: kernel panicked: %v", op.name, r)
		}
	}()
	in := make([]*constT, len(op.child))
	k := 0
	for i, c := range op.child {
		switch {
		case c:
			if k >= len(vals) {
				return nil, fmt.Errorf("%s: %d operands, want %d", op.name, len(vals), op.Arity())
			}
			if in[i], err = fromGValue(vals[k], op.inDT[i], op.inShape[i]); err != nil {
				return nil, fmt.Errorf("%s: input %d: %v", op.name, i, err)
			}
			k++
		default:
			in[i] = op.fixed[i]
		}
	}
	if k != len(vals) {
		return nil, fmt.Errorf("%s: %d operands, want %d", op.name, len(vals), k)
	}
	outs, err := op.fn(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op.name, err)
	}
	if err := checkOuts(outs, op.outs); err != nil {
		return nil, fmt.Errorf("%s: %v", op.name, err)
	}
	o := outs[op.j]
	// The result must own its memory: gorgonia may later work in place on
	// it, and inputs (weights, graph inputs) must never be written.
	for _, x := range in {
		if x != nil && sameBacking(x, o) {
			o = o.clone()
			break
		}
	}
	return toDense(o), nil
}

func sameBacking(a, b *constT) bool {
	if a.dt != b.dt || a.size() == 0 || b.size() == 0 {
		return false
	}
	switch {
	case a.f != nil && b.f != nil:
		return &a.f[0] == &b.f[0]
	case a.d != nil && b.d != nil:
		return &a.d[0] == &b.d[0]
	case a.i != nil && b.i != nil:
		return &a.i[0] == &b.i[0]
	}
	return false
}

func checkOuts(outs []*constT, specs []outSpec) error {
	if len(outs) < len(specs) {
		return fmt.Errorf("kernel gave %d outputs, want %d", len(outs), len(specs))
	}
	for j, s := range specs {
		o := outs[j]
		if o == nil || o.dt != s.dt || !slices.Equal(o.shape, s.shape) {
			if o == nil {
				return fmt.Errorf("kernel output %d is missing", j)
			}
			return fmt.Errorf("kernel output %d is %s %v, want %s %v", j, dtypeName(o.dt), o.shape, dtypeName(s.dt), s.shape)
		}
		var n int
		switch o.dt {
		case dtFloat:
			n = len(o.f)
		case dtDouble:
			n = len(o.d)
		default:
			n = len(o.i)
		}
		if n != o.size() {
			return fmt.Errorf("kernel output %d holds %d values, shape %v needs %d", j, n, o.shape, o.size())
		}
	}
	return nil
}

func (op *kernOp) ReturnsPtr() bool      { return false }
func (op *kernOp) CallsExtern() bool     { return false }
func (op *kernOp) OverwritesInput() int  { return -1 }
func (op *kernOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op *kernOp) Hashcode() uint32      { return hashOf(op) }
func (op *kernOp) String() string        { return fmt.Sprintf("onnx%s#%d.%d", op.name, op.id, op.j) }

// runKernel runs fn on constants, turning a panic into an error.
func runKernel(name string, fn kernelFn, in []*constT) (outs []*constT, err error) {
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, internal("%s: kernel panicked: %v", name, r)
		}
	}()
	return fn(in)
}

// emit adds an op computed by fn. When every input is a constant the
// kernel runs now and its outputs are constants; otherwise each output is
// a kernOp node.
func (b *builder) emit(name string, in []*value, outs []outSpec, fn kernelFn) ([]*value, error) {
	allConst, static := true, true
	for _, v := range in {
		if v == nil {
			continue
		}
		if !v.isConst() {
			allConst = false
		} else if !v.c.static {
			static = false
		}
	}
	for _, o := range outs {
		if !runnable(o.dt) {
			return nil, unsupported("%s output type %s is not supported", name, dtypeName(o.dt))
		}
		if _, err := checkedSize(int64s(o.shape), maxConstElems); err != nil {
			return nil, err
		}
	}
	if allConst {
		cs := make([]*constT, len(in))
		for i, v := range in {
			if v != nil {
				cs[i] = v.c
			}
		}
		res, err := runKernel(name, fn, cs)
		if err != nil {
			return nil, err
		}
		if err := checkOuts(res, outs); err != nil {
			return nil, internal("%s: %v", name, err)
		}
		vs := make([]*value, len(outs))
		for j := range outs {
			c := *res[j]
			c.static = static
			vs[j] = &value{c: &c}
		}
		return vs, nil
	}
	op := &kernOp{name: name, id: kernSeq.Add(1), fn: fn, outs: outs,
		inDT: make([]int32, len(in)), inShape: make([][]int, len(in)),
		fixed: make([]*constT, len(in)), child: make([]bool, len(in))}
	var children []*G.Node
	for i, v := range in {
		if v == nil {
			continue
		}
		op.inDT[i], op.inShape[i] = v.dtype(), slices.Clone(v.shape())
		if v.isConst() {
			op.fixed[i] = v.c
			continue
		}
		op.child[i] = true
		children = append(children, v.n)
	}
	vs := make([]*value, len(outs))
	for j, o := range outs {
		if shapeSize(o.shape) == 0 {
			return nil, unsupported("%s: empty run-time tensors (shape %v) are not supported", name, o.shape)
		}
		opj := *op
		opj.j = j
		n, err := G.ApplyOp(&opj, children...)
		if err != nil {
			return nil, internal("%s: %v", name, err)
		}
		vs[j] = &value{n: n, dt: o.dt, shp: nonNil(o.shape)}
	}
	return vs, nil
}

// emit1 is emit for a one-output kernel written as func(in) (*constT, error).
func (b *builder) emit1(name string, in []*value, out outSpec, fn func(in []*constT) (*constT, error)) ([]*value, error) {
	return b.emit(name, in, []outSpec{out}, func(in []*constT) ([]*constT, error) {
		c, err := fn(in)
		if err != nil {
			return nil, err
		}
		return []*constT{c}, nil
	})
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return slices.Clone(s)
}
