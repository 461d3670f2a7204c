package onnx

import (
	"slices"

	"gonum.org/v1/gonum/blas"

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
	if len(sa) < 2 || len(sb) != 2 || A.isConst() || A.dtype() != dtFloat || B.dtype() != dtFloat {
		return b.matMulK(A, B)
	}
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
	y, err := legacyBroadcast(b, a, in[0], in[1])
	if err != nil {
		return nil, err
	}
	v, err := b.binary(n.opType, in[0], y)
	if err != nil {
		return nil, err
	}
	return []*value{v}, nil
}

// binary builds Add, Sub, Mul or Div with numpy broadcasting (rank <= 4).
func (b *builder) binary(op string, x, y *value) (*value, error) {
	out, err := broadcastShape(x.shape(), y.shape())
	if err != nil {
		return nil, err
	}
	// gorgonia's own ops take FP32 run-time tensors of rank 1 to 4; the
	// rest (constants, other types, scalars, higher ranks) run as kernels.
	gorgonia := x.dtype() == dtFloat && y.dtype() == dtFloat && !(x.isConst() && y.isConst()) &&
		len(out) >= 1 && len(out) <= 4 && (x.isConst() || len(x.shape()) > 0) && (y.isConst() || len(y.shape()) > 0)
	if !gorgonia {
		vs, err := b.arithK(op, x, y)
		if err != nil {
			return nil, err
		}
		return vs[0], nil
	}
	nx, err := b.operand(x, out)
	if err != nil {
		return nil, err
	}
	ny, err := b.operand(y, out)
	if err != nil {
		return nil, err
	}
	if (!nx.IsScalar() && len(nx.Shape()) != len(out)) || (!ny.IsScalar() && len(ny.Shape()) != len(out)) {
		vs, err := b.arithK(op, x, y)
		if err != nil {
			return nil, err
		}
		return vs[0], nil
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

// legacyBroadcast applies the broadcast and axis attributes of the binary
// ops before opset 7: with broadcast=1, y's dimensions line up with x's
// from axis (default: the trailing ones).
func legacyBroadcast(b *builder, a *attrs, x, y *value) (*value, error) {
	bc, err := a.int("broadcast", 0)
	if err != nil {
		return nil, err
	}
	if b.c.opset >= 7 {
		if len(a.byName) > 0 {
			return nil, invalid("broadcast and axis are attributes before opset 7 only")
		}
		return y, nil
	}
	xs, ys := x.shape(), y.shape()
	if bc == 0 || !a.has("axis") || len(ys) == 0 {
		return y, nil
	}
	ax, err := a.int("axis", 0)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(ax, len(xs))
	if err != nil {
		return nil, err
	}
	if axis+len(ys) > len(xs) {
		return nil, invalid("axis %d does not fit shapes %v and %v", ax, xs, ys)
	}
	shape := append(slices.Clone(ys), slices.Repeat([]int{1}, len(xs)-axis-len(ys))...)
	vs, err := b.reshapeValue(y, shape)
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// matMulK emits numpy's matmul (batched, broadcasting, 1-D operands
// promoted) of any float or integer type as a kernel.
func (b *builder) matMulK(A, B *value) ([]*value, error) {
	dt, err := sameTypes([]*value{A, B})
	if err != nil {
		return nil, err
	}
	if dt == dtBool {
		return nil, invalid("MatMul of BOOL")
	}
	sa, sb := slices.Clone(A.shape()), slices.Clone(B.shape())
	if len(sa) == 0 || len(sb) == 0 {
		return nil, invalid("MatMul of a scalar")
	}
	va, vb := len(sa) == 1, len(sb) == 1
	if va {
		sa = []int{1, sa[0]}
	}
	if vb {
		sb = []int{sb[0], 1}
	}
	M, K, K2, N := sa[len(sa)-2], sa[len(sa)-1], sb[len(sb)-2], sb[len(sb)-1]
	if K != K2 {
		return nil, invalid("%v and %v do not multiply", A.shape(), B.shape())
	}
	batch, err := broadcastShape(sa[:len(sa)-2], sb[:len(sb)-2])
	if err != nil {
		return nil, err
	}
	out := slices.Clone(batch)
	if !va {
		out = append(out, M)
	}
	if !vb {
		out = append(out, N)
	}
	ba, bb := broadcastIndex(sa[:len(sa)-2], batch), broadcastIndex(sb[:len(sb)-2], batch)
	return b.emit1("MatMul", []*value{A, B}, outSpec{dt, out}, func(v []*constT) (*constT, error) {
		x, y := v[0], v[1]
		res := newConst(dt, out)
		for bi := range shapeSize(batch) {
			xo, yo, ro := ba[bi]*M*K, bb[bi]*K*N, bi*M*N
			if dt == dtFloat && M*N*K > 0 {
				G.WhichBLAS().Sgemm(blas.NoTrans, blas.NoTrans, M, N, K, 1, x.f[xo:xo+M*K], K, y.f[yo:yo+K*N], N, 0, res.f[ro:ro+M*N], N)
				continue
			}
			for i := range M {
				for j := range N {
					if isIntType(dt) {
						var acc int64
						for k := range K {
							acc += x.i[xo+i*K+k] * y.i[yo+k*N+j]
						}
						res.i[ro+i*N+j] = castInt(acc, dt)
						continue
					}
					acc := 0.0
					for k := range K {
						acc += x.num(xo+i*K+k) * y.num(yo+k*N+j)
					}
					res.setNum(ro+i*N+j, acc)
				}
			}
		}
		return res, nil
	})
}
