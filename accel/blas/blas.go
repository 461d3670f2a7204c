// Package blas is accel's BLAS: OpenBLAS through cgo in the default build,
// gonum's pure-Go BLAS with the build tag noopenblas (or without cgo), so
// the project builds without the C library.
//
// It owns the BLAS threading policy: OpenBLAS is told to use one thread
// (its pthread workers would otherwise spin after every call, competing
// with Go), and the level-3 calls large enough to pay for it are split into
// row or column blocks run on accel's worker pool (package
// accel/internal/parallel). Sgemm and Sgemv are the raw single-threaded
// calls the kernels use on their own blocks; Implementation is the
// gorgonia.BLAS / gonum blas.Float32+Float64 value to install with Install.
//
// All functions are safe for concurrent use. They panic, as gonum's do, on
// arguments that do not describe matrices within the given slices; the
// checks run before any C code touches memory.
package blas

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"

	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

// Implementation is a gorgonia.BLAS: gonum's pure-Go BLAS with the matrix
// products of float32 and float64 (Sgemm, Sgemv, Dgemm, Dgemv) replaced by
// accel's (OpenBLAS unless built with noopenblas; large Sgemm and Dgemm
// split across accel's worker pool).
type Implementation struct {
	gonum.Implementation
}

var _ G.BLAS = Implementation{}

// Install makes Implementation gorgonia's (and gorgonia's tensor package's)
// BLAS. Call it once at start-up, before building graphs.
func Install() { G.Use(Implementation{}) }

// ParallelMACs is the size (m*n*k multiply-adds) from which
// Implementation.Sgemm and Dgemm split a product across the worker pool.
const ParallelMACs = 1 << 17

// Sgemm computes C = alpha * op(A) * op(B) + beta * C on row-major
// matrices, op(A) m x k, op(B) k x n, on the calling goroutine only.
func Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("Sgemm", tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sgemv computes y = alpha * op(A) * x + beta * y, A m x n row-major, on
// the calling goroutine only.
func Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	checkGemv("Sgemv", tA, m, n, len(a), lda, len(x), incX, len(y), incY)
	if m == 0 || n == 0 {
		return
	}
	sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

// Sgemm is Sgemm above, split across the worker pool when large.
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("Sgemm", tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	parts := parallel.Parts(m*n*k, ParallelMACs)
	if parts == 1 || (m < 2*parts && n < 16*parts) {
		sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	t := sgemmTasks.Get()
	*t = sgemmTask{tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, byRows: m >= 2*parts}
	parallel.Run(parts, t)
	*t = sgemmTask{}
	sgemmTasks.Put(t)
}

// Sgemv is Sgemv above (a matrix-vector product is memory-bound; it is not
// split).
func (Implementation) Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

// Dgemm is the float64 Sgemm (never split: the engine computes in float32).
func (Implementation) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm("Dgemm", tA, tB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemv is the float64 Sgemv.
func (Implementation) Dgemv(tA blas.Transpose, m, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	checkGemv("Dgemv", tA, m, n, len(a), lda, len(x), incX, len(y), incY)
	if m == 0 || n == 0 {
		return
	}
	dgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

type sgemmTask struct {
	tA, tB        blas.Transpose
	m, n, k       int
	alpha, beta   float32
	a, b, c       []float32
	lda, ldb, ldc int
	byRows        bool
}

var sgemmTasks parallel.Free[sgemmTask]

// Run computes one block of rows (or of columns) of C.
func (t *sgemmTask) Run(part, parts int) {
	if t.byRows {
		lo, hi := parallel.Range(t.m, part, parts)
		if lo == hi {
			return
		}
		a := t.a[lo*t.lda:] // row lo of A
		if t.tA != blas.NoTrans {
			a = t.a[lo:] // column lo of A (A is k x m)
		}
		sgemm(t.tA, t.tB, hi-lo, t.n, t.k, t.alpha, a, t.lda, t.b, t.ldb, t.beta, t.c[lo*t.ldc:], t.ldc)
		return
	}
	// Columns in blocks of 16 so each part's kernel works on whole panels.
	blocks := (t.n + 15) / 16
	lo, hi := parallel.Range(blocks, part, parts)
	lo, hi = lo*16, min(hi*16, t.n)
	if lo >= hi {
		return
	}
	b := t.b[lo:] // column lo of B (B is k x n)
	if t.tB != blas.NoTrans {
		b = t.b[lo*t.ldb:] // row lo of B (B is n x k)
	}
	sgemm(t.tA, t.tB, t.m, hi-lo, t.k, t.alpha, t.a, t.lda, b, t.ldb, t.beta, t.c[lo:], t.ldc)
}

// need returns the slice length a rows x cols row-major matrix with leading
// dimension ld occupies.
func need(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return ld*(rows-1) + cols
}

func checkGemm(fn string, tA, tB blas.Transpose, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if !validT(tA) || !validT(tB) {
		panic(fmt.Sprintf("accel/blas: %s: bad transpose", fn))
	}
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("accel/blas: %s: negative size m=%d n=%d k=%d", fn, m, n, k))
	}
	ar, ac := m, k
	if tA != blas.NoTrans {
		ar, ac = k, m
	}
	br, bc := k, n
	if tB != blas.NoTrans {
		br, bc = n, k
	}
	if lda < max(1, ac) || ldb < max(1, bc) || ldc < max(1, n) {
		panic(fmt.Sprintf("accel/blas: %s: bad leading dimension lda=%d ldb=%d ldc=%d", fn, lda, ldb, ldc))
	}
	if m == 0 || n == 0 {
		return
	}
	if la < need(ar, ac, lda) || lb < need(br, bc, ldb) || lc < need(m, n, ldc) {
		panic(fmt.Sprintf("accel/blas: %s: slice too short (len a=%d b=%d c=%d for m=%d n=%d k=%d)", fn, la, lb, lc, m, n, k))
	}
}

func checkGemv(fn string, tA blas.Transpose, m, n, la, lda, lx, incX, ly, incY int) {
	if !validT(tA) {
		panic(fmt.Sprintf("accel/blas: %s: bad transpose", fn))
	}
	if m < 0 || n < 0 || lda < max(1, n) || incX == 0 || incY == 0 {
		panic(fmt.Sprintf("accel/blas: %s: bad size m=%d n=%d lda=%d incX=%d incY=%d", fn, m, n, lda, incX, incY))
	}
	if m == 0 || n == 0 {
		return
	}
	lenX, lenY := n, m
	if tA != blas.NoTrans {
		lenX, lenY = m, n
	}
	if la < need(m, n, lda) || lx < 1+(lenX-1)*abs(incX) || ly < 1+(lenY-1)*abs(incY) {
		panic(fmt.Sprintf("accel/blas: %s: slice too short", fn))
	}
}

func validT(t blas.Transpose) bool {
	return t == blas.NoTrans || t == blas.Trans || t == blas.ConjTrans
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
