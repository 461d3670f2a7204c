// Package accel is Gannet's CPU engine: what makes a compiled model run
// fast on the CPU, kept apart from the ONNX compiler (models/onnx) so the
// compiler can adopt it with a small change.
//
// It owns, in its subpackages:
//
//   - blas: OpenBLAS through cgo (pure-Go gonum with the build tag
//     noopenblas), installable as gorgonia's BLAS, with OpenBLAS held to one
//     thread and large products split across accel's worker pool; and
//     packed products: a model's weights packed once, at load, for
//     OpenBLAS's SkylakeX AVX-512 SGEMM kernel, called directly on CPUs
//     with AVX-512 whatever OPENBLAS_CORETYPE says, opt-in with
//     GANNET_PACKED_GEMM=1;
//   - kernels: fused CPU kernels over []float32 (Conv2D with bias and
//     activation, Gemm with bias and activation, MaxPool, AvgPool,
//     GlobalAvgPool, Add with activation), parallel within one image,
//     Conv2D and Gemm on packed weights where available;
//   - ops: the kernels as gorgonia Ops with UsePreallocDo;
//   - exec: an executor that runs a gorgonia graph with a memory plan made
//     once: no goroutine and no allocation per run;
//   - internal/parallel: the one worker pool (Threads()-1 parked
//     goroutines; no spinning).
//
// This package only ties them together: Setup at process start, Threads
// and Backend for reporting. Setup must run before graphs are built and
// executed (it changes process-wide settings); the rest is safe for
// concurrent use as documented in each subpackage.
package accel

import (
	"github.com/gannet-ml/gannet/accel/blas"
	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

// Setup sets the number of threads kernels split their work into
// (threads <= 0: GOMAXPROCS) and installs accel's BLAS as gorgonia's, so
// gorgonia's own ops (MatMul, ...) use it too.
func Setup(threads int) {
	if threads > 0 {
		parallel.SetThreads(threads)
	}
	blas.Install()
}

// Threads is the number of parts kernels split their work into.
func Threads() int { return parallel.Threads() }

// Backend names the BLAS in use (OpenBLAS and its kernel family, or gonum).
func Backend() string { return blas.Backend() }
