package onnx

import (
	"math"
	"slices"
)

// Reductions, ArgMax/ArgMin, the softmax family and CumSum.

func init() {
	red := []string{"axes", "keepdims", "noop_with_empty_axes"}
	specs := map[string]opSpec{}
	for name := range reducers {
		specs[name] = opSpec{fn: opReduce, attrs: red, minIn: 1, maxIn: 2, maxOut: 1}
	}
	arg := []string{"axis", "keepdims", "select_last_index"}
	specs["ArgMax"] = opSpec{fn: opArg, attrs: arg, minIn: 1, maxIn: 1, maxOut: 1}
	specs["ArgMin"] = opSpec{fn: opArg, attrs: arg, minIn: 1, maxIn: 1, maxOut: 1}
	for _, name := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		specs[name] = opSpec{fn: opSoftmaxK, attrs: []string{"axis"}, minIn: 1, maxIn: 1, maxOut: 1}
	}
	specs["CumSum"] = opSpec{fn: opCumSum, attrs: []string{"exclusive", "reverse"}, minIn: 2, maxIn: 2, maxOut: 1}
	register(specs)
}

// reducer: start value, accumulation, and the final map (count is the
// number of elements reduced).
type reducer struct {
	init  float64
	add   func(acc, x float64) float64
	final func(acc float64, count int) float64
}

var (
	plus = func(acc, x float64) float64 { return acc + x }
	same = func(acc float64, _ int) float64 { return acc }
)

var reducers = map[string]reducer{
	"ReduceSum":       {0, plus, same},
	"ReduceMean":      {0, plus, func(acc float64, n int) float64 { return acc / float64(n) }},
	"ReduceMax":       {math.Inf(-1), math.Max, same},
	"ReduceMin":       {math.Inf(1), math.Min, same},
	"ReduceProd":      {1, func(acc, x float64) float64 { return acc * x }, same},
	"ReduceL1":        {0, func(acc, x float64) float64 { return acc + math.Abs(x) }, same},
	"ReduceL2":        {0, func(acc, x float64) float64 { return acc + x*x }, func(acc float64, _ int) float64 { return math.Sqrt(acc) }},
	"ReduceSumSquare": {0, func(acc, x float64) float64 { return acc + x*x }, same},
	"ReduceLogSum":    {0, plus, func(acc float64, _ int) float64 { return math.Log(acc) }},
	"ReduceLogSumExp": {0, func(acc, x float64) float64 { return acc + math.Exp(x) }, func(acc float64, _ int) float64 { return math.Log(acc) }},
}

// reduceAxes reads the axes of a reduction: an attribute, or input 1 (for
// ReduceSum from opset 13, the others from 18).
func (b *builder) reduceAxes(op string, a *attrs, in []*value) ([]int64, error) {
	if len(in) > 1 && in[1] != nil {
		if a.has("axes") {
			return nil, invalid("axes given both as an attribute and an input")
		}
		return intInput(in, 1, "axes")
	}
	return a.ints("axes", nil)
}

// reducedShape returns the output shape and, for each input element, the
// index of its output element.
func reducedShape(shape []int, red []bool, keep bool) (out []int, outOf func() []int) {
	full := make([]int, len(shape))
	for d, s := range shape {
		full[d] = s
		if red[d] {
			full[d] = 1
		}
		if !red[d] || keep {
			out = append(out, full[d])
		}
	}
	return nonNil(out), func() []int {
		st := strides(full)
		m := make([]int, 0, shapeSize(shape))
		forEachIndex(shape, func(idx []int) {
			o := 0
			for d, v := range idx {
				if !red[d] {
					o += v * st[d]
				}
			}
			m = append(m, o)
		})
		return m
	}
}

func opReduce(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	axes, err := b.reduceAxes(n.opType, a, in)
	if err != nil {
		return nil, err
	}
	keep, err := a.int("keepdims", 1)
	if err != nil {
		return nil, err
	}
	noop, err := a.int("noop_with_empty_axes", 0)
	if err != nil {
		return nil, err
	}
	x := in[0]
	dt := x.dtype()
	if !runnable(dt) || dt == dtBool {
		return nil, unsupported("%s of %s", n.opType, dtypeName(dt))
	}
	shape := x.shape()
	if len(axes) == 0 && noop != 0 {
		return opIdentity(b, n, a, in[:1])
	}
	red := make([]bool, len(shape))
	for _, ax := range axes {
		d, err := normAxis(ax, len(shape))
		if err != nil {
			return nil, err
		}
		red[d] = true
	}
	if len(axes) == 0 {
		for d := range red {
			red[d] = true
		}
	}
	return b.reduceWith(n.opType, x, red, keep != 0, reducers[n.opType])
}

// reduceWith emits reduction r of x over the axes marked in red.
func (b *builder) reduceWith(name string, x *value, red []bool, keep bool, r reducer) ([]*value, error) {
	dt := x.dtype()
	if !runnable(dt) || dt == dtBool {
		return nil, unsupported("%s of %s", name, dtypeName(dt))
	}
	out, outOf := reducedShape(x.shape(), red, keep)
	var m []int
	return b.emit1(name, []*value{x}, outSpec{dt, out}, func(xs []*constT) (*constT, error) {
		if m == nil {
			m = outOf()
		}
		size := shapeSize(out)
		acc := make([]float64, size)
		for k := range acc {
			acc[k] = r.init
		}
		x := xs[0]
		for k, o := range m {
			v := x.num(k)
			if v != v {
				acc[o] = v
				continue
			}
			if acc[o] == acc[o] {
				acc[o] = r.add(acc[o], v)
			}
		}
		count := 1
		if size > 0 {
			count = x.size() / size
		}
		res := newConst(dt, out)
		for k, v := range acc {
			if isIntType(dt) && math.IsInf(v, 0) {
				v = 0
			}
			res.setNum(k, r.final(v, count))
		}
		return res, nil
	})
}

func opArg(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	axis64, err := a.int("axis", 0)
	if err != nil {
		return nil, err
	}
	keep, err := a.int("keepdims", 1)
	if err != nil {
		return nil, err
	}
	last, err := a.int("select_last_index", 0)
	if err != nil {
		return nil, err
	}
	shape := in[0].shape()
	axis, err := normAxis(axis64, len(shape))
	if err != nil {
		return nil, err
	}
	if shape[axis] == 0 {
		return nil, invalid("ArgMax/ArgMin over an empty axis")
	}
	red := make([]bool, len(shape))
	red[axis] = true
	out, _ := reducedShape(shape, red, keep != 0)
	outer, ln, inner := shapeSize(shape[:axis]), shape[axis], shapeSize(shape[axis+1:])
	isMax := n.opType == "ArgMax"
	return b.emit1(n.opType, in, outSpec{dtInt64, out}, func(xs []*constT) (*constT, error) {
		res := newConst(dtInt64, out)
		x := xs[0]
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				best, bi := x.num(o*ln*inner+i), 0
				for j := 1; j < ln; j++ {
					v := x.num((o*ln+j)*inner + i)
					better := v > best
					if !isMax {
						better = v < best
					}
					if better || (last != 0 && v == best) {
						best, bi = v, j
					}
				}
				res.i[o*inner+i] = int64(bi)
			}
		}
		return res, nil
	})
}

func opSoftmaxK(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x := in[0]
	shape := x.shape()
	dt := x.dtype()
	if !isFloatType(dt) {
		return nil, invalid("input is %s, want FP32 or FP64", dtypeName(dt))
	}
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
	outer, ln, inner := shapeSize(shape[:axis]), shape[axis], shapeSize(shape[axis+1:])
	if b.c.opset < 13 {
		// Before opset 13 the input is coerced to 2-D at axis.
		ln, inner = shapeSize(shape[axis:]), 1
	}
	op := n.opType
	return b.emit1(op, in, outSpec{dt, slices.Clone(shape)}, func(xs []*constT) (*constT, error) {
		x := xs[0]
		res := newConst(dt, shape)
		buf := make([]float64, ln)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				at := func(j int) int { return (o*ln+j)*inner + i }
				mx, arg := math.Inf(-1), 0
				for j := range buf {
					buf[j] = x.num(at(j))
					if buf[j] > mx {
						mx, arg = buf[j], j
					}
				}
				if op == "Hardmax" {
					res.setNum(at(arg), 1)
					continue
				}
				sum := 0.0
				for j, v := range buf {
					buf[j] = math.Exp(v - mx)
					sum += buf[j]
				}
				for j, v := range buf {
					if op == "LogSoftmax" {
						res.setNum(at(j), x.num(at(j))-mx-math.Log(sum))
					} else {
						res.setNum(at(j), v/sum)
					}
				}
			}
		}
		return res, nil
	})
}

func opCumSum(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	ax, err := constInput(in, 1, "axis")
	if err != nil {
		return nil, err
	}
	excl, err := a.int("exclusive", 0)
	if err != nil {
		return nil, err
	}
	rev, err := a.int("reverse", 0)
	if err != nil {
		return nil, err
	}
	shape := in[0].shape()
	if ax.size() != 1 {
		return nil, invalid("axis has %d values", ax.size())
	}
	axis, err := normAxis(ax.ints()[0], len(shape))
	if err != nil {
		return nil, err
	}
	dt := in[0].dtype()
	outer, ln, inner := shapeSize(shape[:axis]), shape[axis], shapeSize(shape[axis+1:])
	return b.emit1("CumSum", in[:1], outSpec{dt, slices.Clone(shape)}, func(xs []*constT) (*constT, error) {
		x := xs[0]
		res := newConst(dt, shape)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				acc, iacc := 0.0, int64(0)
				for t := 0; t < ln; t++ {
					j := t
					if rev != 0 {
						j = ln - 1 - t
					}
					k := (o*ln+j)*inner + i
					if excl != 0 {
						if isIntType(dt) {
							res.i[k] = iacc
						} else {
							res.setNum(k, acc)
						}
					}
					if isIntType(dt) {
						iacc += x.i[k]
					} else {
						acc += x.num(k)
					}
					if excl == 0 {
						if isIntType(dt) {
							res.i[k] = castInt(iacc, dt)
						} else {
							res.setNum(k, acc)
						}
					}
				}
			}
		}
		return res, nil
	})
}
