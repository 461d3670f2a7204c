package onnx

import (
	"math"
	"slices"
)

// Normalisations: BatchNormalization (inference), LayerNormalization,
// InstanceNormalization, LRN, MeanVarianceNormalization.

func init() {
	register(map[string]opSpec{
		"BatchNormalization":        {fn: opBatchNorm, attrs: []string{"epsilon", "momentum", "spatial", "is_test", "training_mode"}, minIn: 5, maxIn: 5, maxOut: 1},
		"LayerNormalization":        {fn: opLayerNorm, attrs: []string{"axis", "epsilon", "stash_type"}, minIn: 2, maxIn: 3, maxOut: 3},
		"InstanceNormalization":     {fn: opInstanceNorm, attrs: []string{"epsilon"}, minIn: 3, maxIn: 3, maxOut: 1},
		"LRN":                       {fn: opLRN, attrs: []string{"alpha", "beta", "bias", "size"}, minIn: 1, maxIn: 1, maxOut: 1},
		"MeanVarianceNormalization": {fn: opMVN, attrs: []string{"axes"}, minIn: 1, maxIn: 1, maxOut: 1},
	})
}

// channelParams checks per-channel parameter inputs of shape (C).
func channelParams(in []*value, from int, C int, dt int32) error {
	for k := from; k < len(in); k++ {
		if in[k] == nil {
			continue
		}
		if s := in[k].shape(); len(s) != 1 || s[0] != C || in[k].dtype() != dt {
			return invalid("input %d is %s %v, want %s [%d]", k, dtypeName(in[k].dtype()), s, dtypeName(dt), C)
		}
	}
	return nil
}

func opBatchNorm(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	eps, err := a.float("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	if tm, _ := a.int("training_mode", 0); tm != 0 {
		return nil, unsupported("training_mode=1 is not supported")
	}
	if sp, _ := a.int("spatial", 1); sp != 1 {
		return nil, unsupported("spatial=%d is not supported", sp)
	}
	x := in[0]
	xs := x.shape()
	dt := x.dtype()
	if len(xs) < 2 || !isFloatType(dt) {
		return nil, invalid("input is %s %v, want floats (N, C, ...)", dtypeName(dt), xs)
	}
	C, inner := xs[1], shapeSize(xs[2:])
	if err := channelParams(in, 1, C, dt); err != nil {
		return nil, err
	}
	if vs, ok, err := b.foldBatchNorm(n, in, eps); ok || err != nil {
		return vs, err
	}
	e := float64(eps)
	return b.emit1("BatchNormalization", in, outSpec{dt, slices.Clone(xs)}, func(v []*constT) (*constT, error) {
		x, scale, bias, mean, vr := v[0], v[1], v[2], v[3], v[4]
		out := newConst(dt, xs)
		mul, add := make([]float64, C), make([]float64, C)
		for c := range C {
			mul[c] = scale.num(c) / math.Sqrt(vr.num(c)+e)
			add[c] = bias.num(c) - mean.num(c)*mul[c]
		}
		for k := range out.size() {
			c := (k / inner) % C
			out.setNum(k, x.num(k)*mul[c]+add[c])
		}
		return out, nil
	})
}

func opLayerNorm(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	axis64, err := a.int("axis", -1)
	if err != nil {
		return nil, err
	}
	eps, err := a.float("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	x := in[0]
	xs := x.shape()
	dt := x.dtype()
	if !isFloatType(dt) {
		return nil, invalid("input is %s, want floats", dtypeName(dt))
	}
	axis, err := normAxis(axis64, len(xs))
	if err != nil {
		return nil, err
	}
	outer, inner := shapeSize(xs[:axis]), shapeSize(xs[axis:])
	for k := 1; k < len(in); k++ {
		if in[k] == nil {
			continue
		}
		if _, err := broadcastShape(in[k].shape(), xs[axis:]); err != nil || shapeSize(in[k].shape()) > inner || in[k].dtype() != dt {
			return nil, invalid("input %d is %s %v; it must broadcast to %v", k, dtypeName(in[k].dtype()), in[k].shape(), xs[axis:])
		}
	}
	statShape := slices.Clone(xs)
	for d := axis; d < len(xs); d++ {
		statShape[d] = 1
	}
	outs := []outSpec{{dt, slices.Clone(xs)}}
	for k := 1; k < len(n.outputs); k++ {
		outs = append(outs, outSpec{dtFloat, statShape})
	}
	norm := xs[axis:]
	ins := []*value{x, in[1], nil}
	if len(in) > 2 {
		ins[2] = in[2]
	}
	e := float64(eps)
	return b.emit(n.opType, ins, outs, func(v []*constT) ([]*constT, error) {
		x, scale, bias := v[0], v[1], v[2]
		sm := broadcastIndex(scale.shape, norm)
		var bm []int
		if bias != nil {
			bm = broadcastIndex(bias.shape, norm)
		}
		out := newConst(dt, xs)
		mean, inv := newConst(dtFloat, statShape), newConst(dtFloat, statShape)
		for o := range outer {
			s, s2 := 0.0, 0.0
			for j := range inner {
				v := x.num(o*inner + j)
				s += v
				s2 += v * v
			}
			mu := s / float64(inner)
			va := s2/float64(inner) - mu*mu
			iv := 1 / math.Sqrt(va+e)
			mean.setNum(o, mu)
			inv.setNum(o, iv)
			for j := range inner {
				y := (x.num(o*inner+j) - mu) * iv * scale.num(sm[j])
				if bias != nil {
					y += bias.num(bm[j])
				}
				out.setNum(o*inner+j, y)
			}
		}
		return []*constT{out, mean, inv}, nil
	})
}

func opInstanceNorm(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	eps, err := a.float("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	x := in[0]
	xs := x.shape()
	dt := x.dtype()
	if len(xs) < 3 || !isFloatType(dt) {
		return nil, invalid("input is %s %v, want floats (N, C, D...)", dtypeName(dt), xs)
	}
	C, inner := xs[1], shapeSize(xs[2:])
	if err := channelParams(in, 1, C, dt); err != nil {
		return nil, err
	}
	e := float64(eps)
	return b.emit1(n.opType, in, outSpec{dt, slices.Clone(xs)}, func(v []*constT) (*constT, error) {
		x, scale, bias := v[0], v[1], v[2]
		out := newConst(dt, xs)
		for p := range xs[0] * C {
			c := p % C
			s, s2 := 0.0, 0.0
			for j := range inner {
				v := x.num(p*inner + j)
				s += v
				s2 += v * v
			}
			mu := s / float64(inner)
			iv := 1 / math.Sqrt(s2/float64(inner)-mu*mu+e)
			for j := range inner {
				out.setNum(p*inner+j, (x.num(p*inner+j)-mu)*iv*scale.num(c)+bias.num(c))
			}
		}
		return out, nil
	})
}

func opLRN(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	alpha, _ := a.float("alpha", 1e-4)
	beta, _ := a.float("beta", 0.75)
	bias, _ := a.float("bias", 1)
	size, err := a.int("size", 0)
	if err != nil || size < 1 {
		return nil, invalid("size=%d must be positive", size)
	}
	x := in[0]
	xs := x.shape()
	dt := x.dtype()
	if len(xs) < 3 || !isFloatType(dt) {
		return nil, invalid("input is %s %v, want floats (N, C, D...)", dtypeName(dt), xs)
	}
	C, inner := xs[1], shapeSize(xs[2:])
	lo, hi := int((size-1)/2), int(size/2)
	if hi < int(size-1)-lo {
		hi = int(size-1) - lo
	}
	return b.emit1("LRN", in, outSpec{dt, slices.Clone(xs)}, func(v []*constT) (*constT, error) {
		x := v[0]
		out := newConst(dt, xs)
		for k := range out.size() {
			c := (k / inner) % C
			base := k - c*inner
			sq := 0.0
			for j := max(0, c-lo); j <= min(C-1, c+hi); j++ {
				t := x.num(base + j*inner)
				sq += t * t
			}
			out.setNum(k, x.num(k)/math.Pow(float64(bias)+float64(alpha)/float64(size)*sq, float64(beta)))
		}
		return out, nil
	})
}

func opMVN(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	axes, err := a.ints("axes", []int64{0, 2, 3})
	if err != nil {
		return nil, err
	}
	x := in[0]
	xs := x.shape()
	dt := x.dtype()
	if !isFloatType(dt) {
		return nil, invalid("input is %s, want floats", dtypeName(dt))
	}
	red := make([]bool, len(xs))
	for _, ax := range axes {
		d, err := normAxis(ax, len(xs))
		if err != nil {
			return nil, err
		}
		red[d] = true
	}
	statShape, outOf := reducedShape(xs, red, true)
	return b.emit1("MeanVarianceNormalization", in, outSpec{dt, slices.Clone(xs)}, func(v []*constT) (*constT, error) {
		x := v[0]
		m := outOf()
		ns := shapeSize(statShape)
		s, s2 := make([]float64, ns), make([]float64, ns)
		for k, o := range m {
			t := x.num(k)
			s[o] += t
			s2[o] += t * t
		}
		cnt := float64(x.size() / max(ns, 1))
		out := newConst(dt, xs)
		for k, o := range m {
			mu := s[o] / cnt
			sd := math.Sqrt(s2[o]/cnt - mu*mu)
			out.setNum(k, (x.num(k)-mu)/(sd+1e-9))
		}
		return out, nil
	})
}
