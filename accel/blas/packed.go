package blas

import (
	"fmt"
	"math"
	"os"
	"unsafe"
)

// Packed products. A model's weights are the same matrix in every run, so
// they are packed once, at load, into the layout the GEMM micro-kernel reads
// (OpenBLAS's SkylakeX AVX-512 SGEMM kernel, called directly: the
// environment's OPENBLAS_CORETYPE may hold OpenBLAS's own calls to AVX2
// kernels, which also pack both operands again in every call). A product
// with packed weights then packs only the other operand, block by block,
// and runs the kernel on it.
//
// Packed products exist where the CPU has AVX-512 (F, BW, DQ, VL) and the
// OpenBLAS library exports its SkylakeX kernels (a DYNAMIC_ARCH build, as
// Debian's), and only when GANNET_PACKED_GEMM=1 is in the environment: the
// project runs OpenBLAS with OPENBLAS_CORETYPE=Haswell because older builds
// have computed wrong results with the kernels they pick on these CPUs, so
// the AVX-512 kernel is opt-in (a self-check against plain loops runs at
// start-up, and `make bench-engine` checks the models' outputs in the same
// run). Elsewhere PackAvailable is false and callers use Sgemm.

// Block sizes: K is cut into chunks of at most packKC (the packed weights
// are stored chunk by chunk); the operand packed per call is cut into
// blocks of at most packMC rows (about 384 KiB with a full chunk: it stays
// in L2 while the kernel streams the weights past it).
const (
	packKC = 256
	packMC = 384
	packNC = 384
)

// Packed is a weight matrix packed for the micro-kernel: either as the
// kernel's A operand (slivers of 16 rows: Gemm weights, whose rows are the
// output features) or as its B operand (slivers of 4: convolution weights,
// whose rows are the output channels). Rows is the packed dimension, K the
// inner one. Read-only once made: safe for concurrent use.
type Packed struct {
	Rows, K int
	asA     bool
	kc      int // K chunk
	stride  int // values per chunk (all Rows), a multiple of 16
	data    []float32
	buf     []float32 // owns data (data is buf's 64-byte aligned view)
	src     []float32 // the matrix packed: kept alive with its copy
}

// PackAvailable reports whether packed products run here.
func PackAvailable() bool { return packOK }

var packOK bool

func init() {
	if havePacked() && os.Getenv("GANNET_PACKED_GEMM") == "1" {
		packOK = true // for the check's calls
		packOK = packSelfCheck()
	}
}

// packSelfCheck runs a small product of each kind, with every kind of tail
// and two K chunks, against plain loops: a library whose kernels do not do
// what this package expects is not used.
func packSelfCheck() (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	const rows, n, k = 22, 37, packKC + 45
	w, x := make([]float32, rows*k), make([]float32, k*n)
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	want := make([]float32, rows*n) // want[r*n+i] = sum_l w[r, l] x[l, i]
	for r := 0; r < rows; r++ {
		for i := 0; i < n; i++ {
			var s float32
			for l := 0; l < k; l++ {
				s += w[r*k+l] * x[l*n+i]
			}
			want[r*n+i] = s
		}
	}
	scratch := make([]float32, PackScratchLen())
	c := make([]float32, rows*n)
	ConvPacked(PackB(w, k, rows, k, true), 0, rows, n, x, n, c, n, scratch)
	for i := range c {
		if c[i] != want[i] { // small integers: exact
			return false
		}
	}
	// Gemm: C[b, r] = sum_l W[r, l] X(b, l) with X(b, l) = x[l*n+b].
	c = make([]float32, n*rows)
	GemmPacked(PackA(w, k, rows, k, true), 0, rows, n, 1, x, n, false, c, rows, scratch)
	for b := 0; b < n; b++ {
		for r := 0; r < rows; r++ {
			if c[b*rows+r] != want[r*n+b] {
				return false
			}
		}
	}
	return true
}

// chunking returns the K chunk for k: chunks of equal size, at most packKC.
func chunking(k int) (kc, chunks int) {
	chunks = (k + packKC - 1) / packKC
	kc = (k + chunks - 1) / chunks
	return kc, chunks
}

func newPacked(rows, k int, asA bool) *Packed {
	kc, chunks := chunking(k)
	p := &Packed{Rows: rows, K: k, asA: asA, kc: kc, stride: (kc*rows + 15) / 16 * 16}
	p.buf = make([]float32, p.stride*chunks+packSlack)
	p.data = aligned64(p.buf, p.stride*chunks)
	return p
}

// aligned64 returns n values of buf starting at a 64-byte boundary (buf
// must hold n+16).
func aligned64(buf []float32, n int) []float32 {
	if len(buf) < n+16 {
		panic(fmt.Sprintf("accel/blas: aligned buffer of %d values, want %d", len(buf), n+16))
	}
	off := 0
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(buf))) % 64; a != 0 {
		off = int((64 - a) / 4)
	}
	return buf[off : off+n]
}

// PackA packs the rows x k matrix W as the kernel's A operand: W is [rows,
// k] row-major (ld) when kContig, else [k, rows] row-major (ld). Nil when
// packing is not available.
func PackA(w []float32, ld, rows, k int, kContig bool) *Packed {
	if !packOK || rows < 1 || k < 1 {
		return nil
	}
	checkPack(w, ld, rows, k, kContig)
	p := newPacked(rows, k, true)
	p.src = w
	for ls := 0; ls < k; ls += p.kc {
		ml := min(p.kc, k-ls)
		packA(ml, rows, w, ld, ls, kContig, p.data[ls/p.kc*p.stride:])
	}
	return p
}

// PackB packs the rows x k matrix W as the kernel's B operand: W is [rows,
// k] row-major (ld) when kContig (a convolution's weights [M, C*KH*KW]),
// else [k, rows]. Nil when packing is not available.
func PackB(w []float32, ld, rows, k int, kContig bool) *Packed {
	if !packOK || rows < 1 || k < 1 {
		return nil
	}
	checkPack(w, ld, rows, k, kContig)
	p := newPacked(rows, k, false)
	p.src = w
	for ls := 0; ls < k; ls += p.kc {
		ml := min(p.kc, k-ls)
		packB(ml, rows, w, ld, ls, kContig, p.data[ls/p.kc*p.stride:])
	}
	return p
}

func checkPack(w []float32, ld, rows, k int, kContig bool) {
	r, c := rows, k
	if !kContig {
		r, c = k, rows
	}
	if ld < c || len(w) < need(r, c, ld) {
		panic(fmt.Sprintf("accel/blas: pack: %d values with ld %d for %dx%d", len(w), ld, r, c))
	}
}

// PackScratchLen is the scratch (values) one ConvPacked or GemmPacked call
// needs: one block of the operand packed per call, plus alignment.
func PackScratchLen() int { return max(packMC, packNC)*packKC + packSlack }

// packSlack is the room past each packed block: 64-byte alignment plus a
// margin for the kernel's vector reads at the end of a block.
const packSlack = 16 + 64

// ConvPacked adds W[j0:j1] * X to C, with W packed as B (Rows = output
// channels) and X [K, n] row-major (ldx): C[j, i] += sum_k W[j, k] X[k, i]
// for j in [j0, j1), i in [0, n); C row-major (ldc). j0 must be a
// multiple of 4 (j1 too, unless it is Rows). On the calling goroutine.
func ConvPacked(p *Packed, j0, j1, n int, x []float32, ldx int, c []float32, ldc int, scratch []float32) {
	if p != nil && j0 == j1 && j1 <= p.Rows {
		return
	}
	if p == nil || p.asA || j0 < 0 || j0%4 != 0 || j1 > p.Rows || (j1%4 != 0 && j1 != p.Rows) || n < 0 ||
		ldx < n || ldc < n {
		panic(fmt.Sprintf("accel/blas: ConvPacked: bad arguments j=[%d,%d) n=%d ldx=%d ldc=%d", j0, j1, n, ldx, ldc))
	}
	if j0 >= j1 || n == 0 {
		return
	}
	if len(x) < need(p.K, n, ldx) || len(c) < need(j1, n, ldc) {
		panic(fmt.Sprintf("accel/blas: ConvPacked: slices too short (x %d, c %d)", len(x), len(c)))
	}
	sa := aligned64(scratch, packMC*packKC)
	convPacked(p, j0, j1, n, x, ldx, c, ldc, sa)
}

// ConvGeom is a convolution's geometry for ConvDirect: the patch matrix
// X[k, q] of C input channels (one group) of H x W images, a KH x KW
// kernel with strides SH, SW, top and left padding PT, PL and dilations
// DH, DW, with k = (ci*KH + kh)*KW + kw (the order of a weight row) and q
// an output pixel (OHW per image, OW per row) of image q/OHW, counted from
// the first image given. Images are ImageStride values apart.
type ConvGeom struct {
	C, H, W, KH, KW, SH, SW, PT, PL, DH, DW int
	OW, OHW, ImageStride                    int
}

// ConvDirect is ConvPacked with X the patch matrix of pixels [q0, q0+n)
// of the images at img, never written out: each block of it is packed
// straight from the images (zeros for the padding) into scratch, the
// layout the kernel reads, so a convolution needs no im2col pass and no
// patch-matrix buffer. p must be packed from weights with K = C*KH*KW.
func ConvDirect(p *Packed, j0, j1 int, g *ConvGeom, img []float32, q0, n int, c []float32, ldc int, scratch []float32) {
	if p != nil && j0 == j1 && j1 <= p.Rows {
		return
	}
	if p == nil || p.asA || j0 < 0 || j0%4 != 0 || j1 > p.Rows || (j1%4 != 0 && j1 != p.Rows) || n < 0 || q0 < 0 ||
		ldc < n || g.C*g.KH*g.KW != p.K || g.OW < 1 || g.OHW < g.OW || g.SH < 1 || g.SW < 1 || g.DH < 1 || g.DW < 1 ||
		g.ImageStride < g.C*g.H*g.W {
		panic(fmt.Sprintf("accel/blas: ConvDirect: bad arguments j=[%d,%d) q0=%d n=%d ldc=%d K=%d geom %+v", j0, j1, q0, n, ldc, p.K, *g))
	}
	if j0 >= j1 || n == 0 {
		return
	}
	images := (q0+n-1)/g.OHW + 1
	if len(img) < (images-1)*g.ImageStride+g.C*g.H*g.W || len(c) < need(j1, n, ldc) {
		panic(fmt.Sprintf("accel/blas: ConvDirect: slices too short (img %d, c %d)", len(img), len(c)))
	}
	if images*g.ImageStride > math.MaxInt32 {
		panic("accel/blas: ConvDirect: images too large for 32-bit offsets")
	}
	sa := aligned64(scratch, packMC*packKC)
	convDirect(p, j0, j1, g, img, q0, n, c, ldc, sa)
}

// ConvDirectFits reports whether ConvDirect can address images of this
// many values in all (its offsets are 32-bit).
func ConvDirectFits(values int) bool { return values <= math.MaxInt32 }

// GemmPacked adds alpha * W[i0:i1] * op(X) to C, with W packed as A (Rows
// = output features): C[b, i] += alpha * sum_k W[i, k] X(b, k) for i in
// [i0, i1), b in [0, n), with X(b, k) = x[b*ldx+k] when kContig, else
// x[k*ldx+b]; C row-major [n, ldc] (a Linear layer's output). i0 must be a
// multiple of 16 (i1 too, unless it is Rows). On the calling goroutine.
func GemmPacked(p *Packed, i0, i1, n int, alpha float32, x []float32, ldx int, kContig bool, c []float32, ldc int, scratch []float32) {
	if p != nil && i0 == i1 && i1 <= p.Rows {
		return
	}
	if p == nil || !p.asA || i0 < 0 || i0%16 != 0 || i1 > p.Rows || (i1%16 != 0 && i1 != p.Rows) || n < 0 || ldc < i1 {
		panic(fmt.Sprintf("accel/blas: GemmPacked: bad arguments i=[%d,%d) n=%d ldc=%d", i0, i1, n, ldc))
	}
	if i0 >= i1 || n == 0 {
		return
	}
	xr, xc := n, p.K
	if !kContig {
		xr, xc = p.K, n
	}
	if ldx < xc || len(x) < need(xr, xc, ldx) || len(c) < need(n, i1, ldc) {
		panic(fmt.Sprintf("accel/blas: GemmPacked: slices too short (x %d, c %d)", len(x), len(c)))
	}
	sb := aligned64(scratch, packNC*packKC)
	gemmPacked(p, i0, i1, n, alpha, x, ldx, kContig, c, ldc, sb)
}
