package onnx

import (
	"math"
	"slices"
)

// Elementwise ops as kernels: binary and variadic arithmetic with numpy
// broadcasting, comparisons, logic, Where, Cast (unary ops and Clip are in
// ops_unary.go; FP32 Add/Sub/Mul/Div of run-time tensors in ops_arith.go).

func register(specs map[string]opSpec) {
	for k, v := range specs {
		opTable[k] = v
	}
}

func init() {
	u := func(attrs ...string) opSpec {
		return opSpec{fn: opUnaryK, attrs: attrs, minIn: 1, maxIn: 1, maxOut: 1}
	}
	specs := map[string]opSpec{}
	for name := range unaryFns {
		specs[name] = u()
	}
	for name, attrs := range map[string][]string{
		"LeakyRelu": {"alpha"}, "Elu": {"alpha"}, "Selu": {"alpha", "gamma"}, "Celu": {"alpha"},
		"HardSigmoid": {"alpha", "beta"}, "ThresholdedRelu": {"alpha"}, "Shrink": {"bias", "lambd"},
		"IsInf": {"detect_negative", "detect_positive"},
	} {
		specs[name] = u(attrs...)
	}
	b2 := opSpec{fn: opBinaryK, minIn: 2, maxIn: 2, maxOut: 1}
	for _, name := range []string{"Pow", "And", "Or", "Xor", "Equal", "Greater", "Less",
		"GreaterOrEqual", "LessOrEqual", "PRelu"} {
		specs[name] = b2
	}
	specs["Mod"] = opSpec{fn: opBinaryK, attrs: []string{"fmod"}, minIn: 2, maxIn: 2, maxOut: 1}
	specs["BitShift"] = opSpec{fn: opBinaryK, attrs: []string{"direction"}, minIn: 2, maxIn: 2, maxOut: 1}
	for _, name := range []string{"Min", "Max", "Sum", "Mean"} {
		specs[name] = opSpec{fn: opVariadic, minIn: 1, maxIn: -1, maxOut: 1}
	}
	specs["Where"] = opSpec{fn: opWhere, minIn: 3, maxIn: 3, maxOut: 1}
	specs["Clip"] = opSpec{fn: opClip, attrs: []string{"min", "max"}, minIn: 1, maxIn: 3, maxOut: 1}
	specs["CastLike"] = opSpec{fn: opCastLike, attrs: []string{"saturate"}, minIn: 2, maxIn: 2, maxOut: 1}
	register(specs)
}

// broadcastN is numpy's multidirectional broadcast of several shapes.
func broadcastN(shapes ...[]int) ([]int, error) {
	out := []int{}
	for _, s := range shapes {
		var err error
		if out, err = broadcastShape(out, s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// srcMaps returns, for each input shape, the index of its element under
// each element of out (nil when the shape is out itself).
func srcMaps(shapes [][]int, out []int) [][]int {
	maps := make([][]int, len(shapes))
	for i, s := range shapes {
		if !slices.Equal(s, out) {
			maps[i] = broadcastIndex(s, out)
		}
	}
	return maps
}

func at(m []int, k int) int {
	if m == nil {
		return k
	}
	return m[k]
}

// broadcastOp emits an elementwise op over inputs of a common type with
// broadcasting. fn computes element k of out from the source indices.
func (b *builder) broadcastOp(name string, in []*value, outDT int32, fn func(out *constT, k int, xs []*constT, src []int)) ([]*value, error) {
	shapes := make([][]int, len(in))
	for i, v := range in {
		shapes[i] = v.shape()
	}
	shape, err := broadcastN(shapes...)
	if err != nil {
		return nil, err
	}
	if _, err := checkedSize(int64s(shape), maxConstElems); err != nil {
		return nil, err
	}
	var maps [][]int
	return b.emit1(name, in, outSpec{outDT, shape}, func(xs []*constT) (*constT, error) {
		if maps == nil {
			maps = srcMaps(shapes, shape)
		}
		out := newConst(outDT, shape)
		src := make([]int, len(xs))
		for k := range out.size() {
			for i := range xs {
				src[i] = at(maps[i], k)
			}
			fn(out, k, xs, src)
		}
		return out, nil
	})
}

func sameTypes(in []*value) (int32, error) {
	dt := in[0].dtype()
	for _, v := range in[1:] {
		if v.dtype() != dt {
			return 0, invalid("operands are %s and %s", dtypeName(dt), dtypeName(v.dtype()))
		}
	}
	if !runnable(dt) {
		return 0, unsupported("type %s is not supported", dtypeName(dt))
	}
	return dt, nil
}

// arith2 are the float and integer forms of the binary arithmetic ops.
var arith2 = map[string]struct {
	f func(a, b float64) float64
	i func(a, b int64) int64
}{
	"Add": {func(a, b float64) float64 { return a + b }, func(a, b int64) int64 { return a + b }},
	"Sub": {func(a, b float64) float64 { return a - b }, func(a, b int64) int64 { return a - b }},
	"Mul": {func(a, b float64) float64 { return a * b }, func(a, b int64) int64 { return a * b }},
	"Div": {func(a, b float64) float64 { return a / b }, func(a, b int64) int64 {
		if b == 0 {
			return 0
		}
		return a / b
	}},
	"Max": {math.Max, func(a, b int64) int64 { return max(a, b) }},
	"Min": {math.Min, func(a, b int64) int64 { return min(a, b) }},
	"Sum": {func(a, b float64) float64 { return a + b }, func(a, b int64) int64 { return a + b }},
}

var compare2 = map[string]func(a, b float64) bool{
	"Equal":          func(a, b float64) bool { return a == b },
	"Greater":        func(a, b float64) bool { return a > b },
	"Less":           func(a, b float64) bool { return a < b },
	"GreaterOrEqual": func(a, b float64) bool { return a >= b },
	"LessOrEqual":    func(a, b float64) bool { return a <= b },
}

// arithK emits Add, Sub, Mul or Div of any one type.
func (b *builder) arithK(op string, x, y *value) ([]*value, error) {
	dt, err := sameTypes([]*value{x, y})
	if err != nil {
		return nil, err
	}
	fns := arith2[op]
	return b.broadcastOp(op, []*value{x, y}, dt, func(out *constT, k int, xs []*constT, s []int) {
		switch out.dt {
		case dtFloat:
			out.f[k] = float32(fns.f(float64(xs[0].f[s[0]]), float64(xs[1].f[s[1]])))
		case dtDouble:
			out.d[k] = fns.f(xs[0].d[s[0]], xs[1].d[s[1]])
		default:
			out.i[k] = castInt(fns.i(xs[0].i[s[0]], xs[1].i[s[1]]), out.dt)
		}
	})
}

func opBinaryK(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x, y := in[0], in[1]
	op := n.opType
	if cmp, ok := compare2[op]; ok {
		if _, err := sameTypes(in); err != nil {
			return nil, err
		}
		return b.broadcastOp(op, in, dtBool, func(out *constT, k int, xs []*constT, s []int) {
			if xs[0].i != nil {
				a, b := xs[0].i[s[0]], xs[1].i[s[1]]
				out.i[k] = b2i(cmp(float64(cmpInt(a, b)), 0))
				return
			}
			out.i[k] = b2i(cmp(xs[0].num(s[0]), xs[1].num(s[1])))
		})
	}
	switch op {
	case "And", "Or", "Xor":
		if x.dtype() != dtBool || y.dtype() != dtBool {
			return nil, invalid("operands are %s and %s, want BOOL", dtypeName(x.dtype()), dtypeName(y.dtype()))
		}
		return b.broadcastOp(op, in, dtBool, func(out *constT, k int, xs []*constT, s []int) {
			p, q := xs[0].i[s[0]] != 0, xs[1].i[s[1]] != 0
			switch op {
			case "And":
				out.i[k] = b2i(p && q)
			case "Or":
				out.i[k] = b2i(p || q)
			default:
				out.i[k] = b2i(p != q)
			}
		})
	case "Pow":
		dt := x.dtype()
		if !runnable(dt) || !runnable(y.dtype()) {
			return nil, unsupported("Pow of %s by %s is not supported", dtypeName(dt), dtypeName(y.dtype()))
		}
		return b.broadcastOp(op, in, dt, func(out *constT, k int, xs []*constT, s []int) {
			if isIntType(dt) && isIntType(xs[1].dt) {
				out.i[k] = castInt(ipow(xs[0].i[s[0]], xs[1].i[s[1]]), dt)
				return
			}
			out.setNum(k, math.Pow(xs[0].num(s[0]), xs[1].num(s[1])))
		})
	case "Mod":
		fmod, err := a.int("fmod", 0)
		if err != nil {
			return nil, err
		}
		dt, err := sameTypes(in)
		if err != nil {
			return nil, err
		}
		if isFloatType(dt) && fmod == 0 {
			return nil, invalid("Mod of floats needs fmod=1")
		}
		return b.broadcastOp(op, in, dt, func(out *constT, k int, xs []*constT, s []int) {
			if isFloatType(dt) {
				out.setNum(k, math.Mod(xs[0].num(s[0]), xs[1].num(s[1])))
				return
			}
			p, q := xs[0].i[s[0]], xs[1].i[s[1]]
			if q == 0 {
				out.i[k] = 0
				return
			}
			r := p % q
			if fmod == 0 && r != 0 && (r < 0) != (q < 0) {
				r += q
			}
			out.i[k] = castInt(r, dt)
		})
	case "BitShift":
		dir, err := a.str("direction", "")
		if err != nil {
			return nil, err
		}
		if dir != "LEFT" && dir != "RIGHT" {
			return nil, invalid("direction=%q, want LEFT or RIGHT", dir)
		}
		dt, err := sameTypes(in)
		if err != nil {
			return nil, err
		}
		if !isIntType(dt) {
			return nil, invalid("BitShift of %s", dtypeName(dt))
		}
		return b.broadcastOp(op, in, dt, func(out *constT, k int, xs []*constT, s []int) {
			v, sh := uint64(xs[0].i[s[0]]), uint64(xs[1].i[s[1]])
			if dir == "LEFT" {
				v <<= sh
			} else {
				v >>= sh
			}
			out.i[k] = castInt(int64(v), dt)
		})
	case "PRelu":
		dt, err := sameTypes(in)
		if err != nil {
			return nil, err
		}
		ys := y.shape()
		xs := x.shape()
		// Before opset 7 (and in PyTorch exports) the slope may have the
		// channel shape; align it with axis 1.
		if len(ys) == 1 && len(xs) > 2 && ys[0] == xs[1] && ys[0] != xs[len(xs)-1] {
			shape := append([]int{ys[0]}, slices.Repeat([]int{1}, len(xs)-2)...)
			r, err := b.reshapeValue(y, shape)
			if err != nil {
				return nil, err
			}
			in = []*value{x, r[0]}
		}
		return b.broadcastOp(op, in, dt, func(out *constT, k int, xs []*constT, s []int) {
			v := xs[0].num(s[0])
			if v < 0 {
				v *= xs[1].num(s[1])
			}
			out.setNum(k, v)
		})
	}
	return nil, unsupported("op %s is not supported", op)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ipow(a, e int64) int64 {
	if e < 0 {
		if a == 1 {
			return 1
		}
		return 0
	}
	r := int64(1)
	for ; e > 0; e-- {
		r *= a
	}
	return r
}

func opVariadic(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	for k, v := range in {
		if v == nil {
			return nil, invalid("input %d is missing", k)
		}
	}
	dt, err := sameTypes(in)
	if err != nil {
		return nil, err
	}
	op := n.opType
	fns := arith2[op]
	if op == "Mean" {
		fns = arith2["Sum"]
		if !isFloatType(dt) {
			return nil, invalid("Mean of %s", dtypeName(dt))
		}
	}
	count := float64(len(in))
	return b.broadcastOp(op, in, dt, func(out *constT, k int, xs []*constT, s []int) {
		if isIntType(dt) {
			acc := xs[0].i[s[0]]
			for j := 1; j < len(xs); j++ {
				acc = fns.i(acc, xs[j].i[s[j]])
			}
			out.i[k] = castInt(acc, dt)
			return
		}
		acc := xs[0].num(s[0])
		for j := 1; j < len(xs); j++ {
			v := xs[j].num(s[j])
			if v != v {
				acc = v // NaN propagates through Min and Max too
				continue
			}
			if acc == acc {
				acc = fns.f(acc, v)
			}
		}
		if op == "Mean" {
			acc /= count
		}
		out.setNum(k, acc)
	})
}

func opWhere(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	if in[0].dtype() != dtBool {
		return nil, invalid("condition is %s, want BOOL", dtypeName(in[0].dtype()))
	}
	dt, err := sameTypes(in[1:])
	if err != nil {
		return nil, err
	}
	return b.broadcastOp("Where", in, dt, func(out *constT, k int, xs []*constT, s []int) {
		if xs[0].i[s[0]] != 0 {
			out.copyElem(k, xs[1], s[1])
		} else {
			out.copyElem(k, xs[2], s[2])
		}
	})
}

// castK emits a cast of x to type to.
func (b *builder) castK(x *value, to int32) ([]*value, error) {
	if !runnable(to) {
		return nil, unsupported("cast to %s is not supported", dtypeName(to))
	}
	from := x.dtype()
	if !runnable(from) {
		return nil, unsupported("cast from %s is not supported", dtypeName(from))
	}
	if from == to {
		v := *x
		return []*value{&v}, nil
	}
	shape := x.shape()
	return b.emit1("Cast", []*value{x}, outSpec{to, shape}, func(in []*constT) (*constT, error) {
		x := in[0]
		out := newConst(to, shape)
		switch {
		case isIntType(from) && isIntType(to):
			for k, v := range x.i {
				out.i[k] = castInt(v, to)
			}
		case isIntType(from):
			for k, v := range x.i {
				out.setNum(k, float64(v))
			}
		default:
			for k := range out.size() {
				v := x.num(k)
				if isIntType(to) && to != dtBool {
					switch {
					case v != v || math.IsInf(v, 0):
						v = math.MinInt64
					case v >= math.MaxInt64 || v <= math.MinInt64:
						v = math.MinInt64
					}
					out.i[k] = castInt(int64(v), to)
					continue
				}
				out.setNum(k, v)
			}
		}
		return out, nil
	})
}

func opCastLike(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	return b.castK(in[0], in[1].dtype())
}
