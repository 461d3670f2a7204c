package onnx

import (
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
)

func opSlice(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	data, err := constInput(in, 0, "data")
	if err != nil {
		return nil, unsupported("Slice of a run-time tensor is not supported")
	}
	var starts, ends, axes, steps []int64
	if b.c.opset >= 10 {
		if len(a.byName) > 0 {
			return nil, invalid("starts, ends and axes are inputs since opset 10")
		}
		if starts, err = intInput(in, 1, "starts"); err != nil {
			return nil, err
		}
		if ends, err = intInput(in, 2, "ends"); err != nil {
			return nil, err
		}
		if len(in) > 3 && in[3] != nil {
			if axes, err = intInput(in, 3, "axes"); err != nil {
				return nil, err
			}
		}
		if len(in) > 4 && in[4] != nil {
			if steps, err = intInput(in, 4, "steps"); err != nil {
				return nil, err
			}
		}
	} else {
		if len(in) > 1 {
			return nil, invalid("starts, ends and axes are attributes before opset 10")
		}
		if starts, err = a.ints("starts", nil); err != nil {
			return nil, err
		}
		if ends, err = a.ints("ends", nil); err != nil {
			return nil, err
		}
		if axes, err = a.ints("axes", nil); err != nil {
			return nil, err
		}
	}
	r := len(data.shape)
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, invalid("starts %v, ends %v, axes %v and steps %v differ in length", starts, ends, axes, steps)
	}
	begin := make([]int, r)
	step := make([]int, r)
	outShape := slices.Clone(data.shape)
	for k := range step {
		step[k] = 1
	}
	seen := make([]bool, r)
	for k := range starts {
		ax := int64(k)
		if axes != nil {
			ax = axes[k]
		}
		axis, err := normAxis(ax, r)
		if err != nil {
			return nil, err
		}
		if seen[axis] {
			return nil, invalid("axes %v repeat an axis", axes)
		}
		seen[axis] = true
		st := int64(1)
		if steps != nil {
			st = steps[k]
		}
		if st == 0 || st < -math.MaxInt32 || st > math.MaxInt32 {
			return nil, invalid("step %d is invalid", st)
		}
		dim := int64(data.shape[axis])
		s, e := starts[k], ends[k]
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		var count int64
		if st > 0 {
			s, e = min(max(s, 0), dim), min(max(e, 0), dim)
			if e > s {
				count = (e - s + st - 1) / st
			}
		} else {
			s, e = min(max(s, 0), dim-1), min(max(e, -1), dim-1)
			if s > e {
				count = (s - e - st - 1) / -st
			}
		}
		begin[axis], step[axis], outShape[axis] = int(s), int(st), int(count)
	}
	st := strides(data.shape)
	src := make([]int, 0, shapeSize(outShape))
	forEachIndex(outShape, func(idx []int) {
		off := 0
		for k, x := range idx {
			off += (begin[k] + x*step[k]) * st[k]
		}
		src = append(src, off)
	})
	return constOut(data.take(outShape, src)), nil
}

func opTranspose(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x := in[0]
	shape := x.shape()
	r := len(shape)
	def := make([]int64, r)
	for k := range def {
		def[k] = int64(r - 1 - k)
	}
	perm64, err := a.ints("perm", def)
	if err != nil {
		return nil, err
	}
	if len(perm64) != r {
		return nil, invalid("perm %v does not fit rank %d", perm64, r)
	}
	perm := make([]int, r)
	seen := make([]bool, r)
	for k, p := range perm64 {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, invalid("perm %v is not a permutation", perm64)
		}
		seen[p] = true
		perm[k] = int(p)
	}
	outShape := make([]int, r)
	for k, p := range perm {
		outShape[k] = shape[p]
	}
	if x.isConst() {
		st := strides(shape)
		src := make([]int, 0, x.c.size())
		forEachIndex(outShape, func(idx []int) {
			off := 0
			for k, v := range idx {
				off += v * st[perm[k]]
			}
			src = append(src, off)
		})
		return constOut(x.c.take(outShape, src)), nil
	}
	if r > 4 {
		return nil, unsupported("Transpose of rank %d is not supported (at most 4)", r)
	}
	// gorgonia's transposeOp claims to overwrite its input but has no
	// UnsafeDo: Do copies (tensor.SafeT), so a weight input is safe.
	out, err := G.Transpose(x.n, perm...)
	if err != nil {
		return nil, err
	}
	return nodeOut(out), nil
}

func opIdentity(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	v := *in[0]
	return []*value{&v}, nil
}

func opDropout(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	if len(n.outputs) > 1 && n.outputs[1] != "" {
		return nil, unsupported("the mask output is not supported")
	}
	if len(in) > 2 && in[2] != nil {
		mode, err := constInput(in, 2, "training_mode")
		if err != nil {
			return nil, err
		}
		for _, v := range mode.ints() {
			if v != 0 {
				return nil, unsupported("training_mode=true is not supported")
			}
		}
	}
	return opIdentity(b, n, a, in)
}

// constBinary folds Add, Sub, Mul or Div of two constants with numpy
// broadcasting.
func constBinary(op string, x, y *constT) (*constT, error) {
	if x.dt != y.dt {
		return nil, invalid("operands are %s and %s", dtypeName(x.dt), dtypeName(y.dt))
	}
	shape, err := broadcastShape(x.shape, y.shape)
	if err != nil {
		return nil, err
	}
	if shapeSize(shape) > maxConstElems {
		return nil, unsupported("result of shape %v is too large", shape)
	}
	xi, yi := broadcastIndex(x.shape, shape), broadcastIndex(y.shape, shape)
	out := &constT{dt: x.dt, shape: shape, static: x.static && y.static}
	if x.isFloat() {
		out.f = make([]float32, len(xi))
		for k := range out.f {
			a, b := x.f[xi[k]], y.f[yi[k]]
			switch op {
			case "Add":
				out.f[k] = a + b
			case "Sub":
				out.f[k] = a - b
			case "Mul":
				out.f[k] = a * b
			case "Div":
				out.f[k] = a / b
			}
		}
		return out, nil
	}
	out.i = make([]int64, len(xi))
	for k := range out.i {
		a, b := x.i[xi[k]], y.i[yi[k]]
		var v int64
		switch op {
		case "Add":
			v = a + b
		case "Sub":
			v = a - b
		case "Mul":
			v = a * b
		case "Div":
			if b == 0 {
				return nil, invalid("integer division by zero")
			}
			v = a / b
		}
		out.i[k] = castInt(v, x.dt)
	}
	return out, nil
}
