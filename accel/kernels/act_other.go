//go:build !amd64 || purego

package kernels

const haveAVX2 = false
const haveFMA = false

func axpyAVX2(d, s []float32, w float32)  { panic("unreachable") }
func axpy2AVX2(d, s []float32, w float32) { panic("unreachable") }

func clampAddAVX2(v []float32, b, lo, hi float32)      { panic("unreachable") }
func clampSumAVX2(dst, x, y []float32, lo, hi float32) { panic("unreachable") }

func dw3x3AVX2(out, r0, r1, r2 []float32, w *[9]float32, bias, lo, hi float32) {
	panic("unreachable")
}

func dw3x3s2AVX2(out, r0, r1, r2 []float32, w *[9]float32, bias, lo, hi float32) {
	panic("unreachable")
}

func max3x3s2AVX2(out, r0, r1, r2 []float32) { panic("unreachable") }
func max2x2s2AVX2(out, r0, r1 []float32)     { panic("unreachable") }
