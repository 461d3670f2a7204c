package kernels

import (
	"fmt"

	gblas "gonum.org/v1/gonum/blas"

	"github.com/gannet-ml/gannet/accel/blas"
	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

// BiasKind says how Gemm's bias (ONNX Gemm's C) broadcasts to [M, N].
type BiasKind uint8

const (
	BiasNone   BiasKind = iota
	BiasRow             // [N]: one value per output column (a Linear layer's bias)
	BiasCol             // [M, 1]: one value per row
	BiasFull            // [M, N]
	BiasScalar          // one value
)

// Len is the number of values a bias of this kind holds for an M x N output.
func (k BiasKind) Len(m, n int) int {
	switch k {
	case BiasRow:
		return n
	case BiasCol:
		return m
	case BiasFull:
		return m * n
	case BiasScalar:
		return 1
	}
	return 0
}

// GemmParams describes dst = act(Alpha * op(A) * op(B) + Beta * bias) with
// op(A) M x K, op(B) K x N, dst M x N, all row-major. A is [M, K] ([K, M]
// with TransA); B is [K, N] ([N, K] with TransB, the layout of an ONNX or
// PyTorch Linear weight). Alpha and Beta are used as given (set them to 1
// for a plain product plus bias).
type GemmParams struct {
	M, N, K        int
	TransA, TransB bool
	Alpha, Beta    float32
	Bias           BiasKind
	Act            Act
	// Packed: B comes packed (GemmPacked): the product runs on the packed
	// AVX-512 kernel.
	Packed bool
}

// PackGemmB packs B (op(B) K x N: the weights) for GemmPacked, or returns
// nil where packed products are not available.
//
// A product of one row (a Linear layer at batch 1) is a matrix-vector
// product, faster on Sgemv: PackGemmB returns nil for it.
func PackGemmB(p GemmParams, b []float32) *blas.Packed {
	if !blas.PackAvailable() || p.Check() != nil || len(b) < p.K*p.N || p.M < 2 {
		return nil
	}
	if p.TransB {
		return blas.PackA(b, p.K, p.N, p.K, true) // [N, K]
	}
	return blas.PackA(b, p.N, p.N, p.K, false) // [K, N]
}

// GemmScratchLen is the scratch Gemm needs with n threads (the packed
// product's blocks; none otherwise).
func GemmScratchLen(p GemmParams, threads int) int {
	if !p.Packed {
		return 0
	}
	return max(1, threads) * blas.PackScratchLen()
}

// GemmPacked is Gemm with B packed by PackGemmB (pb, for these p and b);
// scratch holds GemmScratchLen(p, parallel.Threads()) values (fewer limits
// the parallelism).
func GemmPacked(p GemmParams, dst, a []float32, pb *blas.Packed, bias, scratch []float32) {
	if err := p.Check(); err != nil {
		panic("accel/kernels: " + err.Error())
	}
	if !p.Packed || pb == nil || pb.Rows != p.N || pb.K != p.K {
		panicf("gemm: packed call without matching packed weights")
	}
	if !(len(a) >= p.M*p.K && len(dst) >= p.M*p.N) {
		panicf("gemm: slices of %d, %d values for %dx%dx%d", len(a), len(dst), p.M, p.N, p.K)
	}
	if !(len(bias) >= p.Bias.Len(p.M, p.N)) {
		panicf("gemm: bias of %d values, want %d", len(bias), p.Bias.Len(p.M, p.N))
	}
	per := blas.PackScratchLen()
	parts := min(parallel.Parts(p.M*p.N*p.K, gemmMinMACs), (p.N+15)/16, len(scratch)/per)
	if parts < 1 {
		panicf("gemm: scratch of %d values, want at least %d", len(scratch), per)
	}
	t := gemmTasks.Get()
	*t = gemmTask{p: p, dst: dst, a: a, bias: bias, pb: pb, scratch: scratch}
	parallel.Run(parts, t)
	*t = gemmTask{}
	gemmTasks.Put(t)
}

// Check reports whether p describes a product the kernel can run.
func (p GemmParams) Check() error {
	if p.M < 1 || p.N < 1 || p.K < 1 {
		return fmt.Errorf("gemm: empty or negative size %dx%dx%d", p.M, p.N, p.K)
	}
	if p.Bias > BiasScalar {
		return fmt.Errorf("gemm: bad bias kind %d", p.Bias)
	}
	return nil
}

// Gemm computes dst = act(Alpha * op(A) * op(B) + Beta * bias). bias is
// nil for BiasNone, else holds p.Bias.Len(M, N) values. dst must not
// overlap a or b.
func Gemm(p GemmParams, dst, a, b, bias []float32) {
	if err := p.Check(); err != nil {
		panic("accel/kernels: " + err.Error())
	}
	if !(len(a) >= p.M*p.K && len(b) >= p.K*p.N && len(dst) >= p.M*p.N) {
		panicf("gemm: slices of %d, %d, %d values for %dx%dx%d", len(a), len(b), len(dst), p.M, p.N, p.K)
	}
	if !(len(bias) >= p.Bias.Len(p.M, p.N)) {
		panicf("gemm: bias of %d values, want %d", len(bias), p.Bias.Len(p.M, p.N))
	}
	parts := parallel.Parts(p.M*p.N*p.K, gemmMinMACs)
	// Few rows: the weights (B) dominate the traffic, so each part takes a
	// block of columns and reads only its share of B. Many rows: blocks
	// of rows.
	byRows := p.M >= 64 || p.N < 32*parts
	if byRows {
		parts = min(parts, p.M)
	}
	t := gemmTasks.Get()
	*t = gemmTask{p: p, dst: dst, a: a, b: b, bias: bias, byRows: byRows}
	parallel.Run(parts, t)
	*t = gemmTask{}
	gemmTasks.Put(t)
}

type gemmTask struct {
	p                        GemmParams
	dst, a, b, bias, scratch []float32
	pb                       *blas.Packed
	byRows                   bool
}

var gemmTasks parallel.Free[gemmTask]

func (t *gemmTask) Run(part, parts int) {
	p := &t.p
	if t.pb != nil {
		t.runPacked(part, parts)
		return
	}
	m0, m1, n0, n1 := 0, p.M, 0, p.N
	if t.byRows {
		m0, m1 = parallel.Range(p.M, part, parts)
	} else {
		blocks := (p.N + 15) / 16 // whole 16-column panels per part
		n0, n1 = parallel.Range(blocks, part, parts)
		n0, n1 = n0*16, min(n1*16, p.N)
	}
	if m0 >= m1 || n0 >= n1 {
		return
	}
	t.product(m0, m1, n0, n1)
	t.epilogue(m0, m1, n0, n1)
}

// runPacked computes a block of columns (output features, in whole
// slivers of 16) of every row: initialised to Beta * bias, the packed
// product added, then the activation.
func (t *gemmTask) runPacked(part, parts int) {
	p := &t.p
	n0, n1 := parallel.Range((p.N+15)/16, part, parts)
	n0, n1 = n0*16, min(n1*16, p.N)
	if n0 >= n1 {
		return
	}
	for i := 0; i < p.M; i++ {
		row := t.dst[i*p.N+n0 : i*p.N+n1]
		switch p.Bias {
		case BiasNone:
			clear(row)
		case BiasScalar:
			fill(row, p.Beta*t.bias[0])
		case BiasCol:
			fill(row, p.Beta*t.bias[i])
		case BiasRow, BiasFull:
			bias := t.bias[n0:n1]
			if p.Bias == BiasFull {
				bias = t.bias[i*p.N+n0 : i*p.N+n1]
			}
			if p.Beta == 1 {
				copy(row, bias)
			} else {
				for j := range row {
					row[j] = p.Beta * bias[j]
				}
			}
		}
	}
	ldx := p.K
	if p.TransA {
		ldx = p.M
	}
	per := blas.PackScratchLen()
	blas.GemmPacked(t.pb, n0, n1, p.M, p.Alpha, t.a, ldx, !p.TransA, t.dst, p.N, t.scratch[part*per:(part+1)*per])
	if p.Act.Kind != ActNone {
		for i := 0; i < p.M; i++ {
			biasAct(t.dst[i*p.N+n0:i*p.N+n1], 0, p.Act)
		}
	}
}

// fill sets every value of v to x (zero: a memclr; else doubling copies,
// which run as memmove).
func fill(v []float32, x float32) {
	if x == 0 {
		clear(v)
		return
	}
	if len(v) < 32 {
		for i := range v {
			v[i] = x
		}
		return
	}
	for i := range 16 {
		v[i] = x
	}
	for j := 16; j < len(v); j *= 2 {
		copy(v[j:], v[:j])
	}
}

// product computes rows [m0, m1) x columns [n0, n1) of Alpha * op(A) op(B).
func (t *gemmTask) product(m0, m1, n0, n1 int) {
	p := &t.p
	a, lda, tA := t.a[m0*p.K:], p.K, gblas.NoTrans
	if p.TransA {
		a, lda, tA = t.a[m0:], p.M, gblas.Trans
	}
	b, ldb, tB := t.b[n0:], p.N, gblas.NoTrans
	if p.TransB {
		b, ldb, tB = t.b[n0*p.K:], p.K, gblas.Trans
	}
	c := t.dst[m0*p.N+n0:]
	if m1-m0 == 1 && !p.TransA {
		// One row: a matrix-vector product, c = op(B)^T a.
		if p.TransB {
			blas.Sgemv(gblas.NoTrans, n1-n0, p.K, p.Alpha, b, ldb, a, 1, 0, c, 1)
		} else {
			blas.Sgemv(gblas.Trans, p.K, n1-n0, p.Alpha, b, ldb, a, 1, 0, c, 1)
		}
		return
	}
	blas.Sgemm(tA, tB, m1-m0, n1-n0, p.K, p.Alpha, a, lda, b, ldb, 0, c, p.N)
}

// epilogue adds Beta * bias and applies the activation to the block.
func (t *gemmTask) epilogue(m0, m1, n0, n1 int) {
	p := &t.p
	beta := p.Beta
	for i := m0; i < m1; i++ {
		row := t.dst[i*p.N+n0 : i*p.N+n1]
		switch p.Bias {
		case BiasNone:
			biasAct(row, 0, p.Act)
		case BiasScalar:
			biasAct(row, beta*t.bias[0], p.Act)
		case BiasCol:
			biasAct(row, beta*t.bias[i], p.Act)
		case BiasRow, BiasFull:
			bias := t.bias[n0:n1]
			if p.Bias == BiasFull {
				bias = t.bias[i*p.N+n0 : i*p.N+n1]
			}
			bias = bias[:len(row)]
			if beta == 1 {
				addAct(row, row, bias, p.Act)
				break
			}
			for j, v := range row {
				row[j] = p.Act.Apply(v + beta*bias[j])
			}
		}
	}
}
