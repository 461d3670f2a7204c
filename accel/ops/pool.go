package ops

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gannet-ml/gannet/accel/kernels"
)

// PoolAttrs are the attributes of ONNX MaxPool and AveragePool.
type PoolAttrs struct {
	Kernel          [2]int
	Strides         [2]int // 0 means 1
	Pads            [4]int // ONNX order: top, left, bottom, right
	Dilations       [2]int // 0 means 1; MaxPool only
	CeilMode        bool
	CountIncludePad bool // AveragePool only
}

// PoolOp is a 2-D MaxPool or AveragePool over NCHW, parallel over planes.
// It replaces gorgonia's MaxPool2D (which also computes an argmax mask)
// and AveragePool2D.
type PoolOp struct {
	base
	p    kernels.PoolParams
	out  tensor.Shape
	avg  bool
	name string
}

// MaxPool applies a max PoolOp to x.
func MaxPool(x *G.Node, a PoolAttrs) (*G.Node, error) { return pool(x, a, false) }

// AvgPool applies an average PoolOp to x.
func AvgPool(x *G.Node, a PoolAttrs) (*G.Node, error) { return pool(x, a, true) }

func pool(x *G.Node, a PoolAttrs, avg bool) (*G.Node, error) {
	xs := shapeOf(x)
	if len(xs) != 4 {
		return nil, fmt.Errorf("accel pool: input %v is not NCHW", xs)
	}
	p := kernels.PoolParams{
		N: xs[0], C: xs[1], H: xs[2], W: xs[3], KH: a.Kernel[0], KW: a.Kernel[1],
		SH: a.Strides[0], SW: a.Strides[1], PT: a.Pads[0], PL: a.Pads[1], PB: a.Pads[2], PR: a.Pads[3],
		DH: a.Dilations[0], DW: a.Dilations[1], CeilMode: a.CeilMode, CountIncludePad: a.CountIncludePad,
	}.Norm()
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("accel %w", err)
	}
	if avg && (p.DH != 1 || p.DW != 1) {
		return nil, fmt.Errorf("accel pool: dilated average pooling is not supported")
	}
	op := &PoolOp{p: p, avg: avg}
	oh, ow := p.OutHW()
	op.out = tensor.Shape{p.N, p.C, oh, ow}
	kind := "Max"
	if avg {
		kind = "Avg"
	}
	op.name = fmt.Sprintf("accel.%sPool%+v", kind, p)
	return G.ApplyOp(op, x)
}

func (op *PoolOp) Arity() int                                     { return 1 }
func (op *PoolOp) Type() hm.Type                                  { return fnType(4, 4) }
func (op *PoolOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.out.Clone(), nil }
func (op *PoolOp) OverwritesInput() int                           { return -1 }
func (op *PoolOp) WriteHash(h hash.Hash)                          { writeHash(h, op.name) }
func (op *PoolOp) Hashcode() uint32                               { return hashString(op.name) }
func (op *PoolOp) String() string                                 { return op.name }

func (op *PoolOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }

func (op *PoolOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	const name = "accel pool"
	if err := arity(in, 1, 1, name); err != nil {
		return nil, err
	}
	x, err := f32(in[0], name, 0, op.p.N*op.p.C*op.p.H*op.p.W)
	if err != nil {
		return nil, err
	}
	out, dst, err := output(prealloc, op.out, name)
	if err != nil {
		return nil, err
	}
	if op.avg {
		kernels.AvgPool(op.p, dst, x)
	} else {
		kernels.MaxPool(op.p, dst, x)
	}
	return out, nil
}

// GlobalAvgPoolOp is ONNX GlobalAveragePool: [N, C, H, W] -> [N, C, 1, 1],
// parallel over planes.
type GlobalAvgPoolOp struct {
	base
	n, c, hw int
	rank     int
	name     string
}

// GlobalAvgPool applies a GlobalAvgPoolOp to x (rank >= 3, NC...).
func GlobalAvgPool(x *G.Node) (*G.Node, error) {
	xs := shapeOf(x)
	if len(xs) < 3 || xs.TotalSize() == 0 {
		return nil, fmt.Errorf("accel global average pool: input %v is not N, C, spatial...", xs)
	}
	op := &GlobalAvgPoolOp{n: xs[0], c: xs[1], hw: xs.TotalSize() / (xs[0] * xs[1]), rank: len(xs)}
	op.name = fmt.Sprintf("accel.GlobalAvgPool{%d,%d,%d,rank=%d}", op.n, op.c, op.hw, len(xs))
	return G.ApplyOp(op, x)
}

func (op *GlobalAvgPoolOp) Arity() int    { return 1 }
func (op *GlobalAvgPoolOp) Type() hm.Type { return fnType(op.rank, op.rank) }
func (op *GlobalAvgPoolOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	s := tensor.Shape{op.n, op.c}
	for i := 2; i < op.rank; i++ {
		s = append(s, 1)
	}
	return s, nil
}
func (op *GlobalAvgPoolOp) OverwritesInput() int  { return -1 }
func (op *GlobalAvgPoolOp) WriteHash(h hash.Hash) { writeHash(h, op.name) }
func (op *GlobalAvgPoolOp) Hashcode() uint32      { return hashString(op.name) }
func (op *GlobalAvgPoolOp) String() string        { return op.name }

func (op *GlobalAvgPoolOp) Do(in ...G.Value) (G.Value, error) {
	if err := arity(in, 1, 1, "accel global average pool"); err != nil {
		return nil, err
	}
	s, _ := op.InferShape()
	d := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(s...))
	return op.UsePreallocDo(d, in...)
}

func (op *GlobalAvgPoolOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	const name = "accel global average pool"
	if err := arity(in, 1, 1, name); err != nil {
		return nil, err
	}
	x, err := f32(in[0], name, 0, op.n*op.c*op.hw)
	if err != nil {
		return nil, err
	}
	dst, err := f32(prealloc, name+" output", 0, op.n*op.c)
	if err != nil {
		return nil, err
	}
	kernels.GlobalAvgPool(op.n*op.c, op.hw, dst, x)
	return prealloc, nil
}
