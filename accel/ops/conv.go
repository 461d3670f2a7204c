package ops

import (
	"fmt"
	"hash"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gannet-ml/gannet/accel/blas"
	"github.com/gannet-ml/gannet/accel/internal/parallel"
	"github.com/gannet-ml/gannet/accel/kernels"
)

// ConvAttrs are the attributes of a 2-D convolution, as in ONNX Conv.
type ConvAttrs struct {
	Strides   [2]int // 0 means 1
	Pads      [4]int // ONNX order: top, left, bottom, right
	Dilations [2]int // 0 means 1
	Group     int    // 0 means 1
	Act       kernels.Act
	// ConstWeights says the weights input holds the same values in every
	// run (a model's constant): the op then packs them once, on its first
	// run, for the packed product (kernels.Conv2DPacked).
	ConstWeights bool
}

// Conv2DOp is Conv (NCHW) with a fused bias and activation. Inputs: x [N,
// C, H, W], w [M, C/group, KH, KW] and optionally bias [M]. It replaces
// gorgonia's Conv2d (im2col, matmul, transpose) plus the bias add and the
// activation that follow it.
type Conv2DOp struct {
	base
	scratch
	p       kernels.Conv2DParams
	out     tensor.Shape
	hasBias bool
	name    string
	packed  atomic.Pointer[packedW]
}

// Conv2D applies a Conv2DOp to x, w and bias (nil for none).
func Conv2D(x, w, bias *G.Node, a ConvAttrs) (*G.Node, error) {
	xs, ws := shapeOf(x), shapeOf(w)
	if len(xs) != 4 || len(ws) != 4 {
		return nil, fmt.Errorf("accel conv2d: input %v and weights %v must be 4-D", xs, ws)
	}
	p := kernels.Conv2DParams{
		N: xs[0], C: xs[1], H: xs[2], W: xs[3], M: ws[0], KH: ws[2], KW: ws[3],
		SH: a.Strides[0], SW: a.Strides[1], PT: a.Pads[0], PL: a.Pads[1], PB: a.Pads[2], PR: a.Pads[3],
		DH: a.Dilations[0], DW: a.Dilations[1], Group: a.Group, Act: a.Act,
	}.Norm()
	p.Packed = a.ConstWeights && p.Group == 1 && blas.PackAvailable()
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("accel %w", err)
	}
	if ws[1] != p.C/p.Group {
		return nil, fmt.Errorf("accel conv2d: weights %v for %d input channels in %d groups", ws, p.C, p.Group)
	}
	op := &Conv2DOp{p: p, hasBias: bias != nil}
	oh, ow := p.OutHW()
	op.out = tensor.Shape{p.N, p.M, oh, ow}
	op.name = fmt.Sprintf("accel.Conv2D%+v", p)
	if bias == nil {
		return G.ApplyOp(op, x, w)
	}
	if bs := shapeOf(bias); bs.TotalSize() != p.M || len(bs) != 1 {
		return nil, fmt.Errorf("accel conv2d: bias %v for %d output channels", bs, p.M)
	}
	return G.ApplyOp(op, x, w, bias)
}

// Params returns the op's convolution.
func (op *Conv2DOp) Params() kernels.Conv2DParams { return op.p }

func (op *Conv2DOp) Arity() int {
	if op.hasBias {
		return 3
	}
	return 2
}

func (op *Conv2DOp) Type() hm.Type {
	if op.hasBias {
		return fnType(4, 4, 4, 1)
	}
	return fnType(4, 4, 4)
}

func (op *Conv2DOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.out.Clone(), nil }
func (op *Conv2DOp) OverwritesInput() int                           { return -1 }
func (op *Conv2DOp) WriteHash(h hash.Hash)                          { writeHash(h, op.name) }
func (op *Conv2DOp) Hashcode() uint32                               { return hashString(op.name) }
func (op *Conv2DOp) String() string                                 { return op.name }

// ScratchLen is the im2col scratch the op wants.
// With packed weights it also covers the unpacked kernel, the fallback.
func (op *Conv2DOp) ScratchLen() int {
	n := kernels.Conv2DScratchLen(op.p, parallel.Threads())
	if op.p.Packed {
		p := op.p
		p.Packed = false
		n = max(n, kernels.Conv2DScratchLen(p, parallel.Threads()))
	}
	return n
}

func (op *Conv2DOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }

func (op *Conv2DOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	const name = "accel conv2d"
	if err := arity(in, op.Arity(), op.Arity(), name); err != nil {
		return nil, err
	}
	x, err := f32(in[0], name, 0, op.p.InLen())
	if err != nil {
		return nil, err
	}
	w, err := f32(in[1], name, 1, op.p.WeightLen())
	if err != nil {
		return nil, err
	}
	var b []float32
	if op.hasBias {
		if b, err = f32(in[2], name, 2, op.p.M); err != nil {
			return nil, err
		}
	}
	out, dst, err := output(prealloc, op.out, name)
	if err != nil {
		return nil, err
	}
	if op.p.Packed {
		k := op.p.C / op.p.Group * op.p.KH * op.p.KW
		key := packKey{kind: 'c', rows: op.p.M, k: k}
		if pw := packedFor(&op.packed, key, w, func(w []float32) *blas.Packed { return kernels.PackConv2DWeights(op.p, w) }); pw != nil {
			kernels.Conv2DPacked(op.p, dst, x, w, pw, b, op.get(op.ScratchLen()))
			return out, nil
		}
	}
	p := op.p
	p.Packed = false
	kernels.Conv2D(p, dst, x, w, b, op.get(op.ScratchLen()))
	return out, nil
}
