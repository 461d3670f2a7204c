package onnx

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// matMulOp, for the rare products accel's GemmOp does not take (Gemm with
// alpha = beta = 0): gorgonia.Mul treats a (1, K) matrix as a vector and
// then fails to infer shapes. It does not overwrite its input and checks
// its inputs' dtype and shape in Do, so a mismatch is an error, not a panic.
// The common ops are accel's (fast.go) and arithOp (ops_arith.go).

func hashOf(op fmt.Stringer) uint32 {
	h := fnv.New32a()
	fmt.Fprint(h, op.String())
	return h.Sum32()
}

func asF32(v G.Value, op string) (*tensor.Dense, []float32, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, nil, fmt.Errorf("%s: input is %T, want *tensor.Dense", op, v)
	}
	data, ok := d.Data().([]float32)
	if !ok || d.RequiresIterator() {
		return nil, nil, fmt.Errorf("%s: input is not contiguous FP32", op)
	}
	return d, data, nil
}

// tensorT is the gorgonia type of a tensor of rank dims.
func tensorT(dims int) hm.Type { return &G.TensorType{Dims: dims, Of: hm.TypeVariable('a')} }

// matMulOp multiplies two row-major FP32 matrices, (M, K) x (K, N). It
// replaces gorgonia.Mul, which treats a (1, K) matrix as a vector and then
// fails to infer shapes (so a batch of one row would not compile).
type matMulOp struct{}

func (matMulOp) Arity() int { return 2 }
func (matMulOp) Type() hm.Type {
	return hm.NewFnType(tensorT(2), tensorT(2), tensorT(2))
}
func (matMulOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	a, ok1 := in[0].(tensor.Shape)
	b, ok2 := in[1].(tensor.Shape)
	if !ok1 || !ok2 || len(a) != 2 || len(b) != 2 || a[1] != b[0] {
		return nil, fmt.Errorf("matMul: shapes %v and %v do not multiply", in[0], in[1])
	}
	return tensor.Shape{a[0], b[1]}, nil
}
func (matMulOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("matMul: %d inputs", len(in))
	}
	a, ad, err := asF32(in[0], "matMul")
	if err != nil {
		return nil, err
	}
	b, bd, err := asF32(in[1], "matMul")
	if err != nil {
		return nil, err
	}
	as, bs := a.Shape(), b.Shape()
	if len(as) != 2 || len(bs) != 2 || as[1] != bs[0] {
		return nil, fmt.Errorf("matMul: shapes %v and %v do not multiply", as, bs)
	}
	m, k, n := as[0], as[1], bs[1]
	if len(ad) < m*k || len(bd) < k*n {
		return nil, fmt.Errorf("matMul: short operands")
	}
	out := make([]float32, m*n)
	if m > 0 && n > 0 && k > 0 {
		G.WhichBLAS().Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, ad, k, bd, n, 0, out, n)
	}
	return tensor.New(tensor.WithShape(m, n), tensor.WithBacking(out)), nil
}
func (matMulOp) ReturnsPtr() bool         { return false }
func (matMulOp) CallsExtern() bool        { return false }
func (matMulOp) OverwritesInput() int     { return -1 }
func (op matMulOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op matMulOp) Hashcode() uint32      { return hashOf(op) }
func (matMulOp) String() string           { return "onnxMatMul" }

// matMul builds a x b for matrices.
func matMul(a, b *G.Node) (*G.Node, error) { return G.ApplyOp(matMulOp{}, a, b) }
