// Package kernels holds accel's CPU kernels as plain functions over
// row-major []float32: Conv2D (NCHW, groups, strides, pads, dilations),
// Gemm, MaxPool, AvgPool, GlobalAvgPool and Add, each with a fused bias and
// activation where the model graphs put one.
//
// Conv2DPacked and GemmPacked take weights packed once (PackConv2DWeights,
// PackGemmB) and run their products on accel/blas's packed AVX-512 kernel;
// depthwise 3x3 convolutions and 3x3 and 2x2 stride-2 max pools have AVX2
// row kernels (act_amd64.s).
//
// It owns no state besides the kernels' reusable task records (parallel.Free: kept across garbage collections).
// Every function is safe for concurrent use on distinct outputs; each splits
// its work across accel's worker pool (at most parallel.Threads() parts,
// within one image when the batch is small) and allocates nothing in steady
// state. A part is at least about 20-50 µs of work (the grains in
// grains.go): handing one to a parked worker costs a wake-up, tens of
// microseconds on a VM. Arguments are checked before any work starts: a
// size that does not fit panics with a message rather than reading or
// writing out of bounds
// (callers that need an error, such as the gorgonia Ops in accel/ops, check
// shapes first).
package kernels

import (
	"fmt"
	"math"
)

// ActKind selects the activation fused into a kernel's output.
type ActKind uint8

const (
	ActNone ActKind = iota
	ActReLU         // max(x, 0)
	ActClip         // min(max(x, Min), Max); ReLU6 is Clip{0, 6}
)

// Act is a fused activation.
type Act struct {
	Kind     ActKind
	Min, Max float32 // ActClip bounds
}

// ReLU and ReLU6 are the common activations.
var (
	ReLU  = Act{Kind: ActReLU}
	ReLU6 = Act{Kind: ActClip, Min: 0, Max: 6}
)

func (a Act) String() string {
	switch a.Kind {
	case ActNone:
		return "none"
	case ActReLU:
		return "relu"
	case ActClip:
		return fmt.Sprintf("clip(%g,%g)", a.Min, a.Max)
	}
	return fmt.Sprintf("act(%d)", a.Kind)
}

// Apply computes the activation of one value.
func (a Act) Apply(v float32) float32 {
	switch a.Kind {
	case ActReLU:
		return relu(v)
	case ActClip:
		return clip(v, a.Min, a.Max)
	}
	return v
}

// bounds returns the clamp an activation is: [lo, hi].
func (a Act) bounds() (lo, hi float32) {
	inf := float32(math.Inf(1))
	switch a.Kind {
	case ActReLU:
		return 0, inf
	case ActClip:
		return a.Min, a.Max
	}
	return -inf, inf
}

// biasAct adds b to every element of v and applies a, in one pass.
func biasAct(v []float32, b float32, a Act) {
	if haveAVX2 && len(v) >= 8 {
		if a.Kind == ActNone && b == 0 {
			return
		}
		lo, hi := a.bounds()
		clampAddAVX2(v, b, lo, hi)
		return
	}
	switch a.Kind {
	case ActNone:
		if b != 0 {
			for i := range v {
				v[i] += b
			}
		}
	case ActReLU:
		for i, x := range v {
			v[i] = relu(x + b)
		}
	case ActClip:
		lo, hi := a.Min, a.Max
		for i, x := range v {
			v[i] = clip(x+b, lo, hi)
		}
	}
}

// relu is max(x, 0) without a branch (a conv's outputs change sign at
// random, so a branch is mispredicted half the time): a negative float has
// its sign bit set, which the arithmetic shift spreads into a mask.
func relu(x float32) float32 {
	u := math.Float32bits(x)
	return math.Float32frombits(u &^ uint32(int32(u)>>31))
}

// clip is min(max(x, lo), hi) for lo = 0 without the unpredictable branch
// (values above hi are rare), else with branches.
func clip(x, lo, hi float32) float32 {
	if lo == 0 {
		x = relu(x)
	} else if x < lo {
		x = lo
	}
	if x > hi {
		x = hi
	}
	return x
}

// addAct sets dst[i] = act(x[i] + y[i]); dst may be x or y.
func addAct(dst, x, y []float32, a Act) {
	x, y = x[:len(dst)], y[:len(dst)]
	if haveAVX2 && len(dst) >= 8 {
		lo, hi := a.bounds()
		clampSumAVX2(dst, x, y, lo, hi)
		return
	}
	switch a.Kind {
	case ActNone:
		for i := range dst {
			dst[i] = x[i] + y[i]
		}
	case ActReLU:
		for i := range dst {
			dst[i] = relu(x[i] + y[i])
		}
	default:
		for i := range dst {
			dst[i] = a.Apply(x[i] + y[i])
		}
	}
}

func negInf() float32 { return float32(math.Inf(-1)) }

// panicf reports a bad argument. Callers test the condition first, so that
// the arguments are boxed only on failure.
func panicf(format string, args ...any) {
	panic(fmt.Sprintf("accel/kernels: "+format, args...))
}
