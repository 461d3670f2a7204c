package onnx

import (
	"math"
	"slices"

	aops "github.com/gannet-ml/gannet/accel/ops"
)

// Convolution and pooling of any spatial rank (1-D, 2-D, 3-D, ...), with
// groups, dilations, asymmetric pads, auto_pad and ceil_mode, as kernels.
// The common 2-D FP32 cases on run-time tensors take accel's ops (fast.go).

func init() {
	register(map[string]opSpec{
		"ConvTranspose": {fn: opConvTranspose, attrs: []string{"auto_pad", "dilations", "group", "kernel_shape",
			"output_padding", "output_shape", "pads", "strides"}, minIn: 2, maxIn: 3, maxOut: 1},
		"GlobalMaxPool":     {fn: opGlobalPool, minIn: 1, maxIn: 1, maxOut: 1},
		"GlobalAveragePool": {fn: opGlobalPool, minIn: 1, maxIn: 1, maxOut: 1},
		"LpPool":            {fn: opPoolK, attrs: []string{"auto_pad", "ceil_mode", "dilations", "kernel_shape", "p", "pads", "strides"}, minIn: 1, maxIn: 1, maxOut: 1},
	})
}

// geom is the geometry of a window op over the spatial dimensions.
type geom struct {
	in, out, k, stride, dil, padB, padE []int
}

// readGeom reads kernel_shape (or kernel, from the weights), strides,
// dilations, pads and auto_pad for spatial input dims in.
func readGeom(a *attrs, in []int, kernel []int64, ceil bool) (*geom, error) {
	r := len(in)
	ks, err := a.ints("kernel_shape", kernel)
	if err != nil {
		return nil, err
	}
	if ks == nil {
		return nil, invalid("attribute kernel_shape is missing")
	}
	if len(ks) != r {
		return nil, invalid("kernel_shape %v does not fit %d spatial dimensions", ks, r)
	}
	if kernel != nil && !slices.Equal(ks, kernel) {
		return nil, invalid("kernel_shape=%v does not match the weights' %v", ks, kernel)
	}
	ones := slices.Repeat([]int64{1}, r)
	st, err := a.intsN("strides", r, 1, ones)
	if err != nil {
		return nil, err
	}
	dil, err := a.intsN("dilations", r, 1, ones)
	if err != nil {
		return nil, err
	}
	autoPad, err := a.str("auto_pad", "NOTSET")
	if err != nil {
		return nil, err
	}
	pads, err := a.intsN("pads", 2*r, 0, make([]int64, 2*r))
	if err != nil {
		return nil, err
	}
	g := &geom{in: in}
	for d := range r {
		for _, v := range []int64{ks[d], st[d], dil[d], pads[d], pads[d+r]} {
			if v < 0 || v > 1<<20 {
				return nil, invalid("window attribute %d is out of range", v)
			}
		}
		if ks[d] < 1 {
			return nil, invalid("kernel_shape=%v: values must be positive", ks)
		}
		k, s, dl := int(ks[d]), int(st[d]), int(dil[d])
		pb, pe := int(pads[d]), int(pads[d+r])
		ext := dl*(k-1) + 1
		var o int
		switch autoPad {
		case "NOTSET":
			num := in[d] + pb + pe - ext
			if ceil {
				o = int(math.Ceil(float64(num)/float64(s))) + 1
				if (o-1)*s >= in[d]+pb {
					o--
				}
			} else {
				o = num/s + 1
				if num < 0 {
					o = 0
				}
			}
		case "VALID":
			pb, pe = 0, 0
			o = (in[d]-ext)/s + 1
			if in[d] < ext {
				o = 0
			}
		case "SAME_UPPER", "SAME_LOWER":
			o = (in[d] + s - 1) / s
			total := max(0, (o-1)*s+ext-in[d])
			pb = total / 2
			if autoPad == "SAME_LOWER" {
				pb = total - total/2
			}
			pe = total - pb
		default:
			return nil, invalid("auto_pad=%q is not a valid value", autoPad)
		}
		if o < 1 {
			return nil, invalid("window %v does not fit input %v", ks, in)
		}
		g.out = append(g.out, o)
		g.k = append(g.k, k)
		g.stride = append(g.stride, s)
		g.dil = append(g.dil, dl)
		g.padB = append(g.padB, pb)
		g.padE = append(g.padE, pe)
	}
	return g, nil
}

// table returns, for each output position and each kernel offset (in
// row-major order), the input position it reads, or -1 in the padding.
func (g *geom) table() []int {
	K := shapeSize(g.k)
	st := strides(g.in)
	tab := make([]int, 0, shapeSize(g.out)*K)
	forEachIndex(g.out, func(o []int) {
		forEachIndex(g.k, func(k []int) {
			off := 0
			for d := range o {
				p := o[d]*g.stride[d] + k[d]*g.dil[d] - g.padB[d]
				if p < 0 || p >= g.in[d] {
					off = -1
					break
				}
				off += p * st[d]
			}
			tab = append(tab, off)
		})
	})
	return tab
}

// convGeneric emits a grouped N-D convolution.
func (b *builder) convGeneric(x, w, bias *value, g *geom, group int) ([]*value, error) {
	xs, ws := x.shape(), w.shape()
	N, C, M := xs[0], xs[1], ws[0]
	Cg, Mg := C/group, M/group
	out := append([]int{N, M}, g.out...)
	dt := x.dtype()
	inSp, outSp, K := shapeSize(g.in), shapeSize(g.out), shapeSize(g.k)
	var tab []int
	return b.emit1("Conv", []*value{x, w, bias}, outSpec{dt, out}, func(v []*constT) (*constT, error) {
		if tab == nil {
			tab = g.table()
		}
		x, w, bias := v[0], v[1], v[2]
		res := newConst(dt, out)
		fast := dt == dtFloat
		acc := make([]float64, outSp)
		for n := range N {
			for m := range M {
				grp := m / Mg
				bv := 0.0
				if bias != nil {
					bv = bias.num(m)
				}
				for o := range acc {
					acc[o] = bv
				}
				for c := range Cg {
					xb := (n*C + grp*Cg + c) * inSp
					wb := (m*Cg + c) * K
					for kk := range K {
						wv := w.num(wb + kk)
						if wv == 0 {
							continue
						}
						if fast {
							xf := x.f[xb : xb+inSp]
							for o := range outSp {
								if p := tab[o*K+kk]; p >= 0 {
									acc[o] += wv * float64(xf[p])
								}
							}
							continue
						}
						for o := range outSp {
							if p := tab[o*K+kk]; p >= 0 {
								acc[o] += wv * x.num(xb+p)
							}
						}
					}
				}
				ob := (n*M + m) * outSp
				for o, a := range acc {
					res.setNum(ob+o, a)
				}
			}
		}
		return res, nil
	})
}

// convShapes checks a convolution's input and weights.
func convShapes(x, w *value, group int64, transpose bool) error {
	xs, ws := x.shape(), w.shape()
	if len(xs) < 3 || len(ws) != len(xs) {
		return invalid("input %v and weights %v: want (N, C, D...) and a kernel of the same rank", xs, ws)
	}
	if !isFloatType(x.dtype()) || w.dtype() != x.dtype() {
		return invalid("input is %s and weights %s, want floats of one type", dtypeName(x.dtype()), dtypeName(w.dtype()))
	}
	if group < 1 || xs[1]%int(group) != 0 {
		return invalid("group=%d does not divide %d input channels", group, xs[1])
	}
	if transpose {
		if ws[0] != xs[1] {
			return invalid("weights %v do not fit %d input channels", ws, xs[1])
		}
		return nil
	}
	if ws[0]%int(group) != 0 || ws[1] != xs[1]/int(group) {
		return invalid("weights %v do not fit %d input channels in %d groups", ws, xs[1], group)
	}
	return nil
}

func kernelOf(ws []int) []int64 { return int64s(ws[2:]) }

func opConvTranspose(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	group, err := a.int("group", 1)
	if err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	if err := convShapes(x, w, group, true); err != nil {
		return nil, err
	}
	var bias *value
	if len(in) > 2 {
		bias = in[2]
	}
	xs, ws := x.shape(), w.shape()
	r := len(xs) - 2
	N, C := xs[0], xs[1]
	Mg := ws[1]
	M := Mg * int(group)
	if bias != nil {
		if s := bias.shape(); len(s) != 1 || s[0] != M {
			return nil, invalid("bias has shape %v, want [%d]", s, M)
		}
	}
	ks, err := a.ints("kernel_shape", kernelOf(ws))
	if err != nil || !slices.Equal(ks, kernelOf(ws)) {
		return nil, invalid("kernel_shape=%v does not match the weights %v", ks, ws)
	}
	ones := slices.Repeat([]int64{1}, r)
	st, err := a.intsN("strides", r, 1, ones)
	if err != nil {
		return nil, err
	}
	dil, err := a.intsN("dilations", r, 1, ones)
	if err != nil {
		return nil, err
	}
	opad, err := a.intsN("output_padding", r, 0, make([]int64, r))
	if err != nil {
		return nil, err
	}
	pads, err := a.intsN("pads", 2*r, 0, make([]int64, 2*r))
	if err != nil {
		return nil, err
	}
	autoPad, err := a.str("auto_pad", "NOTSET")
	if err != nil {
		return nil, err
	}
	oshape, err := a.ints("output_shape", nil)
	if err != nil {
		return nil, err
	}
	if oshape != nil && len(oshape) != r {
		if len(oshape) == r+2 {
			oshape = oshape[2:]
		} else {
			return nil, invalid("output_shape %v does not fit %d spatial dimensions", oshape, r)
		}
	}
	out := []int{N, M}
	padB := make([]int, r)
	for d := range r {
		for _, v := range []int64{st[d], dil[d], opad[d], pads[d], pads[d+r]} {
			if v > 1<<20 {
				return nil, invalid("attribute value %d is out of range", v)
			}
		}
		ext := int(dil[d])*(ws[2+d]-1) + 1
		full := int(st[d])*(xs[2+d]-1) + int(opad[d]) + ext
		var o int
		switch {
		case oshape != nil || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER":
			o = xs[2+d] * int(st[d])
			if oshape != nil {
				o = int(oshape[d])
			}
			total := max(full-o, 0) // a negative total pads the end only
			padB[d] = total - total/2
			if autoPad == "SAME_UPPER" {
				padB[d] = total / 2
			}
		default:
			o = full - int(pads[d]) - int(pads[d+r])
			padB[d] = int(pads[d])
		}
		if o < 1 || o > maxConstElems {
			return nil, invalid("output size %d is invalid", o)
		}
		out = append(out, o)
	}
	dt := x.dtype()
	inSp, outSp, K := shapeSize(xs[2:]), shapeSize(out[2:]), shapeSize(ws[2:])
	Cg := C / int(group)
	return b.emit1("ConvTranspose", []*value{x, w, bias}, outSpec{dt, out}, func(v []*constT) (*constT, error) {
		x, w, bias := v[0], v[1], v[2]
		res := newConst(dt, out)
		acc := make([]float64, res.size())
		ost := strides(out[2:])
		// tab[i*K+k]: the output position input position i and kernel
		// offset k write to, or -1.
		tab := make([]int, 0, inSp*K)
		forEachIndex(xs[2:], func(i []int) {
			forEachIndex(ws[2:], func(k []int) {
				off := 0
				for d := range i {
					p := i[d]*int(st[d]) + k[d]*int(dil[d]) - padB[d]
					if p < 0 || p >= out[2+d] {
						off = -1
						break
					}
					off += p * ost[d]
				}
				tab = append(tab, off)
			})
		})
		for nn := range N {
			for c := range C {
				grp := c / Cg
				for m := range Mg {
					ob := (nn*M + grp*Mg + m) * outSp
					wb := (c*Mg + m) * K
					for i := range inSp {
						xv := x.num((nn*C+c)*inSp + i)
						for k := range K {
							if p := tab[i*K+k]; p >= 0 {
								acc[ob+p] += xv * w.num(wb+k)
							}
						}
					}
				}
			}
		}
		for k, a := range acc {
			if bias != nil {
				a += bias.num((k / outSp) % M)
			}
			res.setNum(k, a)
		}
		return res, nil
	})
}

// opPoolK emits MaxPool, AveragePool or LpPool as a kernel.
func opPoolK(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x := in[0]
	xs := x.shape()
	dt := x.dtype()
	if len(xs) < 3 || !runnable(dt) || dt == dtBool {
		return nil, invalid("input is %s %v, want (N, C, D...)", dtypeName(dt), xs)
	}
	ceil, err := a.int("ceil_mode", 0)
	if err != nil {
		return nil, err
	}
	g, err := readGeom(a, xs[2:], nil, ceil != 0)
	if err != nil {
		return nil, err
	}
	countPad, err := a.int("count_include_pad", 0)
	if err != nil {
		return nil, err
	}
	order, err := a.int("storage_order", 0)
	if err != nil {
		return nil, err
	}
	p, err := a.int("p", 2)
	if err != nil {
		return nil, err
	}
	op := n.opType
	out := append([]int{xs[0], xs[1]}, g.out...)
	outs := []outSpec{{dt, out}}
	if op == "MaxPool" && len(n.outputs) > 1 && n.outputs[1] != "" {
		outs = append(outs, outSpec{dtInt64, out})
	}
	planes, inSp, outSp, K := xs[0]*xs[1], shapeSize(g.in), shapeSize(g.out), shapeSize(g.k)
	var tab []int
	return b.emit(op, []*value{x}, outs, func(v []*constT) ([]*constT, error) {
		if tab == nil {
			tab = g.table()
		}
		x := v[0]
		res := newConst(dt, out)
		idx := newConst(dtInt64, out)
		for pl := range planes {
			for o := range outSp {
				var acc float64
				best, arg := math.Inf(-1), -1
				cnt := 0
				for k := range K {
					q := tab[o*K+k]
					if q < 0 {
						continue
					}
					val := x.num(pl*inSp + q)
					cnt++
					switch op {
					case "MaxPool":
						if val > best || arg < 0 {
							best, arg = val, q
						}
					case "AveragePool":
						acc += val
					default:
						acc += math.Pow(math.Abs(val), float64(p))
					}
				}
				var y float64
				switch op {
				case "MaxPool":
					y = best
					if order != 0 && len(g.in) == 2 {
						h, w := arg/g.in[1], arg%g.in[1]
						arg = w*g.in[0] + h
					}
					idx.i[pl*outSp+o] = int64(pl*inSp + arg)
				case "AveragePool":
					if countPad != 0 {
						cnt = avgWindowCount(g, o)
					}
					y = acc / float64(max(cnt, 1))
				default:
					y = math.Pow(acc, 1/float64(p))
				}
				res.setNum(pl*outSp+o, y)
			}
		}
		return []*constT{res, idx}, nil
	})
}

// avgWindowCount is the size of the window at output position o, padding
// included but not the part past the padded input (as ONNX counts).
func avgWindowCount(g *geom, o int) int {
	st := strides(g.out)
	cnt := 1
	for d := range g.out {
		od := (o / st[d]) % g.out[d]
		start := od*g.stride[d] - g.padB[d]
		end := min(start+g.dil[d]*(g.k[d]-1)+1, g.in[d]+g.padE[d])
		n := 0
		for p := start; p < end; p += g.dil[d] {
			n++
		}
		cnt *= n
	}
	return cnt
}

func opGlobalPool(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x := in[0]
	xs := x.shape()
	if n.opType == "GlobalAveragePool" && isRuntimeF32(x, -1) && len(xs) >= 3 {
		y, err := aops.GlobalAvgPool(x.n)
		if err != nil {
			return nil, err
		}
		return nodeOut(y), nil
	}
	if len(xs) < 3 {
		return nil, invalid("input %v: want (N, C, D...)", xs)
	}
	red := make([]bool, len(xs))
	for d := 2; d < len(xs); d++ {
		red[d] = true
	}
	r := reducers["ReduceMean"]
	if n.opType == "GlobalMaxPool" {
		r = reducers["ReduceMax"]
	}
	return b.reduceWith(n.opType, x, red, true, r)
}

func opConv(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	group, err := a.int("group", 1)
	if err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	if err := convShapes(x, w, group, false); err != nil {
		return nil, err
	}
	var bias *value
	if len(in) > 2 {
		bias = in[2]
		if s := bias.shape(); len(s) != 1 || s[0] != w.shape()[0] {
			return nil, invalid("bias has shape %v, want [%d]", s, w.shape()[0])
		}
	}
	g, err := readGeom(a, x.shape()[2:], kernelOf(w.shape()), false)
	if err != nil {
		return nil, err
	}
	if len(g.out) == 2 {
		if vs, ok, err := b.convFast(x, w, bias, g, int(group)); ok || err != nil {
			return vs, err
		}
	}
	return b.convGeneric(x, w, bias, g, int(group))
}

func opMaxPool(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	indices := len(n.outputs) > 1 && n.outputs[1] != ""
	if !indices {
		if vs, ok, err := b.poolFast(a, in[0], false); ok || err != nil {
			return vs, err
		}
	}
	return opPoolK(b, n, a, in)
}

func opAveragePool(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	if vs, ok, err := b.poolFast(a, in[0], true); ok || err != nil {
		return vs, err
	}
	return opPoolK(b, n, a, in)
}

// poolFast builds a 2-D FP32 MaxPool or AveragePool as accel's PoolOp; ok
// is false when the pool is not one it runs.
func (b *builder) poolFast(a *attrs, x *value, avg bool) ([]*value, bool, error) {
	if !isRuntimeF32(x, 4) {
		return nil, false, nil
	}
	ceil, err := a.int("ceil_mode", 0)
	if err != nil {
		return nil, false, err
	}
	cp, err := a.int("count_include_pad", 0)
	if err != nil {
		return nil, false, err
	}
	xs := x.shape()
	g, err := readGeom(a, xs[2:], nil, ceil != 0)
	if err != nil {
		return nil, false, err
	}
	pa := aops.PoolAttrs{
		Kernel:    [2]int{g.k[0], g.k[1]},
		Strides:   [2]int{g.stride[0], g.stride[1]},
		Pads:      [4]int{g.padB[0], g.padB[1], g.padE[0], g.padE[1]},
		Dilations: [2]int{g.dil[0], g.dil[1]},
		CeilMode:  ceil != 0, CountIncludePad: cp != 0,
	}
	pool := aops.MaxPool
	if avg {
		pool = aops.AvgPool
	}
	y, err := pool(x.n, pa)
	if err != nil || !slices.Equal(y.Shape(), append([]int{xs[0], xs[1]}, g.out...)) {
		return nil, false, nil
	}
	return nodeOut(y), true, nil
}
