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

// Gorgonia ops written here, where gorgonia's own is missing, wrong or
// wasteful: biasAddOp (x + bias along one axis, without materialising a
// broadcast), avgPoolOp (gorgonia's AveragePool2D divides by the input width
// instead of the window size, and its GlobalAveragePool2D boxes every
// element) and matMulOp (gorgonia.Mul takes a (1, K) matrix for a vector).
//
// None of them overwrites its input, and each checks its inputs' dtype and
// shape in Do, so a mismatch is an error, not a panic.

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

// biasAddOp adds a vector along one axis of its first input:
// out[..., i, ...] = x[..., i, ...] + bias[i].
type biasAddOp struct {
	axis, dims int // dims: rank of x
}

// tensorT is the gorgonia type of a tensor of rank dims.
func tensorT(dims int) hm.Type { return &G.TensorType{Dims: dims, Of: hm.TypeVariable('a')} }

func (biasAddOp) Arity() int { return 2 }
func (op biasAddOp) Type() hm.Type {
	return hm.NewFnType(tensorT(op.dims), tensorT(1), tensorT(op.dims))
}
func (op biasAddOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op biasAddOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("biasAdd: %d inputs", len(in))
	}
	x, xd, err := asF32(in[0], "biasAdd")
	if err != nil {
		return nil, err
	}
	_, bd, err := asF32(in[1], "biasAdd")
	if err != nil {
		return nil, err
	}
	shape := x.Shape()
	if op.axis >= len(shape) || shape[op.axis] != len(bd) {
		return nil, fmt.Errorf("biasAdd: bias of %d values for axis %d of %v", len(bd), op.axis, shape)
	}
	inner := shapeSize(shape[op.axis+1:])
	n := len(bd)
	out := make([]float32, len(xd))
	if n*inner == 0 {
		return nil, fmt.Errorf("biasAdd: empty input %v", shape)
	}
	for base := 0; base < len(xd); base += n * inner {
		for c := 0; c < n; c++ {
			bv := bd[c]
			seg := base + c*inner
			o, s := out[seg:seg+inner], xd[seg:seg+inner]
			for k := range o {
				o[k] = s[k] + bv
			}
		}
	}
	return tensor.New(tensor.WithShape(shape.Clone()...), tensor.WithBacking(out)), nil
}
func (biasAddOp) ReturnsPtr() bool         { return false }
func (biasAddOp) CallsExtern() bool        { return false }
func (biasAddOp) OverwritesInput() int     { return -1 }
func (op biasAddOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op biasAddOp) Hashcode() uint32      { return hashOf(op) }
func (op biasAddOp) String() string {
	return fmt.Sprintf("onnxBiasAdd{axis=%d, dims=%d}", op.axis, op.dims)
}

// avgPoolOp is a 2-D average pool over an NCHW tensor with symmetric
// padding and floor rounding; padded cells are not counted.
type avgPoolOp struct {
	kh, kw, sh, sw, ph, pw int
}

func (op avgPoolOp) outHW(h, w int) (int, int) {
	return (h+2*op.ph-op.kh)/op.sh + 1, (w+2*op.pw-op.kw)/op.sw + 1
}

func (avgPoolOp) Arity() int { return 1 }
func (avgPoolOp) Type() hm.Type {
	return hm.NewFnType(tensorT(4), tensorT(4))
}
func (op avgPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := in[0].(tensor.Shape)
	if len(s) != 4 {
		return nil, fmt.Errorf("avgPool: input shape %v is not NCHW", s)
	}
	oh, ow := op.outHW(s[2], s[3])
	return tensor.Shape{s[0], s[1], oh, ow}, nil
}
func (op avgPoolOp) Do(in ...G.Value) (G.Value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("avgPool: %d inputs", len(in))
	}
	x, xd, err := asF32(in[0], "avgPool")
	if err != nil {
		return nil, err
	}
	s := x.Shape()
	if len(s) != 4 {
		return nil, fmt.Errorf("avgPool: input shape %v is not NCHW", s)
	}
	h, w := s[2], s[3]
	oh, ow := op.outHW(h, w)
	if oh < 1 || ow < 1 {
		return nil, fmt.Errorf("avgPool: input %v is smaller than the window", s)
	}
	planes := s[0] * s[1]
	out := make([]float32, planes*oh*ow)
	for p := 0; p < planes; p++ {
		src := xd[p*h*w : (p+1)*h*w]
		dst := out[p*oh*ow : (p+1)*oh*ow]
		for y := 0; y < oh; y++ {
			y0 := y*op.sh - op.ph
			y1 := min(y0+op.kh, h)
			for xx := 0; xx < ow; xx++ {
				x0 := xx*op.sw - op.pw
				x1 := min(x0+op.kw, w)
				var sum float32
				for r := max(y0, 0); r < y1; r++ {
					for c := max(x0, 0); c < x1; c++ {
						sum += src[r*w+c]
					}
				}
				dst[y*ow+xx] = sum / float32((y1-max(y0, 0))*(x1-max(x0, 0)))
			}
		}
	}
	return tensor.New(tensor.WithShape(s[0], s[1], oh, ow), tensor.WithBacking(out)), nil
}
func (avgPoolOp) ReturnsPtr() bool         { return false }
func (avgPoolOp) CallsExtern() bool        { return false }
func (avgPoolOp) OverwritesInput() int     { return -1 }
func (op avgPoolOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }
func (op avgPoolOp) Hashcode() uint32      { return hashOf(op) }
func (op avgPoolOp) String() string {
	return fmt.Sprintf("onnxAvgPool{k=%dx%d s=%dx%d p=%dx%d}", op.kh, op.kw, op.sh, op.sw, op.ph, op.pw)
}

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
