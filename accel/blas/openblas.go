//go:build cgo && !noopenblas

package blas

/*
#cgo LDFLAGS: -lopenblas -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <cblas.h>
#include <immintrin.h>

// OpenBLAS's SkylakeX SGEMM building blocks (exported by DYNAMIC_ARCH
// builds), found at start-up: the micro-kernel (C += alpha*A*B on packed
// A and B, C column-major) and the copy routines that pack its operands.
typedef int (*gannet_kern_t)(long m, long n, long k, float alpha, float *a, float *b, float *c, long ldc);
typedef int (*gannet_copy_t)(long m, long n, float *a, long lda, float *b);
static gannet_kern_t gannet_kern;
static gannet_copy_t gannet_incopy, gannet_itcopy, gannet_oncopy, gannet_otcopy;

static int gannet_packed_init(void) {
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
	    !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
		return 0;
	gannet_kern = (gannet_kern_t)dlsym(RTLD_DEFAULT, "sgemm_kernel_SKYLAKEX");
	gannet_incopy = (gannet_copy_t)dlsym(RTLD_DEFAULT, "sgemm_incopy_SKYLAKEX");
	gannet_itcopy = (gannet_copy_t)dlsym(RTLD_DEFAULT, "sgemm_itcopy_SKYLAKEX");
	gannet_oncopy = (gannet_copy_t)dlsym(RTLD_DEFAULT, "sgemm_oncopy_SKYLAKEX");
	gannet_otcopy = (gannet_copy_t)dlsym(RTLD_DEFAULT, "sgemm_otcopy_SKYLAKEX");
	return gannet_kern && gannet_incopy && gannet_itcopy && gannet_oncopy && gannet_otcopy;
}

// Packing a k-chunk [ls, ls+ml) of a rows x K matrix w (element (r, k) at
// w[r*ld+k] when kcontig, else w[k*ld+r]) as the kernel's A or B operand.
static void gannet_pack(int asA, long ml, long rows, const float *w, long ld, long ls, int kcontig, float *dst) {
	if (asA) {
		if (kcontig) gannet_incopy(ml, rows, (float *)w + ls, ld, dst);
		else gannet_itcopy(ml, rows, (float *)w + ls * ld, ld, dst);
	} else {
		if (kcontig) gannet_oncopy(ml, rows, (float *)w + ls, ld, dst);
		else gannet_otcopy(ml, rows, (float *)w + ls * ld, ld, dst);
	}
}

// C[j, i] += sum_k W[j, k] X[k, i], j in [j0, j1), i in [0, n): W packed as
// B (chunks of kc, stride values apart, rows channels), X row-major (ldx),
// C row-major (ldc), i.e. column-major n x channels for the kernel.
static void gannet_conv_packed(long K, long kc, long stride, long rows, const float *pw, long j0, long j1,
                               long n, const float *x, long ldx, float *c, long ldc, float *sa, long mc) {
	for (long is = 0; is < n; is += mc) {
		long mi = n - is < mc ? n - is : mc;
		for (long ls = 0; ls < K; ls += kc) {
			long ml = K - ls < kc ? K - ls : kc;
			gannet_itcopy(ml, mi, (float *)x + ls * ldx + is, ldx, sa);
			gannet_kern(mi, j1 - j0, ml, 1.0f, sa, (float *)pw + (ls / kc) * stride + ml * j0, c + j0 * ldc + is, ldc);
		}
	}
}

// A convolution's geometry, for packing its patch matrix straight from the
// images: X[k, q] with k = (ci*KH + kh)*KW + kw over the C channels of
// one group, and q an output pixel of image q/OHW, counted from the first
// image given; images are istride values apart.
typedef struct {
	long C, H, W, KH, KW, SH, SW, PT, PL, DH, DW, OW, OHW, istride;
} gannet_geom;

// gannet_pack_direct writes pixels [q, q+w) x k in [ls, ls+ml) of the patch
// matrix in the layout of gannet_itcopy (w values per k, k after k), with
// zeros for the padding: im2col and the packing copy in one pass, so the
// patch matrix never exists. w is 16 (vector loads or gathers) or a tail
// width (8, 4, 2, 1).
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
static void gannet_pack_direct(const gannet_geom *g, const float *img, long q, long w, long ls, long ml, float *dst) {
	int base[16], iy0[16], ix0[16];
	for (long i = 0; i < w; i++) {
		long n = (q + i) / g->OHW, r = (q + i) % g->OHW;
		long oy = r / g->OW, ox = r % g->OW;
		iy0[i] = (int)(oy * g->SH - g->PT);
		ix0[i] = (int)(ox * g->SW - g->PL);
		base[i] = (int)(n * g->istride + (long)iy0[i] * g->W + ix0[i]);
	}
	long kk = g->KH * g->KW, hw = g->H * g->W;
	long ci = ls / kk, kh = ls % kk / g->KW, kw = ls % g->KW;
	if (w == 16) {
		// One row of one image at stride 1: each k is one masked load.
		int row = g->SW == 1 && iy0[15] == iy0[0] && base[15] - base[0] == 15;
		__m512i vb = _mm512_loadu_si512(base), vy = _mm512_loadu_si512(iy0), vx = _mm512_loadu_si512(ix0);
		__m512i vh = _mm512_set1_epi32((int)g->H), vw = _mm512_set1_epi32((int)g->W);
		__m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
		for (long k = 0; k < ml; k++) {
			long dy = kh * g->DH, dx = kw * g->DW, koff = ci * hw + dy * g->W + dx;
			__m512 v;
			if (row) {
				long iy = iy0[0] + dy;
				if (iy < 0 || iy >= g->H) {
					v = _mm512_setzero_ps();
				} else {
					__m512i ix = _mm512_add_epi32(_mm512_set1_epi32((int)(ix0[0] + dx)), lane);
					__mmask16 m = _mm512_cmplt_epu32_mask(ix, vw);
					v = _mm512_maskz_loadu_ps(m, img + base[0] + koff);
				}
			} else {
				__m512i iy = _mm512_add_epi32(vy, _mm512_set1_epi32((int)dy));
				__m512i ix = _mm512_add_epi32(vx, _mm512_set1_epi32((int)dx));
				__mmask16 m = _mm512_cmplt_epu32_mask(iy, vh) & _mm512_cmplt_epu32_mask(ix, vw);
				__m512i idx = _mm512_add_epi32(vb, _mm512_set1_epi32((int)koff));
				v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, img, 4);
			}
			_mm512_storeu_ps(dst + k * 16, v);
			if (++kw == g->KW) {
				kw = 0;
				if (++kh == g->KH) {
					kh = 0;
					ci++;
				}
			}
		}
		return;
	}
	for (long k = 0; k < ml; k++) {
		long dy = kh * g->DH, dx = kw * g->DW, koff = ci * hw + dy * g->W + dx;
		for (long i = 0; i < w; i++) {
			long iy = iy0[i] + dy, ix = ix0[i] + dx;
			dst[k * w + i] = iy >= 0 && iy < g->H && ix >= 0 && ix < g->W ? img[base[i] + koff] : 0.0f;
		}
		if (++kw == g->KW) {
			kw = 0;
			if (++kh == g->KH) {
				kh = 0;
				ci++;
			}
		}
	}
}

// gannet_conv_direct is gannet_conv_packed with X the patch matrix of
// pixels [q0, q0+n) of the images at img, packed from them block by block.
// The geometry comes as scalars: a pointer to a Go value would move it to
// the heap.
static void gannet_conv_direct(long gC, long gH, long gW, long gKH, long gKW, long gSH, long gSW, long gPT, long gPL,
                               long gDH, long gDW, long gOW, long gOHW, long gistride,
                               const float *img, long q0, long n, long K, long kc, long stride,
                               const float *pw, long j0, long j1, float *c, long ldc, float *sa, long mc) {
	gannet_geom geom = {gC, gH, gW, gKH, gKW, gSH, gSW, gPT, gPL, gDH, gDW, gOW, gOHW, gistride};
	const gannet_geom *g = &geom;
	for (long is = 0; is < n; is += mc) {
		long mi = n - is < mc ? n - is : mc;
		for (long ls = 0; ls < K; ls += kc) {
			long ml = K - ls < kc ? K - ls : kc;
			float *d = sa;
			long p = 0;
			for (; mi - p >= 16; p += 16, d += 16 * ml)
				gannet_pack_direct(g, img, q0 + is + p, 16, ls, ml, d);
			for (long w = 8; w >= 1; w >>= 1)
				if ((mi - p) & w) {
					gannet_pack_direct(g, img, q0 + is + p, w, ls, ml, d);
					p += w;
					d += w * ml;
				}
			gannet_kern(mi, j1 - j0, ml, 1.0f, sa, (float *)pw + (ls / kc) * stride + ml * j0, c + j0 * ldc + is, ldc);
		}
	}
}

// C[b, i] += alpha * sum_k W[i, k] X(b, k), i in [i0, i1), b in [0, n): W
// packed as A (rows features), X(b, k) = x[b*ldx+k] when kcontig else
// x[k*ldx+b], C row-major [n, ldc], i.e. column-major features x n.
static void gannet_gemm_packed(long K, long kc, long stride, const float *pw, long i0, long i1, long n, float alpha,
                               const float *x, long ldx, int kcontig, float *c, long ldc, float *sb, long nc, long mc) {
	for (long js = 0; js < n; js += nc) {
		long nj = n - js < nc ? n - js : nc;
		for (long ls = 0; ls < K; ls += kc) {
			long ml = K - ls < kc ? K - ls : kc;
			if (kcontig) gannet_oncopy(ml, nj, (float *)x + js * ldx + ls, ldx, sb);
			else gannet_otcopy(ml, nj, (float *)x + ls * ldx + js, ldx, sb);
			const float *a = pw + (ls / kc) * stride;
			for (long is = i0; is < i1; is += mc) {
				long mi = i1 - is < mc ? i1 - is : mc;
				gannet_kern(mi, nj, ml, alpha, (float *)a + ml * is, sb, c + js * ldc + is, ldc);
			}
		}
	}
}
*/
import "C"

import (
	"unsafe"

	"gonum.org/v1/gonum/blas"
)

// Backend names the BLAS in use and, for OpenBLAS, the kernel family it
// picked for this CPU (OPENBLAS_CORETYPE overrides it).
func Backend() string {
	s := "OpenBLAS " + C.GoString(C.openblas_get_config()) + " core " + C.GoString(C.openblas_get_corename())
	if packOK {
		s += "; packed weights on the SkylakeX (AVX-512) kernel"
	}
	return s
}

// OpenBLAS runs on the calling thread only: accel splits work itself, and
// OpenBLAS's own pthread workers busy-wait between calls.
func init() { C.openblas_set_num_threads(1) }

func coreName() string { return C.GoString(C.openblas_get_corename()) }

func havePacked() bool { return C.gannet_packed_init() != 0 }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func packA(ml, rows int, w []float32, ld, ls int, kContig bool, dst []float32) {
	C.gannet_pack(1, C.long(ml), C.long(rows), (*C.float)(unsafe.SliceData(w)), C.long(ld), C.long(ls), cbool(kContig),
		(*C.float)(unsafe.SliceData(dst)))
}

func packB(ml, rows int, w []float32, ld, ls int, kContig bool, dst []float32) {
	C.gannet_pack(0, C.long(ml), C.long(rows), (*C.float)(unsafe.SliceData(w)), C.long(ld), C.long(ls), cbool(kContig),
		(*C.float)(unsafe.SliceData(dst)))
}

func convPacked(p *Packed, j0, j1, n int, x []float32, ldx int, c []float32, ldc int, sa []float32) {
	C.gannet_conv_packed(C.long(p.K), C.long(p.kc), C.long(p.stride), C.long(p.Rows), (*C.float)(unsafe.SliceData(p.data)),
		C.long(j0), C.long(j1), C.long(n), (*C.float)(unsafe.SliceData(x)), C.long(ldx),
		(*C.float)(unsafe.SliceData(c)), C.long(ldc), (*C.float)(unsafe.SliceData(sa)), packMC)
}

func convDirect(p *Packed, j0, j1 int, g *ConvGeom, img []float32, q0, n int, c []float32, ldc int, sa []float32) {
	C.gannet_conv_direct(C.long(g.C), C.long(g.H), C.long(g.W), C.long(g.KH), C.long(g.KW), C.long(g.SH), C.long(g.SW),
		C.long(g.PT), C.long(g.PL), C.long(g.DH), C.long(g.DW), C.long(g.OW), C.long(g.OHW), C.long(g.ImageStride),
		(*C.float)(unsafe.SliceData(img)), C.long(q0), C.long(n), C.long(p.K), C.long(p.kc),
		C.long(p.stride), (*C.float)(unsafe.SliceData(p.data)), C.long(j0), C.long(j1),
		(*C.float)(unsafe.SliceData(c)), C.long(ldc), (*C.float)(unsafe.SliceData(sa)), packMC)
}

func gemmPacked(p *Packed, i0, i1, n int, alpha float32, x []float32, ldx int, kContig bool, c []float32, ldc int, sb []float32) {
	C.gannet_gemm_packed(C.long(p.K), C.long(p.kc), C.long(p.stride), (*C.float)(unsafe.SliceData(p.data)),
		C.long(i0), C.long(i1), C.long(n), C.float(alpha), (*C.float)(unsafe.SliceData(x)), C.long(ldx), cbool(kContig),
		(*C.float)(unsafe.SliceData(c)), C.long(ldc), (*C.float)(unsafe.SliceData(sb)), packNC, packMC)
}

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
