//go:build !amd64 || purego

package kernels

const haveAVX2 = false

func clampAddAVX2(v []float32, b, lo, hi float32)      { panic("unreachable") }
func clampSumAVX2(dst, x, y []float32, lo, hi float32) { panic("unreachable") }
