//go:build cgo && !noopenblas

package blas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// Backend names the BLAS in use and, for OpenBLAS, the kernel family it
// picked for this CPU (OPENBLAS_CORETYPE overrides it).
func Backend() string {
	return "OpenBLAS " + C.GoString(C.openblas_get_config()) + " core " + C.GoString(C.openblas_get_corename())
}

// OpenBLAS runs on the calling thread only: accel splits work itself, and
// OpenBLAS's own pthread workers busy-wait between calls.
func init() { C.openblas_set_num_threads(1) }

func trans(t blas.Transpose) C.enum_CBLAS_TRANSPOSE {
	if t == blas.NoTrans {
		return C.CblasNoTrans
	}
	return C.CblasTrans
}

// The pointers passed to C point into Go slices for the duration of the
// call only (cgo pointer rules); the checks in blas.go guarantee bounds.

func sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var pa, pb *float32
	if k > 0 {
		pa, pb = unsafe.SliceData(a), unsafe.SliceData(b)
	}
	C.cblas_sgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(pa), C.blasint(lda), (*C.float)(pb), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.SliceData(c)), C.blasint(ldc))
}

func sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	C.cblas_sgemv(C.CblasRowMajor, trans(tA), C.blasint(m), C.blasint(n), C.float(alpha),
		(*C.float)(unsafe.SliceData(a)), C.blasint(lda), (*C.float)(unsafe.SliceData(x)), C.blasint(incX),
		C.float(beta), (*C.float)(unsafe.SliceData(y)), C.blasint(incY))
}

func dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	var pa, pb *float64
	if k > 0 {
		pa, pb = unsafe.SliceData(a), unsafe.SliceData(b)
	}
	C.cblas_dgemm(C.CblasRowMajor, trans(tA), trans(tB), C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), (*C.double)(pa), C.blasint(lda), (*C.double)(pb), C.blasint(ldb),
		C.double(beta), (*C.double)(unsafe.SliceData(c)), C.blasint(ldc))
}

func dgemv(tA blas.Transpose, m, n int, alpha float64, a []float64, lda int, x []float64, incX int, beta float64, y []float64, incY int) {
	C.cblas_dgemv(C.CblasRowMajor, trans(tA), C.blasint(m), C.blasint(n), C.double(alpha),
		(*C.double)(unsafe.SliceData(a)), C.blasint(lda), (*C.double)(unsafe.SliceData(x)), C.blasint(incX),
		C.double(beta), (*C.double)(unsafe.SliceData(y)), C.blasint(incY))
}
