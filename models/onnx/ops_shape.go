package onnx

import (
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
)

// Data movement ops. Shapes are static, so most of them are index maps:
// output element k is input element src[k], with src worked out once from
// the shapes (remap). Run-time data and constant data use the same code.

func init() {
	register(map[string]opSpec{
		"Gather":         {fn: opGather, attrs: []string{"axis"}, minIn: 2, maxIn: 2, maxOut: 1},
		"GatherElements": {fn: opGatherElements, attrs: []string{"axis"}, minIn: 2, maxIn: 2, maxOut: 1},
		"Concat":         {fn: opConcat, attrs: []string{"axis"}, minIn: 1, maxIn: -1, maxOut: 1},
		"Slice":          {fn: opSlice, attrs: []string{"starts", "ends", "axes"}, minIn: 1, maxIn: 5, maxOut: 1},
		"Transpose":      {fn: opTranspose, attrs: []string{"perm"}, minIn: 1, maxIn: 1, maxOut: 1},
		"Split":          {fn: opSplit, attrs: []string{"axis", "split", "num_outputs"}, minIn: 1, maxIn: 2, maxOut: 64},
	})
}

// remap emits out[k] = x[src[k]]; src is made on first use.
func (b *builder) remap(name string, x *value, shape []int, src func() []int) ([]*value, error) {
	if _, err := checkedSize(int64s(shape), maxConstElems); err != nil {
		return nil, err
	}
	var m []int
	return b.emit1(name, []*value{x}, outSpec{x.dtype(), shape}, func(in []*constT) (*constT, error) {
		if m == nil {
			m = src()
		}
		out := in[0].take(shape, m)
		out.fillEmpty()
		return out, nil
	})
}

func opGather(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	data, idx := in[0], in[1]
	if !isIntType(idx.dtype()) || idx.dtype() == dtBool {
		return nil, invalid("indices are %s, want INT32 or INT64", dtypeName(idx.dtype()))
	}
	axis64, err := a.int("axis", 0)
	if err != nil {
		return nil, err
	}
	ds := data.shape()
	axis, err := normAxis(axis64, len(ds))
	if err != nil {
		return nil, err
	}
	dimLen := ds[axis]
	is := idx.shape()
	outShape := slices.Concat(ds[:axis], is, ds[axis+1:])
	outer, inner := shapeSize(ds[:axis]), shapeSize(ds[axis+1:])
	return b.emit1("Gather", in, outSpec{data.dtype(), outShape}, func(xs []*constT) (*constT, error) {
		ix := xs[1].i
		for _, k := range ix {
			if k < -int64(dimLen) || k >= int64(dimLen) {
				return nil, invalid("index %d is out of range for dimension %d of size %d", k, axis, dimLen)
			}
		}
		src := make([]int, 0, shapeSize(outShape))
		for o := 0; o < outer; o++ {
			for _, k := range ix {
				if k < 0 {
					k += int64(dimLen)
				}
				for j := 0; j < inner; j++ {
					src = append(src, (o*dimLen+int(k))*inner+j)
				}
			}
		}
		out := xs[0].take(outShape, src)
		out.fillEmpty()
		return out, nil
	})
}

func opGatherElements(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	data, idx := in[0], in[1]
	axis64, err := a.int("axis", 0)
	if err != nil {
		return nil, err
	}
	ds, is := data.shape(), idx.shape()
	axis, err := normAxis(axis64, len(ds))
	if err != nil {
		return nil, err
	}
	if len(is) != len(ds) {
		return nil, invalid("indices %v and data %v differ in rank", is, ds)
	}
	st := strides(ds)
	return b.emit1("GatherElements", in, outSpec{data.dtype(), is}, func(xs []*constT) (*constT, error) {
		src := make([]int, 0, shapeSize(is))
		var bad error
		forEachIndex(is, func(ix []int) {
			k := xs[1].i[len(src)]
			if k < 0 {
				k += int64(ds[axis])
			}
			if k < 0 || k >= int64(ds[axis]) {
				bad = invalid("index %d is out of range", k)
				k = 0
			}
			off := 0
			for d, v := range ix {
				if d == axis {
					v = int(k)
				}
				off += v * st[d]
			}
			src = append(src, off)
		})
		if bad != nil {
			return nil, bad
		}
		return xs[0].take(is, src), nil
	})
}

func opConcat(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	if !a.has("axis") {
		return nil, invalid("attribute axis is missing")
	}
	axis64, err := a.int("axis", 0)
	if err != nil {
		return nil, err
	}
	for k, v := range in {
		if v == nil {
			return nil, invalid("input %d is missing", k)
		}
	}
	first := in[0].shape()
	axis, err := normAxis(axis64, len(first))
	if err != nil {
		return nil, err
	}
	dt, err := sameTypes(in)
	if err != nil {
		return nil, err
	}
	outShape := slices.Clone(first)
	outShape[axis] = 0
	gorgonia := dt == dtFloat
	allConst := true
	for k, v := range in {
		s := v.shape()
		if len(s) != len(first) {
			return nil, invalid("input %d has rank %d, input 0 has %d", k, len(s), len(first))
		}
		for d := range s {
			if d != axis && s[d] != first[d] {
				return nil, invalid("input %d has shape %v, input 0 has %v", k, s, first)
			}
		}
		outShape[axis] += s[axis]
		allConst = allConst && v.isConst()
		gorgonia = gorgonia && shapeSize(s) > 0
	}
	if gorgonia && !allConst {
		nodes := make([]*G.Node, len(in))
		for k, v := range in {
			if nodes[k], err = b.tensor(v, "input"); err != nil {
				return nil, err
			}
		}
		out, err := G.Concat(axis, nodes...)
		if err != nil {
			return nil, err
		}
		return nodeOut(out), nil
	}
	outer := shapeSize(first[:axis])
	return b.emit1("Concat", in, outSpec{dt, outShape}, func(xs []*constT) (*constT, error) {
		out := newConst(dt, outShape)
		k := 0
		for o := 0; o < outer; o++ {
			for _, c := range xs {
				chunk := shapeSize(c.shape[axis:])
				for j := 0; j < chunk; j++ {
					out.copyElem(k, c, o*chunk+j)
					k++
				}
			}
		}
		return out, nil
	})
}

func opSlice(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	var starts, ends, axes, steps []int64
	var err error
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
	shape := in[0].shape()
	r := len(shape)
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, invalid("starts %v, ends %v, axes %v and steps %v differ in length", starts, ends, axes, steps)
	}
	begin := make([]int, r)
	step := make([]int, r)
	outShape := slices.Clone(shape)
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
		dim := int64(shape[axis])
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
	return b.remap("Slice", in[0], outShape, func() []int {
		st := strides(shape)
		src := make([]int, 0, shapeSize(outShape))
		forEachIndex(outShape, func(idx []int) {
			off := 0
			for k, x := range idx {
				off += (begin[k] + x*step[k]) * st[k]
			}
			src = append(src, off)
		})
		return src
	})
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
	if !x.isConst() && x.dtype() == dtFloat && r >= 2 && r <= 4 {
		// gorgonia's transposeOp claims to overwrite its input but has no
		// UnsafeDo: Do copies (tensor.SafeT), so a weight input is safe.
		out, err := G.Transpose(x.n, perm...)
		if err != nil {
			return nil, err
		}
		return nodeOut(out), nil
	}
	return b.remap("Transpose", x, outShape, func() []int {
		st := strides(shape)
		src := make([]int, 0, shapeSize(shape))
		forEachIndex(outShape, func(idx []int) {
			off := 0
			for k, v := range idx {
				off += v * st[perm[k]]
			}
			src = append(src, off)
		})
		return src
	})
}

func opSplit(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x := in[0]
	shape := x.shape()
	axis64, err := a.int("axis", 0)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(axis64, len(shape))
	if err != nil {
		return nil, err
	}
	var split []int64
	switch {
	case len(in) > 1 && in[1] != nil:
		if split, err = intInput(in, 1, "split"); err != nil {
			return nil, err
		}
	case a.has("split"):
		if split, err = a.ints("split", nil); err != nil {
			return nil, err
		}
	default:
		parts := int64(len(n.outputs))
		if a.has("num_outputs") {
			if parts, err = a.int("num_outputs", 0); err != nil {
				return nil, err
			}
		}
		if parts < 1 {
			return nil, invalid("cannot split into %d parts", parts)
		}
		dim := int64(shape[axis])
		each := (dim + parts - 1) / parts
		for k := int64(0); k < parts; k++ {
			split = append(split, max(0, min(each, dim-k*each)))
		}
	}
	if len(split) != len(n.outputs) {
		return nil, invalid("split %v has %d parts for %d outputs", split, len(split), len(n.outputs))
	}
	total := int64(0)
	for _, s := range split {
		if s < 0 {
			return nil, invalid("split %v has a negative part", split)
		}
		total += s
	}
	if total != int64(shape[axis]) {
		return nil, invalid("split %v does not sum to dimension %d (%d)", split, axis, shape[axis])
	}
	var outs []*value
	off := 0
	st := strides(shape)
	for _, s := range split {
		outShape := slices.Clone(shape)
		outShape[axis] = int(s)
		begin := off
		v, err := b.remap("Split", x, outShape, func() []int {
			src := make([]int, 0, shapeSize(outShape))
			forEachIndex(outShape, func(idx []int) {
				o := 0
				for k, v := range idx {
					if k == axis {
						v += begin
					}
					o += v * st[k]
				}
				src = append(src, o)
			})
			return src
		})
		if err != nil {
			return nil, err
		}
		outs = append(outs, v[0])
		off += int(s)
	}
	return outs, nil
}
