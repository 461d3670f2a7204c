package onnx

import (
	"slices"

	aops "github.com/gannet-ml/gannet/accel/ops"

	"gonum.org/v1/gonum/blas"

	G "gorgonia.org/gorgonia"
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
	var C *value
	if len(in) > 2 && in[2] != nil && beta != 0 {
		C = in[2]
		sc := C.shape()
		if bs, err := broadcastShape(sc, []int{M, N}); err != nil || len(sc) > 2 || !slices.Equal(bs, []int{M, N}) {
			return nil, invalid("C %v does not broadcast to %v", sc, []int{M, N})
		}
	}
	at := aops.GemmAttrs{TransA: transA == 1, TransB: transB == 1, Alpha: alpha, Beta: beta}
	if vs, ok, err := b.gemmFast(A, B, C, at); ok || err != nil {
		return vs, err
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
	Y := &value{n: y, shp: []int{M, N}}
	if alpha != 1 && !B.isConst() {
		if Y, err = b.binary("Mul", Y, scalarF32(alpha)); err != nil {
			return nil, err
		}
	}
	if C == nil {
		return []*value{Y}, nil
	}
	sc := C.shape()
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
			v, err := b.binary("Add", Y, &value{n: bias, shp: []int{N}})
			if err != nil {
				return nil, err
			}
			return []*value{v}, nil
		}
		if beta != 1 {
			C = &value{name: fmtKey(C.name, "*", beta), c: &constT{dt: dtFloat, shape: sc, f: scaled(c.f, beta), static: c.static}}
		}
	} else if beta != 1 {
		if C, err = b.binary("Mul", C, scalarF32(beta)); err != nil {
			return nil, err
		}
	}
	v, err := b.binary("Add", Y, C)
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
	if len(sa) == 2 {
		if vs, ok, err := b.gemmFast(A, B, nil, aops.GemmAttrs{Alpha: 1, Beta: 1}); ok || err != nil {
			return vs, err
		}
	}
	an, err := b.tensor(A, "A")
	if err != nil {
		return nil, err
	}
	if len(sa) > 2 {
		if A.isConst() {
			return nil, unsupported("MatMul of a constant of rank %d is not supported", len(sa))
		}
		if an, err = reshapeNode(an, dtFloat, []int{shapeSize(sa[:len(sa)-1]), K}); err != nil {
			return nil, err
		}
	}
	bn, err := b.matrixOperand(B, false, 1, "B")
	if err != nil {
		return nil, err
	}
	y, err := aops.Gemm(an, bn, nil, aops.GemmAttrs{Alpha: 1, Beta: 1, ConstB: B.isConst()})
	if err != nil {
		return nil, err
	}
	if len(sa) > 2 {
		shape := append(slices.Clone(sa[:len(sa)-1]), N)
		if y, err = reshapeNode(y, dtFloat, shape); err != nil {
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

// binary builds Add, Sub, Mul or Div with numpy broadcasting: FP32 with a
// run-time operand as an arithOp (or accel's residual Add for two run-time
// tensors of one shape), the rest (constants, other types, scalars, high
// ranks) as kernels.
func (b *builder) binary(op string, x, y *value) (*value, error) {
	out, err := broadcastShape(x.shape(), y.shape())
	if err != nil {
		return nil, err
	}
	sym := map[string]byte{"Add": '+', "Sub": '-', "Mul": '*', "Div": '/'}[op]
	if sym == 0 {
		return nil, unsupported("elementwise op %s is not supported", op)
	}
	fast := x.dtype() == dtFloat && y.dtype() == dtFloat && !(x.isConst() && y.isConst()) &&
		len(out) >= 1 && len(out) <= maxArithRank
	if !fast {
		vs, err := b.arithK(op, x, y)
		if err != nil {
			return nil, err
		}
		return vs[0], nil
	}
	if v, ok, err := b.residualAdd(op, x, y, out); ok || err != nil {
		return v, err
	}
	nx, err := b.arithOperand(x)
	if err != nil {
		return nil, err
	}
	ny, err := b.arithOperand(y)
	if err != nil {
		return nil, err
	}
	r, err := arith(sym, nx, ny, x.shape(), y.shape(), out)
	if err != nil {
		return nil, err
	}
	return &value{n: r, shp: nonNil(out)}, nil
}

// arithOperand returns v's node for an arithOp: a constant as a weight of
// at least one dimension, a run-time tensor as it is.
func (b *builder) arithOperand(v *value) (*G.Node, error) {
	if !v.isConst() {
		return v.n, nil
	}
	if !v.c.isFloat() {
		return nil, invalid("operand is %s, want FP32", dtypeName(v.c.dt))
	}
	shape := v.c.shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	return b.prepare(fmtKey("arith:", v.name, shape), v.c.static, func() (*prepared, error) {
		return &prepared{shape: shape, data: v.c.f}, nil
	})
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

// scalarF32 is an FP32 scalar constant.
func scalarF32(v float32) *value {
	return &value{name: fmtKey("scalar:", v), c: &constT{dt: dtFloat, shape: []int{}, f: []float32{v}, static: true}}
}
