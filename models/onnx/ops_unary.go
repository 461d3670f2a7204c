package onnx

import (
	"math"

	"github.com/gannet-ml/gannet/accel/kernels"
)

// Unary elementwise ops and Clip. FP32 Relu and Clip of run-time tensors
// run as accel activations, folded into the Conv or Gemm before them where
// they are its only reader (fast.go); the rest run as kernels.

// unaryFns are the unary ops on floats without attributes.
var unaryFns = map[string]func(float64) float64{
	"Abs": math.Abs, "Neg": func(x float64) float64 { return -x },
	"Exp": math.Exp, "Log": math.Log, "Sqrt": math.Sqrt, "Erf": math.Erf,
	"Reciprocal": func(x float64) float64 { return 1 / x },
	"Floor":      math.Floor, "Ceil": math.Ceil, "Round": math.RoundToEven,
	"Sin": math.Sin, "Cos": math.Cos, "Tan": math.Tan, "Asin": math.Asin, "Acos": math.Acos,
	"Atan": math.Atan, "Sinh": math.Sinh, "Cosh": math.Cosh, "Asinh": math.Asinh,
	"Acosh": math.Acosh, "Atanh": math.Atanh,
	"Sign": func(x float64) float64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return x
	},
	"Softplus": func(x float64) float64 {
		if x > 30 {
			return x
		}
		return math.Log1p(math.Exp(x))
	},
	"Softsign":  func(x float64) float64 { return x / (1 + math.Abs(x)) },
	"HardSwish": func(x float64) float64 { return x * max(0, min(1, x/6+0.5)) },
	"Relu":      func(x float64) float64 { return max(x, 0) },
	"Sigmoid":   sigmoid,
	"Tanh":      math.Tanh,
	"Not":       func(x float64) float64 { return float64(b2i(x == 0)) },
	"IsNaN":     func(x float64) float64 { return float64(b2i(x != x)) },
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// intUnary are the unary ops also defined on integers.
var intUnary = map[string]func(int64) int64{
	"Abs": func(x int64) int64 {
		if x < 0 {
			return -x
		}
		return x
	},
	"Neg":  func(x int64) int64 { return -x },
	"Relu": func(x int64) int64 { return max(x, 0) },
	"Sign": func(x int64) int64 {
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	},
	"Not": func(x int64) int64 { return 1 - x },
}

// unaryFn returns the float function of a unary op, reading its attributes.
func unaryFn(op string, a *attrs) (func(float64) float64, error) {
	if f, ok := unaryFns[op]; ok {
		return f, nil
	}
	fl := func(name string, def float32) float64 {
		v, _ := a.float(name, def)
		return float64(v)
	}
	for _, name := range []string{"alpha", "beta", "gamma", "bias", "lambd"} {
		if _, err := a.float(name, 0); err != nil {
			return nil, err
		}
	}
	switch op {
	case "LeakyRelu":
		al := fl("alpha", 0.01)
		return func(x float64) float64 {
			if x < 0 {
				return al * x
			}
			return x
		}, nil
	case "Elu":
		al := fl("alpha", 1)
		return func(x float64) float64 {
			if x < 0 {
				return al * (math.Exp(x) - 1)
			}
			return x
		}, nil
	case "Celu":
		al := fl("alpha", 1)
		return func(x float64) float64 { return max(0, x) + min(0, al*(math.Exp(x/al)-1)) }, nil
	case "Selu":
		al, ga := fl("alpha", 1.67326319217681884765625), fl("gamma", 1.05070102214813232421875)
		return func(x float64) float64 {
			if x <= 0 {
				return ga * (al*math.Exp(x) - al)
			}
			return ga * x
		}, nil
	case "HardSigmoid":
		al, be := fl("alpha", 0.2), fl("beta", 0.5)
		return func(x float64) float64 { return max(0, min(1, al*x+be)) }, nil
	case "ThresholdedRelu":
		al := fl("alpha", 1)
		return func(x float64) float64 {
			if x > al {
				return x
			}
			return 0
		}, nil
	case "Shrink":
		bias, lambd := fl("bias", 0), fl("lambd", 0.5)
		return func(x float64) float64 {
			switch {
			case x < -lambd:
				return x + bias
			case x > lambd:
				return x - bias
			}
			return 0
		}, nil
	case "IsInf":
		neg, _ := a.int("detect_negative", 1)
		pos, _ := a.int("detect_positive", 1)
		return func(x float64) float64 {
			return float64(b2i((neg != 0 && math.IsInf(x, -1)) || (pos != 0 && math.IsInf(x, 1))))
		}, nil
	}
	return nil, unsupported("op %s is not supported", op)
}

func opUnaryK(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x := in[0]
	dt := x.dtype()
	op := n.opType
	// FP32 Relu of rank >= 1 runs as accel's (fused into the op before it
	// where possible), Sigmoid and Tanh as gorgonia's own ops.
	if op == "Relu" && isRuntimeF32(x, -1) {
		return b.activation(n, x, kernels.ReLU)
	}
	if dt == dtFloat && !x.isConst() && len(x.shape()) > 0 && (op == "Sigmoid" || op == "Tanh") {
		return opUnary(b, n, a, in)
	}
	outDT := dt
	switch op {
	case "IsNaN", "IsInf":
		if !isFloatType(dt) {
			return nil, unsupported("%s of %s is not supported", op, dtypeName(dt))
		}
		outDT = dtBool
	case "Not":
		if dt != dtBool {
			return nil, invalid("input is %s, want BOOL", dtypeName(dt))
		}
	default:
		if !isFloatType(dt) && intUnary[op] == nil {
			return nil, unsupported("%s of %s is not supported", op, dtypeName(dt))
		}
	}
	if !runnable(dt) {
		return nil, unsupported("input type %s is not supported", dtypeName(dt))
	}
	f, err := unaryFn(op, a)
	if err != nil {
		return nil, err
	}
	fi := intUnary[op]
	shape := x.shape()
	return b.emit1(op, in, outSpec{outDT, shape}, func(in []*constT) (*constT, error) {
		x := in[0]
		out := newConst(outDT, shape)
		switch {
		case x.dt == dtFloat && outDT == dtFloat:
			for k, v := range x.f {
				out.f[k] = float32(f(float64(v)))
			}
		case isIntType(x.dt) && fi != nil:
			for k, v := range x.i {
				out.i[k] = castInt(fi(v), outDT)
			}
		default:
			for k := range out.size() {
				out.setNum(k, f(x.num(k)))
			}
		}
		return out, nil
	})
}

func opClip(b *builder, n *nodeProto, a *attrs, in []*value) ([]*value, error) {
	x := in[0]
	dt := x.dtype()
	if !runnable(dt) {
		return nil, unsupported("Clip of %s", dtypeName(dt))
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if isIntType(dt) {
		lo, hi = math.MinInt64, math.MaxInt64
	}
	ins := []*value{x, nil, nil}
	if b.c.opset < 11 {
		if len(in) > 1 {
			return nil, invalid("min and max are attributes before opset 11")
		}
		l, err := a.float("min", float32(math.Inf(-1)))
		if err != nil {
			return nil, err
		}
		h, err := a.float("max", float32(math.Inf(1)))
		if err != nil {
			return nil, err
		}
		lo, hi = float64(l), float64(h)
	} else {
		if len(a.byName) > 0 {
			return nil, invalid("min and max are inputs since opset 11")
		}
		for k := 1; k < len(in) && k < 3; k++ {
			if in[k] == nil {
				continue
			}
			if s := in[k].shape(); shapeSize(s) != 1 {
				return nil, invalid("input %d has shape %v, want a scalar", k, s)
			}
			if in[k].dtype() != dt {
				return nil, invalid("input %d is %s, input 0 %s", k, dtypeName(in[k].dtype()), dtypeName(dt))
			}
			ins[k] = in[k]
		}
	}
	if isRuntimeF32(x, -1) && (ins[1] == nil || ins[1].isConst()) && (ins[2] == nil || ins[2].isConst()) {
		l, h := float32(lo), float32(hi)
		if ins[1] != nil {
			l = ins[1].c.f[0]
		}
		if ins[2] != nil {
			h = ins[2].c.f[0]
		}
		if l == l && h == h { // NaN bounds run as the kernel
			return b.activation(n, x, kernels.Act{Kind: kernels.ActClip, Min: l, Max: h})
		}
	}
	shape := x.shape()
	return b.emit1("Clip", ins, outSpec{dt, shape}, func(xs []*constT) (*constT, error) {
		l, h := lo, hi
		if xs[1] != nil {
			l = xs[1].num(0)
		}
		if xs[2] != nil {
			h = xs[2].num(0)
		}
		out := newConst(dt, shape)
		x := xs[0]
		switch dt {
		case dtFloat:
			fl, fh := float32(l), float32(h)
			for k, v := range x.f {
				out.f[k] = min(max(v, fl), fh)
			}
		default:
			for k := range out.size() {
				v := x.num(k)
				if v == v {
					v = min(max(v, l), h)
				}
				out.setNum(k, v)
			}
			if isIntType(dt) && xs[1] != nil && xs[2] != nil {
				il, ih := xs[1].i[0], xs[2].i[0]
				for k, v := range x.i {
					out.i[k] = min(max(v, il), ih)
				}
			}
		}
		return out, nil
	})
}
