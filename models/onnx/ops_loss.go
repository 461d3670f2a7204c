package onnx

import (
	"math"
	"slices"
)

// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

func init() {
	register(map[string]opSpec{
		"NegativeLogLikelihoodLoss": {fn: opLoss, attrs: []string{"ignore_index", "reduction"}, minIn: 2, maxIn: 3, maxOut: 1},
		"SoftmaxCrossEntropyLoss":   {fn: opLoss, attrs: []string{"ignore_index", "reduction"}, minIn: 2, maxIn: 3, maxOut: 2},
	})
}

func opLoss(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	red, err := a.str("reduction", "mean")
	if err != nil {
		return nil, err
	}
	if red != "none" && red != "sum" && red != "mean" {
		return nil, invalid("reduction=%q", red)
	}
	ignore, err := a.int("ignore_index", math.MinInt64)
	if err != nil {
		return nil, err
	}
	x, t := in[0], in[1]
	xs, ts := x.shape(), t.shape()
	dt := x.dtype()
	if !isFloatType(dt) || !isIntType(t.dtype()) {
		return nil, invalid("input is %s and target %s, want floats and integers", dtypeName(dt), dtypeName(t.dtype()))
	}
	if len(xs) < 2 || len(ts) != len(xs)-1 || ts[0] != xs[0] || !slices.Equal(ts[1:], xs[2:]) {
		return nil, invalid("input %v and target %v do not fit (N, C, d...) and (N, d...)", xs, ts)
	}
	C := xs[1]
	var w *value
	if len(in) > 2 && in[2] != nil {
		w = in[2]
		if s := w.shape(); len(s) != 1 || s[0] != C || w.dtype() != dt {
			return nil, invalid("weight is %s %v, want %s [%d]", dtypeName(w.dtype()), s, dtypeName(dt), C)
		}
	}
	softmax := n.opType == "SoftmaxCrossEntropyLoss"
	outShape := []int{}
	if red == "none" {
		outShape = slices.Clone(ts)
	}
	outs := []outSpec{{dt, outShape}}
	if softmax && len(n.outputs) > 1 && n.outputs[1] != "" {
		outs = append(outs, outSpec{dt, slices.Clone(xs)})
	}
	N, D := xs[0], shapeSize(xs[2:])
	return b.emit(n.opType, []*value{x, t, w}, outs, func(v []*constT) ([]*constT, error) {
		x, t, w := v[0], v[1], v[2]
		logp := x
		if softmax {
			logp = newConst(dt, xs)
			for i := 0; i < N; i++ {
				for d := 0; d < D; d++ {
					at := func(c int) int { return (i*C+c)*D + d }
					mx := math.Inf(-1)
					for c := 0; c < C; c++ {
						mx = max(mx, x.num(at(c)))
					}
					sum := 0.0
					for c := 0; c < C; c++ {
						sum += math.Exp(x.num(at(c)) - mx)
					}
					for c := 0; c < C; c++ {
						logp.setNum(at(c), x.num(at(c))-mx-math.Log(sum))
					}
				}
			}
		}
		loss := newConst(dt, ts)
		total, wsum := 0.0, 0.0
		for i := 0; i < N; i++ {
			for d := 0; d < D; d++ {
				k := i*D + d
				c := t.i[k]
				if c == ignore {
					continue
				}
				if c < 0 || c >= int64(C) {
					return nil, invalid("target %d is out of range for %d classes", c, C)
				}
				wt := 1.0
				if w != nil {
					wt = w.num(int(c))
				}
				l := -logp.num((i*C+int(c))*D+d) * wt
				loss.setNum(k, l)
				total += l
				wsum += wt
			}
		}
		res := loss
		switch red {
		case "sum":
			res = newConst(dt, []int{})
			res.setNum(0, total)
		case "mean":
			res = newConst(dt, []int{})
			res.setNum(0, total/wsum)
		}
		out := []*constT{res}
		if len(outs) > 1 {
			out = append(out, logp)
		}
		return out, nil
	})
}
