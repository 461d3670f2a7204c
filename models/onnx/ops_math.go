package onnx

import (
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Dense and elementwise ops: Gemm, MatMul, Add/Sub/Mul/Div, Relu, Sigmoid,
// Tanh, Softmax.

func opGemm(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	alpha, err := a.float("alpha", 1)
	if err != nil {
		return nil, err
	}
	beta, err := a.float("beta", 1)
	if err != nil {
		return nil, err
	}
	transA, err := a.int("transA", 0)
	if err != nil {
		return nil, err
	}
	transB, err := a.int("transB", 0)
	if err != nil {
		return nil, err
	}
	if (transA != 0 && transA != 1) || (transB != 0 && transB != 1) {
		return nil, invalid("transA=%d, transB=%d: want 0 or 1", transA, transB)
	}
	A, B := in[0], in[1]
	sa, sb := A.shape(), B.shape()
	if len(sa) != 2 || len(sb) != 2 {
		return nil, invalid("A %v and B %v must be matrices", sa, sb)
	}
	M, K := sa[0], sa[1]
	if transA == 1 {
		M, K = K, M
	}
	K2, N := sb[0], sb[1]
	if transB == 1 {
		K2, N = N, K2
	}
	if K != K2 {
		return nil, invalid("A %v (transA=%d) and B %v (transB=%d) do not multiply", sa, transA, sb, transB)
	}
	an, err := b.matrixOperand(A, transA == 1, 1, "A")
	if err != nil {
		return nil, err
	}
	// A constant B is transposed and scaled by alpha once, at compile time.
	scale := float32(1)
	if B.isConst() {
		scale = alpha
	}
	bn, err := b.matrixOperand(B, transB == 1, scale, "B")
	if err != nil {
		return nil, err
	}
	y, err := matMul(an, bn)
	if err != nil {
		return nil, err
	}
	if alpha != 1 && !B.isConst() {
		if y, err = G.HadamardProd(y, G.NewConstant(alpha)); err != nil {
			return nil, err
		}
	}
	if len(in) < 3 || in[2] == nil || beta == 0 {
		return nodeOut(y), nil
	}
	C := in[2]
	sc := C.shape()
	if len(sc) > 2 {
		return nil, invalid("C %v has more than 2 dimensions", sc)
	}
	out := []int{M, N}
	if bs, err := broadcastShape(sc, out); err != nil || !slices.Equal(bs, out) {
		return nil, invalid("C %v does not broadcast to %v", sc, out)
	}
	if C.isConst() {
		if !C.c.isFloat() {
			return nil, invalid("C is %s, want FP32", dtypeName(C.c.dt))
		}
		c := C.c
		if shapeSize(sc) == N && (len(sc) == 1 || sc[0] == 1) && N > 1 {
			// The usual bias: one value per column.
			bias, err := b.prepare(fmtKey("gemmC:", C.name, ":", beta), c.static, func() (*prepared, error) {
				return &prepared{shape: []int{N}, data: scaled(c.f, beta)}, nil
			})
			if err != nil {
				return nil, err
			}
			y, err = G.ApplyOp(biasAddOp{axis: 1, dims: 2}, y, bias)
			if err != nil {
				return nil, err
			}
			return nodeOut(y), nil
		}
		if beta != 1 {
			C = &value{name: fmtKey(C.name, "*", beta), c: &constT{dt: dtFloat, shape: sc, f: scaled(c.f, beta), static: c.static}}
		}
	} else if beta != 1 {
		cn, err := G.HadamardProd(C.n, G.NewConstant(beta))
		if err != nil {
			return nil, err
		}
		C = &value{n: cn}
	}
	v, err := b.binary("Add", &value{n: y}, C)
	if err != nil {
		return nil, err
	}
	return []*value{v}, nil
}

// matrixOperand returns the node of a matrix operand of Gemm or MatMul,
// transposed if trans. A constant is prepared (transposed and scaled) once; a
// run-time tensor is transposed in the graph (scale must then be 1).
func (b *builder) matrixOperand(v *value, trans bool, scale float32, what string) (*G.Node, error) {
	if !v.isConst() {
		if !trans {
			return v.n, nil
		}
		return G.Transpose(v.n, 1, 0)
	}
	c := v.c
	if !c.isFloat() {
		return nil, invalid("%s is %s, want FP32", what, dtypeName(c.dt))
	}
	if !trans && scale == 1 {
		return b.weight(v, what)
	}
	return b.prepare(fmtKey("matrix:", v.name, ":", trans, ":", scale), c.static, func() (*prepared, error) {
		rows, cols := c.shape[0], c.shape[1]
		data, shape := c.f, []int{rows, cols}
		if trans {
			data, shape = transposed2D(data, rows, cols), []int{cols, rows}
		}
		return &prepared{shape: shape, data: scaled(data, scale)}, nil
	})
}

func opMatMul(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	A, B := in[0], in[1]
	sa, sb := A.shape(), B.shape()
	if len(sa) < 2 || len(sb) != 2 {
		return nil, unsupported("MatMul of %v by %v is not supported (A of rank >= 2, B a matrix)", sa, sb)
	}
	K, N := sb[0], sb[1]
	if sa[len(sa)-1] != K {
		return nil, invalid("%v and %v do not multiply", sa, sb)
	}
	an, err := b.tensor(A, "A")
	if err != nil {
		return nil, err
	}
	if len(sa) > 2 {
		if A.isConst() {
			return nil, unsupported("MatMul of a constant of rank %d is not supported", len(sa))
		}
		if an, err = G.Reshape(an, tensor.Shape{shapeSize(sa[:len(sa)-1]), K}); err != nil {
			return nil, err
		}
	}
	bn, err := b.matrixOperand(B, false, 1, "B")
	if err != nil {
		return nil, err
	}
	y, err := matMul(an, bn)
	if err != nil {
		return nil, err
	}
	if len(sa) > 2 {
		shape := append(slices.Clone(sa[:len(sa)-1]), N)
		if y, err = G.Reshape(y, shape); err != nil {
			return nil, err
		}
	}
	return nodeOut(y), nil
}

func opBinary(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	v, err := b.binary(n.opType, in[0], in[1])
	if err != nil {
		return nil, err
	}
	return []*value{v}, nil
}

// binary builds Add, Sub, Mul or Div with numpy broadcasting (rank <= 4).
func (b *builder) binary(op string, x, y *value) (*value, error) {
	if x.isConst() && y.isConst() {
		c, err := constBinary(op, x.c, y.c)
		if err != nil {
			return nil, err
		}
		return &value{c: c}, nil
	}
	for _, v := range []*value{x, y} {
		if v.isConst() && !v.c.isFloat() {
			return nil, invalid("operand is %s; the other is a run-time FP32 tensor", dtypeName(v.c.dt))
		}
	}
	out, err := broadcastShape(x.shape(), y.shape())
	if err != nil {
		return nil, err
	}
	if len(out) > 4 {
		return nil, unsupported("broadcasting at rank %d is not supported (at most 4)", len(out))
	}
	nx, err := b.operand(x, out)
	if err != nil {
		return nil, err
	}
	ny, err := b.operand(y, out)
	if err != nil {
		return nil, err
	}
	var left, right []byte
	if !nx.IsScalar() && !ny.IsScalar() {
		sx, sy := nx.Shape(), ny.Shape()
		for k := range out {
			if sx[k] == 1 && out[k] != 1 {
				left = append(left, byte(k))
			}
			if sy[k] == 1 && out[k] != 1 {
				right = append(right, byte(k))
			}
		}
	}
	var r *G.Node
	bc := len(left) > 0 || len(right) > 0
	switch op {
	case "Add":
		if bc {
			r, err = G.BroadcastAdd(nx, ny, left, right)
		} else {
			r, err = G.Add(nx, ny)
		}
	case "Sub":
		if bc {
			r, err = G.BroadcastSub(nx, ny, left, right)
		} else {
			r, err = G.Sub(nx, ny)
		}
	case "Mul":
		if bc {
			r, err = G.BroadcastHadamardProd(nx, ny, left, right)
		} else {
			r, err = G.HadamardProd(nx, ny)
		}
	case "Div":
		if bc {
			r, err = G.BroadcastHadamardDiv(nx, ny, left, right)
		} else {
			r, err = G.HadamardDiv(nx, ny)
		}
	default:
		return nil, unsupported("elementwise op %s is not supported", op)
	}
	if err != nil {
		return nil, err
	}
	if !slices.Equal(r.Shape(), out) && len(out) > 0 {
		return nil, internal("broadcast of %v and %v gave %v, want %v", x.shape(), y.shape(), r.Shape(), out)
	}
	return &value{n: r}, nil
}

// operand returns v's node for an elementwise op whose result has shape out:
// a one-element constant becomes a scalar, anything else is given out's rank
// (a constant by preparing it in that shape, a run-time tensor by Reshape).
func (b *builder) operand(v *value, out []int) (*G.Node, error) {
	s := v.shape()
	if v.isConst() && v.c.size() == 1 {
		return b.prepare(fmtKey("scalar:", v.name), v.c.static, func() (*prepared, error) {
			return &prepared{shape: nil, data: v.c.f}, nil
		})
	}
	if len(s) == len(out) {
		return b.tensor(v, "operand")
	}
	padded := append(make([]int, len(out)-len(s)), s...)
	for k := range len(out) - len(s) {
		padded[k] = 1
	}
	if v.isConst() {
		return b.prepare(fmtKey("rank", len(out), ":", v.name), v.c.static, func() (*prepared, error) {
			return &prepared{shape: padded, data: v.c.f}, nil
		})
	}
	return G.Reshape(v.n, tensor.Shape(padded))
}

// unaryInput returns the node of x (a weight if x is constant).
func (b *builder) unaryInput(x *value) (*G.Node, error) { return b.tensor(x, "input") }

func opUnary(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	xn, err := b.unaryInput(in[0])
	if err != nil {
		return nil, err
	}
	var y *G.Node
	switch n.opType {
	case "Relu":
		y, err = G.Rectify(xn)
	case "Sigmoid":
		y, err = G.Sigmoid(xn)
	case "Tanh":
		y, err = G.Tanh(xn)
	default:
		return nil, unsupported("op %s is not supported", n.opType)
	}
	if err != nil {
		return nil, err
	}
	return nodeOut(y), nil
}

func opSoftmax(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	shape := in[0].shape()
	if len(shape) == 0 {
		return nil, invalid("input is a scalar")
	}
	def := int64(-1)
	if b.c.opset < 13 {
		def = 1
	}
	axis64, err := a.int("axis", def)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(axis64, len(shape))
	if err != nil {
		return nil, err
	}
	xn, err := b.unaryInput(in[0])
	if err != nil {
		return nil, err
	}
	if b.c.opset >= 13 {
		// One axis. gorgonia's softmax works on any axis of the tensor.
		y, err := G.SoftMax(xn, axis)
		if err != nil {
			return nil, err
		}
		return nodeOut(y), nil
	}
	// Before opset 13: the input is coerced to 2-D at axis.
	flat := tensor.Shape{shapeSize(shape[:axis]), shapeSize(shape[axis:])}
	if xn, err = G.Reshape(xn, flat); err != nil {
		return nil, err
	}
	y, err := G.SoftMax(xn, 1)
	if err != nil {
		return nil, err
	}
	if y, err = G.Reshape(y, tensor.Shape(slices.Clone(shape))); err != nil {
		return nil, err
	}
	return nodeOut(y), nil
}
