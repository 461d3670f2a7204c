package onnx

import (
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
)

// Shape ops. Shapes are static per bucket, so Shape, Gather, Unsqueeze,
// Squeeze, Concat, Slice, Cast and Constant on constants are evaluated here,
// at compile time; that folds the Shape -> Gather -> Unsqueeze -> Concat ->
// Reshape subgraph PyTorch exports for x.view(x.size(0), -1). Reshape-like
// ops (Reshape, Flatten, Unsqueeze, Squeeze) also apply to run-time tensors.

func constOut(c *constT) []*value { return []*value{{c: c}} }
func nodeOut(n *G.Node) []*value  { return []*value{{n: n}} }

// constInput returns input i, which must be a constant (after folding).
func constInput(in []*value, i int, what string) (*constT, error) {
	if i >= len(in) || in[i] == nil {
		return nil, invalid("%s (input %d) is missing", what, i)
	}
	if !in[i].isConst() {
		return nil, unsupported("%s (input %d) is computed at run time; it must be constant once shapes are known", what, i)
	}
	return in[i].c, nil
}

func intInput(in []*value, i int, what string) ([]int64, error) {
	c, err := constInput(in, i, what)
	if err != nil {
		return nil, err
	}
	if c.isFloat() {
		return nil, invalid("%s (input %d) is FP32, want an integer tensor", what, i)
	}
	if len(c.shape) > 1 {
		return nil, invalid("%s (input %d) has shape %v, want a 1-D tensor", what, i, c.shape)
	}
	return c.i, nil
}

func opConstant(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	if len(a.byName) != 1 {
		return nil, invalid("needs exactly one value attribute, has %d", len(a.byName))
	}
	var c *constT
	switch {
	case a.has("value"):
		t, err := a.tensor("value")
		if err != nil {
			return nil, err
		}
		if c, err = tensorConst(t); err != nil {
			return nil, err
		}
	case a.has("value_float"):
		f, err := a.float("value_float", 0)
		if err != nil {
			return nil, err
		}
		c = &constT{dt: dtFloat, f: []float32{f}}
	case a.has("value_floats"):
		fs, err := a.floats("value_floats")
		if err != nil {
			return nil, err
		}
		c = &constT{dt: dtFloat, shape: []int{len(fs)}, f: slices.Clone(fs)}
	case a.has("value_int"):
		v, err := a.int("value_int", 0)
		if err != nil {
			return nil, err
		}
		c = &constT{dt: dtInt64, i: []int64{v}}
	case a.has("value_ints"):
		vs, err := a.ints("value_ints", nil)
		if err != nil {
			return nil, err
		}
		c = &constT{dt: dtInt64, shape: []int{len(vs)}, i: slices.Clone(vs)}
	}
	c.static = true
	return constOut(c), nil
}

func opShape(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	shape := in[0].shape()
	start, err := a.int("start", 0)
	if err != nil {
		return nil, err
	}
	end, err := a.int("end", int64(len(shape)))
	if err != nil {
		return nil, err
	}
	r := int64(len(shape))
	clamp := func(x int64) int64 {
		if x < 0 {
			x += r
		}
		return min(max(x, 0), r)
	}
	start, end = clamp(start), clamp(end)
	out := &constT{dt: dtInt64, i: []int64{}, static: in[0].isConst() && in[0].c.static}
	for k := start; k < end; k++ {
		out.i = append(out.i, int64(shape[k]))
	}
	out.shape = []int{len(out.i)}
	return constOut(out), nil
}

// axesOf reads the axes of Unsqueeze/Squeeze/ReduceX: an attribute before
// opset 13, the optional input 1 from 13.
func (b *builder) axesOf(a *attrs, in []*value, required bool) ([]int64, bool, error) {
	if b.c.opset >= 13 {
		if a.has("axes") {
			return nil, false, invalid("axes is an input since opset 13, not an attribute")
		}
		if len(in) < 2 || in[1] == nil {
			if required {
				return nil, false, invalid("axes input is missing")
			}
			return nil, false, nil
		}
		ax, err := intInput(in, 1, "axes")
		return ax, true, err
	}
	if len(in) > 1 && in[1] != nil {
		return nil, false, invalid("axes is an attribute before opset 13, not an input")
	}
	if !a.has("axes") {
		if required {
			return nil, false, invalid("attribute axes is missing")
		}
		return nil, false, nil
	}
	ax, err := a.ints("axes", nil)
	return ax, true, err
}

// reshapeValue gives v a new shape of the same size.
func (b *builder) reshapeValue(v *value, shape []int) ([]*value, error) {
	if shapeSize(shape) != shapeSize(v.shape()) {
		return nil, invalid("cannot reshape %v to %v", v.shape(), shape)
	}
	if v.isConst() {
		return constOut(v.c.reshaped(shape)), nil
	}
	gs := gShape(shape)
	if gs.Eq(v.n.Shape()) {
		return []*value{{n: v.n, dt: v.dtype(), shp: nonNil(shape)}}, nil
	}
	out, err := reshapeNode(v.n, v.dtype(), shape)
	if err != nil {
		return nil, err
	}
	return []*value{{n: out, dt: v.dtype(), shp: nonNil(shape)}}, nil
}

func opUnsqueeze(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	axes, _, err := b.axesOf(a, in, true)
	if err != nil {
		return nil, err
	}
	shape := in[0].shape()
	r := len(shape) + len(axes)
	ins := make([]bool, r)
	for _, ax := range axes {
		k, err := normAxis(ax, r)
		if err != nil {
			return nil, err
		}
		if ins[k] {
			return nil, invalid("axes %v repeat an axis", axes)
		}
		ins[k] = true
	}
	out := make([]int, 0, r)
	src := 0
	for k := 0; k < r; k++ {
		if ins[k] {
			out = append(out, 1)
		} else {
			out = append(out, shape[src])
			src++
		}
	}
	return b.reshapeValue(in[0], out)
}

func opSqueeze(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	axes, given, err := b.axesOf(a, in, false)
	if err != nil {
		return nil, err
	}
	shape := in[0].shape()
	drop := make([]bool, len(shape))
	for _, ax := range axes {
		k, err := normAxis(ax, len(shape))
		if err != nil {
			return nil, err
		}
		if shape[k] != 1 {
			return nil, invalid("cannot squeeze axis %d of shape %v", k, shape)
		}
		drop[k] = true
	}
	var out []int
	for k, d := range shape {
		if (given && !drop[k]) || (!given && d != 1) {
			out = append(out, d)
		}
	}
	return b.reshapeValue(in[0], out)
}

func opReshape(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	target, err := intInput(in, 1, "shape")
	if err != nil {
		return nil, err
	}
	allowZero, err := a.int("allowzero", 0)
	if err != nil {
		return nil, err
	}
	shape, err := reshapeTarget(in[0].shape(), target, allowZero != 0)
	if err != nil {
		return nil, err
	}
	return b.reshapeValue(in[0], shape)
}

// reshapeTarget resolves ONNX Reshape's 0 (copy) and -1 (infer) entries.
func reshapeTarget(from []int, target []int64, allowZero bool) ([]int, error) {
	out := make([]int, len(target))
	infer := -1
	known := 1
	for k, t := range target {
		switch {
		case t == -1:
			if infer >= 0 {
				return nil, invalid("shape %v has more than one -1", target)
			}
			infer = k
			continue
		case t == 0 && !allowZero:
			if k >= len(from) {
				return nil, invalid("shape %v copies dimension %d of %v, which has none", target, k, from)
			}
			out[k] = from[k]
		case t < 0 || t > math.MaxInt32:
			return nil, invalid("shape %v has an invalid dimension %d", target, t)
		default:
			out[k] = int(t)
		}
		known *= out[k]
		if known > maxConstElems {
			return nil, unsupported("shape %v is too large", target)
		}
	}
	total := shapeSize(from)
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, invalid("cannot reshape %v to %v", from, target)
		}
		out[infer] = total / known
	}
	if shapeSize(out) != total {
		return nil, invalid("cannot reshape %v (%d elements) to %v", from, total, target)
	}
	return out, nil
}

func opFlatten(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	shape := in[0].shape()
	axis64, err := a.int("axis", 1)
	if err != nil {
		return nil, err
	}
	axis := int(axis64)
	if axis64 != int64(len(shape)) {
		if axis, err = normAxis(axis64, len(shape)); err != nil {
			return nil, err
		}
	}
	return b.reshapeValue(in[0], []int{shapeSize(shape[:axis]), shapeSize(shape[axis:])})
}

func opCast(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	to64, err := a.int("to", 0)
	if err != nil {
		return nil, err
	}
	if !a.has("to") {
		return nil, invalid("attribute to is missing")
	}
	to := int32(to64)
	if int64(to) != to64 || !runnable(to) {
		return nil, unsupported("cast to %s is not supported", dtypeName(int32(to64)))
	}
	return b.castK(in[0], to)
}
