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

// GemmAttrs are the attributes of ONNX Gemm plus a fused activation.
// Alpha and Beta default to 1 when both are zero.
type GemmAttrs struct {
	TransA, TransB bool
	Alpha, Beta    float32
	Act            kernels.Act
	// ConstB says B holds the same values in every run (a model's
	// weights): the op then packs it once, on its first run, for the
	// packed product (kernels.GemmPacked).
	ConstB bool
}

// GemmOp is ONNX Gemm, act(alpha * op(A) op(B) + beta * C), with the bias C
// broadcast without being materialised. Inputs: A, B and optionally C
// (shapes [N], [1, N], [M, 1], [M, N] or a scalar). It replaces gorgonia's
// Mul (MatMul) plus the broadcast bias Add and the activation after it.
type GemmOp struct {
	base
	scratch
	p        kernels.GemmParams
	packed   atomic.Pointer[packedW]
	out      tensor.Shape
	biasDims int // rank of C, -1 for none
	name     string
}

// Gemm applies a GemmOp to a, b and c (nil for no bias).
func Gemm(a, b, c *G.Node, at GemmAttrs) (*G.Node, error) {
	as, bs := shapeOf(a), shapeOf(b)
	if len(as) != 2 || len(bs) != 2 {
		return nil, fmt.Errorf("accel gemm: A %v and B %v must be matrices", as, bs)
	}
	if at.Alpha == 0 && at.Beta == 0 {
		at.Alpha, at.Beta = 1, 1
	}
	p := kernels.GemmParams{M: as[0], K: as[1], N: bs[1], TransA: at.TransA, TransB: at.TransB, Alpha: at.Alpha, Beta: at.Beta, Act: at.Act}
	if at.TransA {
		p.M, p.K = as[1], as[0]
	}
	kb := bs[0]
	if at.TransB {
		p.N, kb = bs[0], bs[1]
	}
	if kb != p.K {
		return nil, fmt.Errorf("accel gemm: A %v and B %v do not multiply (transA=%v, transB=%v)", as, bs, at.TransA, at.TransB)
	}
	op := &GemmOp{p: p, biasDims: -1, out: tensor.Shape{p.M, p.N}}
	if c != nil {
		cs := shapeOf(c)
		op.biasDims = len(cs)
		switch {
		case cs.TotalSize() == 1:
			op.p.Bias = kernels.BiasScalar
		case cs.TotalSize() == p.N && (len(cs) == 1 || len(cs) == 2 && cs[0] == 1):
			op.p.Bias = kernels.BiasRow
		case len(cs) == 2 && cs[0] == p.M && cs[1] == 1:
			op.p.Bias = kernels.BiasCol
		case len(cs) == 2 && cs[0] == p.M && cs[1] == p.N:
			op.p.Bias = kernels.BiasFull
		default:
			return nil, fmt.Errorf("accel gemm: bias %v does not broadcast to [%d %d]", cs, p.M, p.N)
		}
	}
	if err := op.p.Check(); err != nil {
		return nil, fmt.Errorf("accel %w", err)
	}
	// One row (batch 1) is a matrix-vector product: faster unpacked.
	op.p.Packed = at.ConstB && blas.PackAvailable() && op.p.M >= 2
	op.name = fmt.Sprintf("accel.Gemm%+v", op.p)
	if c == nil {
		return G.ApplyOp(op, a, b)
	}
	return G.ApplyOp(op, a, b, c)
}

// Params returns the op's product.
func (op *GemmOp) Params() kernels.GemmParams { return op.p }

func (op *GemmOp) Arity() int {
	if op.biasDims >= 0 {
		return 3
	}
	return 2
}

func (op *GemmOp) Type() hm.Type {
	if op.biasDims >= 0 {
		return fnType(2, 2, 2, op.biasDims)
	}
	return fnType(2, 2, 2)
}

func (op *GemmOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return op.out.Clone(), nil
}
func (op *GemmOp) OverwritesInput() int  { return -1 }
func (op *GemmOp) WriteHash(h hash.Hash) { writeHash(h, op.name) }
func (op *GemmOp) Hashcode() uint32      { return hashString(op.name) }
func (op *GemmOp) String() string        { return op.name }

// ScratchLen is the packed product's scratch (none without packing).
func (op *GemmOp) ScratchLen() int { return kernels.GemmScratchLen(op.p, parallel.Threads()) }

func (op *GemmOp) Do(in ...G.Value) (G.Value, error) { return op.UsePreallocDo(nil, in...) }

func (op *GemmOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	const name = "accel gemm"
	if err := arity(in, op.Arity(), op.Arity(), name); err != nil {
		return nil, err
	}
	p := &op.p
	a, err := f32(in[0], name, 0, p.M*p.K)
	if err != nil {
		return nil, err
	}
	b, err := f32(in[1], name, 1, p.K*p.N)
	if err != nil {
		return nil, err
	}
	var c []float32
	if op.biasDims >= 0 {
		if c, err = f32(in[2], name, 2, p.Bias.Len(p.M, p.N)); err != nil {
			return nil, err
		}
	}
	out, dst, err := output(prealloc, op.out, name)
	if err != nil {
		return nil, err
	}
	if p.Packed {
		key := packKey{kind: 'g', rows: p.N, k: p.K, trans: p.TransB}
		if pb := packedFor(&op.packed, key, b, func(b []float32) *blas.Packed { return kernels.PackGemmB(*p, b) }); pb != nil {
			kernels.GemmPacked(*p, dst, a, pb, c, op.get(op.ScratchLen()))
			return out, nil
		}
	}
	kernels.Gemm(*p, dst, a, b, c)
	return out, nil
}
