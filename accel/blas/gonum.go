//go:build !cgo || noopenblas

package blas

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Backend names the BLAS in use.
func Backend() string { return "gonum (pure Go; built without OpenBLAS)" }

var native gonum.Implementation

// gonum's Sgemm starts goroutines of its own for large products (so it
// allocates); the kernels call it on blocks small enough that it rarely does.

func sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	native.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	native.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

func dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	native.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemv(tA blas.Transpose, m, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	native.Dgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
}

func coreName() string { return "" }

// Packed products need OpenBLAS's kernels.
func havePacked() bool { return false }

func packA(ml, rows int, w []float32, ld, ls int, kContig bool, dst []float32) { panic("unreachable") }
func packB(ml, rows int, w []float32, ld, ls int, kContig bool, dst []float32) { panic("unreachable") }
func convPacked(p *Packed, j0, j1, n int, x []float32, ldx int, c []float32, ldc int, sa []float32) {
	panic("unreachable")
}
func convDirect(p *Packed, j0, j1 int, g *ConvGeom, img []float32, q0, n int, c []float32, ldc int, sa []float32) {
	panic("unreachable")
}
func gemmPacked(p *Packed, i0, i1, n int, alpha float32, x []float32, ldx int, kContig bool, c []float32, ldc int, sb []float32) {
	panic("unreachable")
}
