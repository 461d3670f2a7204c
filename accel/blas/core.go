package blas

import (
	"strings"

	"golang.org/x/sys/cpu"
)

// BetterCore names the OpenBLAS core type a process should ask for
// (OPENBLAS_CORETYPE, read when OpenBLAS loads, before main) when OpenBLAS
// has fallen back to generic kernels on a CPU that runs its Haswell (AVX2,
// FMA) ones, or returns "" when its choice is fine or cannot be bettered.
// Debian's OpenBLAS 0.3.21 does not know CPUs newer than itself (Sapphire
// Rapids, Zen 5) and picks its SSE3 "Prescott" kernels there: 3-4x slower
// on the Fashion-MNIST CNN. Haswell is the family the project pins in CI
// (newer builds' AVX-512 kernels have computed wrong results on such CPUs).
func BetterCore() string { return betterCore(coreName(), cpu.X86.HasAVX2, cpu.X86.HasFMA) }

// genericCores are OpenBLAS's core types without AVX2.
var genericCores = []string{"prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
	"sandybridge", "opteron", "barcelona", "bobcat", "bulldozer", "katmai", "coppermine", "northwood"}

func betterCore(core string, avx2, fma bool) string {
	if core == "" || !avx2 || !fma {
		return ""
	}
	for _, g := range genericCores {
		if strings.EqualFold(core, g) {
			return "Haswell"
		}
	}
	return ""
}
