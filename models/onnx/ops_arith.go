package onnx

import (
	"fmt"
	"hash"
	"slices"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// arithOp is Add, Sub, Mul or Div of two FP32 tensors with numpy
// broadcasting, written for accel's executor: it writes into the buffer it
// is given (UsePreallocDo), allocates nothing, and may run in place on x
// when x has the output's shape. It replaces gorgonia's Broadcast* ops
// (a Repeat per broadcast axis, materialised) and its scalar products.
type arithOp struct {
	op     byte // '+', '-', '*', '/'
	out    []int
	xs, ys []int // operand shapes, padded with leading 1s to out's rank
	xn, yn int   // ranks of the operand nodes
	sx, sy []int // element strides of x and y over out's axes (0: broadcast)
	name   string
}

// arith applies an arithOp to run-time or weight nodes x and y of the
// logical shapes xs and ys (broadcastable to out, rank >= 1).
func arith(op byte, x, y *G.Node, xs, ys, out []int) (*G.Node, error) {
	r := len(out)
	a := &arithOp{op: op, out: slices.Clone(out), xs: padShape(xs, r), ys: padShape(ys, r),
		xn: x.Shape().Dims(), yn: y.Shape().Dims()}
	if x.IsScalar() {
		a.xn = 0
	}
	if y.IsScalar() {
		a.yn = 0
	}
	a.sx, a.sy = bcastStrides(a.xs, out), bcastStrides(a.ys, out)
	a.name = fmt.Sprintf("onnxArith{%c %v %v->%v}", op, a.xs, a.ys, out)
	return G.ApplyOp(a, x, y)
}

func padShape(s []int, r int) []int {
	p := slices.Repeat([]int{1}, r-len(s))
	return append(p, s...)
}

// bcastStrides gives, for each axis of out, the step in a row-major tensor
// of shape s (padded to out's rank) per step along that axis: 0 where s
// broadcasts.
func bcastStrides(s, out []int) []int {
	st := strides(s)
	for k := range out {
		if s[k] == 1 && out[k] != 1 {
			st[k] = 0
		}
	}
	return st
}

func (op *arithOp) Arity() int { return 2 }
func (op *arithOp) Type() hm.Type {
	t := func(n int) hm.Type {
		if n == 0 {
			return hm.TypeVariable('a')
		}
		return tensorT(n)
	}
	return hm.NewFnType(t(op.xn), t(op.yn), tensorT(len(op.out)))
}
func (op *arithOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape(slices.Clone(op.out)), nil
}
func (op *arithOp) ReturnsPtr() bool  { return false }
func (op *arithOp) CallsExtern() bool { return false }
func (op *arithOp) OverwritesInput() int {
	if slices.Equal(op.xs, op.out) {
		return 0
	}
	return -1
}
func (op *arithOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.name) }
func (op *arithOp) Hashcode() uint32      { return hashOf(op) }
func (op *arithOp) String() string        { return op.name }

func (op *arithOp) Do(in ...G.Value) (G.Value, error) {
	d := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(op.out...))
	return op.UsePreallocDo(d, in...)
}

func (op *arithOp) UsePreallocDo(prealloc G.Value, in ...G.Value) (G.Value, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("%s: %d inputs", op.name, len(in))
	}
	x, err := f32Data(in[0], shapeSize(op.xs), op.name)
	if err != nil {
		return nil, err
	}
	y, err := f32Data(in[1], shapeSize(op.ys), op.name)
	if err != nil {
		return nil, err
	}
	dst, err := f32Data(prealloc, shapeSize(op.out), op.name)
	if err != nil {
		return nil, err
	}
	switch {
	case slices.Equal(op.xs, op.out) && slices.Equal(op.ys, op.out):
		arithLoop(op.op, dst, x, y, 1, 1)
	case len(y) == 1:
		arithLoop(op.op, dst, x, y, 1, 0)
	case len(x) == 1:
		arithLoop(op.op, dst, x, y, 0, 1)
	default:
		op.general(dst, x, y)
	}
	return prealloc, nil
}

// general walks out row by row (its last axis), with an odometer over the
// other axes.
func (op *arithOp) general(dst, x, y []float32) {
	r := len(op.out)
	last := op.out[r-1]
	rows := len(dst) / last
	var idx [maxArithRank]int
	xo, yo := 0, 0
	for row := range rows {
		arithLoop(op.op, dst[row*last:(row+1)*last], x[xo:], y[yo:], op.sx[r-1], op.sy[r-1])
		for k := r - 2; k >= 0; k-- {
			idx[k]++
			xo += op.sx[k]
			yo += op.sy[k]
			if idx[k] < op.out[k] {
				break
			}
			xo -= op.sx[k] * op.out[k]
			yo -= op.sy[k] * op.out[k]
			idx[k] = 0
		}
	}
}

// maxArithRank bounds the rank arithOp takes (others run as kernels).
const maxArithRank = 8

// arithLoop sets dst[i] = x[i*sx] op y[i*sy], with sx, sy in {0, 1}.
func arithLoop(op byte, dst, x, y []float32, sx, sy int) {
	n := len(dst)
	switch {
	case sx == 1 && sy == 1:
		x, y = x[:n], y[:n]
		switch op {
		case '+':
			for i := range dst {
				dst[i] = x[i] + y[i]
			}
		case '-':
			for i := range dst {
				dst[i] = x[i] - y[i]
			}
		case '*':
			for i := range dst {
				dst[i] = x[i] * y[i]
			}
		default:
			for i := range dst {
				dst[i] = x[i] / y[i]
			}
		}
	case sx == 1:
		x = x[:n]
		b := y[0]
		switch op {
		case '+':
			for i := range dst {
				dst[i] = x[i] + b
			}
		case '-':
			for i := range dst {
				dst[i] = x[i] - b
			}
		case '*':
			for i := range dst {
				dst[i] = x[i] * b
			}
		default:
			for i := range dst {
				dst[i] = x[i] / b
			}
		}
	case sy == 1:
		y = y[:n]
		a := x[0]
		switch op {
		case '+':
			for i := range dst {
				dst[i] = a + y[i]
			}
		case '-':
			for i := range dst {
				dst[i] = a - y[i]
			}
		case '*':
			for i := range dst {
				dst[i] = a * y[i]
			}
		default:
			for i := range dst {
				dst[i] = a / y[i]
			}
		}
	default:
		var v float32
		switch a, b := x[0], y[0]; op {
		case '+':
			v = a + b
		case '-':
			v = a - b
		case '*':
			v = a * b
		default:
			v = a / b
		}
		for i := range dst {
			dst[i] = v
		}
	}
}

// f32Data returns the FP32 data of a Dense or scalar value holding n
// values.
func f32Data(v G.Value, n int, op string) ([]float32, error) {
	switch d := v.(type) {
	case *tensor.Dense:
		data, ok := d.Data().([]float32)
		if !ok || d.RequiresIterator() {
			return nil, fmt.Errorf("%s: operand is not contiguous FP32", op)
		}
		if len(data) != n {
			return nil, fmt.Errorf("%s: operand of %d values, want %d", op, len(data), n)
		}
		return data, nil
	case *G.F32:
		if n != 1 {
			return nil, fmt.Errorf("%s: scalar operand, want %d values", op, n)
		}
		return []float32{float32(*d)}, nil
	}
	return nil, fmt.Errorf("%s: operand is %T", op, v)
}
