//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// The activation epilogues in AVX2 (8 lanes, no branches) where the CPU
// has it; the pure-Go loops elsewhere.

var haveAVX2 = cpu.X86.HasAVX2

// haveFMA gates the depthwise convolution's AVX2+FMA row updates.
var haveFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// axpyAVX2 sets d[i] += w*s[i] (len(s) >= len(d)).
//
//go:noescape
func axpyAVX2(d, s []float32, w float32)

// axpy2AVX2 sets d[i] += w*s[2i] (len(s) >= 2*len(d)-1).
//
//go:noescape
func axpy2AVX2(d, s []float32, w float32)

//go:noescape
func clampAddAVX2(v []float32, b, lo, hi float32)

//go:noescape
func clampSumAVX2(dst, x, y []float32, lo, hi float32)

// dw3x3AVX2 computes one output row of a 3x3 stride-1 depthwise
// convolution: out[i] = clamp(bias + sum w[3k+j]*rk[i+j], lo, hi)
// (len(rk) >= len(out)+2).
//
//go:noescape
func dw3x3AVX2(out, r0, r1, r2 []float32, w *[9]float32, bias, lo, hi float32)

// dw3x3s2AVX2 is dw3x3AVX2 for stride 2: out[i] = clamp(bias + sum
// w[3k+j]*rk[2i+j], lo, hi) (len(rk) >= 2*len(out)+1, all rows as long).
//
//go:noescape
func dw3x3s2AVX2(out, r0, r1, r2 []float32, w *[9]float32, bias, lo, hi float32)

// max3x3s2AVX2 computes one output row of a 3x3 stride-2 max pool: out[i]
// = max over k, j of rk[2i+j], NaN if one of them is (len(rk) >=
// 2*len(out)+1, all rows as long).
//
//go:noescape
func max3x3s2AVX2(out, r0, r1, r2 []float32)

// max2x2s2AVX2 computes one output row of a 2x2 stride-2 max pool: out[i]
// = max(r0[2i], r0[2i+1], r1[2i], r1[2i+1]), NaN if one of them is
// (len(out) a multiple of 4; len(r0), len(r1) >= 2*len(out)).
//
//go:noescape
func max2x2s2AVX2(out, r0, r1 []float32)
