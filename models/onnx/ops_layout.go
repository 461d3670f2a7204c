package onnx

import (
	"math"
	"slices"
)

// Layout and generator ops: Expand, Tile, Pad, DepthToSpace and
// SpaceToDepth (index maps, as in ops_shape.go), and ConstantOfShape,
// Range, Size, Trilu and EyeLike.

func init() {
	register(map[string]opSpec{
		"Expand":          {fn: opExpand, minIn: 2, maxIn: 2, maxOut: 1},
		"Tile":            {fn: opTile, minIn: 2, maxIn: 2, maxOut: 1},
		"ConstantOfShape": {fn: opConstantOfShape, attrs: []string{"value"}, minIn: 1, maxIn: 1, maxOut: 1},
		"Range":           {fn: opRange, minIn: 3, maxIn: 3, maxOut: 1},
		"Size":            {fn: opSize, minIn: 1, maxIn: 1, maxOut: 1},
		"Trilu":           {fn: opTrilu, attrs: []string{"upper"}, minIn: 1, maxIn: 2, maxOut: 1},
		"DepthToSpace":    {fn: opDepthToSpace, attrs: []string{"blocksize", "mode"}, minIn: 1, maxIn: 1, maxOut: 1},
		"SpaceToDepth":    {fn: opDepthToSpace, attrs: []string{"blocksize"}, minIn: 1, maxIn: 1, maxOut: 1},
		"EyeLike":         {fn: opEyeLike, attrs: []string{"dtype", "k"}, minIn: 1, maxIn: 1, maxOut: 1},
		"Pad":             {fn: opPad, attrs: []string{"mode", "pads", "value"}, minIn: 1, maxIn: 4, maxOut: 1},
	})
}

func opExpand(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	target, err := intInput(in, 1, "shape")
	if err != nil {
		return nil, err
	}
	t := make([]int, len(target))
	for k, v := range target {
		if v < 0 || v > maxConstElems {
			return nil, invalid("shape %v is invalid", target)
		}
		t[k] = int(v)
	}
	shape := in[0].shape()
	out, err := broadcastShape(shape, t)
	if err != nil {
		return nil, err
	}
	return b.remap("Expand", in[0], out, func() []int { return broadcastIndex(shape, out) })
}

func opTile(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	reps, err := intInput(in, 1, "repeats")
	if err != nil {
		return nil, err
	}
	shape := in[0].shape()
	if len(reps) != len(shape) {
		return nil, invalid("repeats %v do not fit rank %d", reps, len(shape))
	}
	out := make([]int, len(shape))
	for k, r := range reps {
		if r < 0 || r > maxConstElems {
			return nil, invalid("repeats %v are invalid", reps)
		}
		out[k] = shape[k] * int(r)
	}
	return b.remap("Tile", in[0], out, func() []int {
		st := strides(shape)
		src := make([]int, 0, shapeSize(out))
		forEachIndex(out, func(idx []int) {
			o := 0
			for k, v := range idx {
				o += (v % shape[k]) * st[k]
			}
			src = append(src, o)
		})
		return src
	})
}

func opConstantOfShape(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	dims, err := intInput(in, 0, "shape")
	if err != nil {
		return nil, err
	}
	if _, err := checkedSize(dims, maxConstElems); err != nil {
		return nil, err
	}
	fill := &constT{dt: dtFloat, shape: []int{1}, f: []float32{0}}
	if a.has("value") {
		t, err := a.tensor("value")
		if err != nil {
			return nil, err
		}
		if fill, err = tensorConst(t); err != nil {
			return nil, err
		}
		if fill.size() != 1 {
			return nil, invalid("value holds %d elements, want 1", fill.size())
		}
	}
	shape := make([]int, len(dims))
	for k, d := range dims {
		shape[k] = int(d)
	}
	out := newConst(fill.dt, shape)
	for k := range out.size() {
		out.copyElem(k, fill, 0)
	}
	out.static = in[0].c.static
	return constOut(out), nil
}

func opRange(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	for k := range 3 {
		if _, err := constInput(in, k, "start, limit and delta"); err != nil {
			return nil, err
		}
	}
	dt, err := sameTypes(in)
	if err != nil {
		return nil, err
	}
	start, limit, delta := in[0].c.num(0), in[1].c.num(0), in[2].c.num(0)
	if delta == 0 {
		return nil, invalid("delta is 0")
	}
	count := int(max(math.Ceil((limit-start)/delta), 0))
	if count > maxConstElems {
		return nil, unsupported("range of %d elements is too large", count)
	}
	out := newConst(dt, []int{count})
	for k := range count {
		if isIntType(dt) {
			out.i[k] = in[0].c.i[0] + int64(k)*in[2].c.i[0]
		} else {
			out.setNum(k, start+float64(k)*delta)
		}
	}
	out.static = in[0].c.static && in[1].c.static && in[2].c.static
	return constOut(out), nil
}

func opSize(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	static := in[0].isConst() && in[0].c.static
	return constOut(&constT{dt: dtInt64, shape: []int{}, i: []int64{int64(shapeSize(in[0].shape()))}, static: static}), nil
}

func opTrilu(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	upper, err := a.int("upper", 1)
	if err != nil {
		return nil, err
	}
	k := int64(0)
	if len(in) > 1 && in[1] != nil {
		c, err := constInput(in, 1, "k")
		if err != nil {
			return nil, err
		}
		k = c.ints()[0]
	}
	shape := in[0].shape()
	if len(shape) < 2 {
		return nil, invalid("input has rank %d, want at least 2", len(shape))
	}
	rows, cols := shape[len(shape)-2], shape[len(shape)-1]
	dt := in[0].dtype()
	return b.emit1("Trilu", in[:1], outSpec{dt, shape}, func(xs []*constT) (*constT, error) {
		out := newConst(dt, shape)
		for e := range out.size() {
			c := int64(e % cols)
			r := int64((e / cols) % rows)
			keep := c-r >= k
			if upper == 0 {
				keep = c-r <= k
			}
			if keep {
				out.copyElem(e, xs[0], e)
			}
		}
		return out, nil
	})
}

func opDepthToSpace(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	bs64, err := a.int("blocksize", 0)
	if err != nil {
		return nil, err
	}
	mode, err := a.str("mode", "DCR")
	if err != nil {
		return nil, err
	}
	s := in[0].shape()
	if len(s) != 4 || bs64 < 1 || bs64 > 1<<16 {
		return nil, invalid("input %v and blocksize %d: want NCHW and blocksize >= 1", s, bs64)
	}
	bs := int(bs64)
	N, C, H, W := s[0], s[1], s[2], s[3]
	var tmp, perm []int
	var out []int
	if n.opType == "DepthToSpace" {
		if C%(bs*bs) != 0 {
			return nil, invalid("channels %d are not a multiple of blocksize^2", C)
		}
		c := C / (bs * bs)
		out = []int{N, c, H * bs, W * bs}
		if mode == "DCR" {
			tmp, perm = []int{N, bs, bs, c, H, W}, []int{0, 3, 4, 1, 5, 2}
		} else if mode == "CRD" {
			tmp, perm = []int{N, c, bs, bs, H, W}, []int{0, 1, 4, 2, 5, 3}
		} else {
			return nil, invalid("mode=%q", mode)
		}
	} else {
		if H%bs != 0 || W%bs != 0 {
			return nil, invalid("height and width %dx%d are not multiples of blocksize", H, W)
		}
		out = []int{N, C * bs * bs, H / bs, W / bs}
		tmp, perm = []int{N, C, H / bs, bs, W / bs, bs}, []int{0, 3, 5, 1, 2, 4}
	}
	return b.remap(n.opType, in[0], out, func() []int {
		st := strides(tmp)
		ps := make([]int, len(perm))
		for k, p := range perm {
			ps[k] = tmp[p]
		}
		src := make([]int, 0, shapeSize(out))
		forEachIndex(ps, func(idx []int) {
			o := 0
			for k, v := range idx {
				o += v * st[perm[k]]
			}
			src = append(src, o)
		})
		return src
	})
}

func opEyeLike(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	shape := in[0].shape()
	if len(shape) != 2 {
		return nil, invalid("input has shape %v, want 2-D", shape)
	}
	dt64, err := a.int("dtype", int64(in[0].dtype()))
	if err != nil {
		return nil, err
	}
	k, err := a.int("k", 0)
	if err != nil {
		return nil, err
	}
	dt := int32(dt64)
	if !runnable(dt) {
		return nil, unsupported("dtype %s", dtypeName(dt))
	}
	out := newConst(dt, slices.Clone(shape))
	for r := 0; r < shape[0]; r++ {
		if c := int64(r) + k; c >= 0 && c < int64(shape[1]) {
			out.setNum(r*shape[1]+int(c), 1)
		}
	}
	out.static = true
	return constOut(out), nil
}

func opPad(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	mode, err := a.str("mode", "constant")
	if err != nil {
		return nil, err
	}
	x := in[0]
	shape := x.shape()
	r := len(shape)
	var pads []int64
	var fill *value
	var axes []int64
	if b.c.opset >= 11 {
		if pads, err = intInput(in, 1, "pads"); err != nil {
			return nil, err
		}
		if len(in) > 2 && in[2] != nil {
			fill = in[2]
			if fill.dtype() != x.dtype() || shapeSize(fill.shape()) != 1 {
				return nil, invalid("constant_value must be one %s", dtypeName(x.dtype()))
			}
		}
		if len(in) > 3 && in[3] != nil {
			if axes, err = intInput(in, 3, "axes"); err != nil {
				return nil, err
			}
		}
	} else {
		if pads, err = a.ints("pads", nil); err != nil {
			return nil, err
		}
		v, err := a.float("value", 0)
		if err != nil {
			return nil, err
		}
		c := newConst(x.dtype(), []int{})
		c.setNum(0, float64(v))
		c.static = true
		fill = &value{c: c}
	}
	full := make([]int64, 2*r)
	if axes == nil {
		if len(pads) != 2*r {
			return nil, invalid("pads %v do not fit rank %d", pads, r)
		}
		copy(full, pads)
	} else {
		if len(pads) != 2*len(axes) {
			return nil, invalid("pads %v do not fit axes %v", pads, axes)
		}
		for k, ax := range axes {
			d, err := normAxis(ax, r)
			if err != nil {
				return nil, err
			}
			full[d], full[d+r] = pads[k], pads[k+len(axes)]
		}
	}
	out := make([]int, r)
	for d := range shape {
		out[d] = shape[d] + int(full[d]+full[d+r])
		if out[d] < 0 || full[d] > maxConstElems || full[d+r] > maxConstElems {
			return nil, invalid("pads %v do not fit shape %v", full, shape)
		}
		if mode == "reflect" && (full[d] >= int64(shape[d]) || full[d+r] >= int64(shape[d])) && full[d]+full[d+r] > 0 {
			return nil, unsupported("reflect pads %v as large as shape %v", full, shape)
		}
	}
	if mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap" {
		return nil, invalid("mode=%q", mode)
	}
	dt := x.dtype()
	ins := []*value{x, fill}
	return b.emit1("Pad", ins, outSpec{dt, out}, func(xs []*constT) (*constT, error) {
		res := newConst(dt, out)
		st := strides(shape)
		k := 0
		forEachIndex(out, func(idx []int) {
			off, inside := 0, true
			for d, v := range idx {
				s := v - int(full[d])
				n := shape[d]
				if s < 0 || s >= n {
					switch mode {
					case "constant":
						inside = false
					case "edge":
						s = min(max(s, 0), n-1)
					case "wrap":
						s = ((s % n) + n) % n
					case "reflect":
						if n == 1 {
							s = 0
						}
						for s < 0 || s >= n {
							if s < 0 {
								s = -s
							}
							if s >= n {
								s = 2*(n-1) - s
							}
						}
					}
				}
				off += s * st[d]
			}
			switch {
			case inside:
				res.copyElem(k, xs[0], off)
			case xs[1] != nil:
				res.copyElem(k, xs[1], 0)
			}
			k++
		})
		return res, nil
	})
}
