//go:build amd64 && !purego

package kernels

import "golang.org/x/sys/cpu"

// The activation epilogues in AVX2 (8 lanes, no branches) where the CPU
// has it; the pure-Go loops elsewhere.

var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func clampAddAVX2(v []float32, b, lo, hi float32)

//go:noescape
func clampSumAVX2(dst, x, y []float32, lo, hi float32)
