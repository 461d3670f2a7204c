package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
)

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestConvPacked checks W*X with W packed as B against the triple loop, on
// sizes with every kind of tail, whole and split by rows.
func TestConvPacked(t *testing.T) {
	if !PackAvailable() {
		t.Skip("packed products are not available here")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{1, 1, 1}, {4, 16, 9}, {5, 17, 3}, {64, 3136, 576}, {7, 49, 4608}, {130, 401, 300}, {33, 1000, 27}, {512, 49, 4608}} {
		M, N, K := sz[0], sz[1], sz[2]
		ldx, ldc := N+3, N+5
		w := randF32(r, M*K)
		x := randF32(r, K*ldx)
		want := randF32(r, M*ldc)
		got := append([]float32(nil), want...)
		refGemm(blas.NoTrans, blas.NoTrans, M, N, K, 1, w, K, x, ldx, 1, want, ldc)
		p := PackB(w, K, M, K, true)
		scratch := make([]float32, PackScratchLen())
		mid := min(M, (M/2+3)/4*4)
		ConvPacked(p, 0, mid, N, x, ldx, got, ldc, scratch)
		ConvPacked(p, mid, M, N, x, ldx, got, ldc, scratch)
		if d := maxDiff(got, want); d > 1e-3 {
			t.Errorf("%v: max diff %g", sz, d)
		}
	}
}

// TestGemmPacked checks alpha*X*W^T with W packed as A.
func TestGemmPacked(t *testing.T) {
	if !PackAvailable() {
		t.Skip("packed products are not available here")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, sz := range [][3]int{{1, 1, 1}, {1, 10, 784}, {32, 256, 784}, {8, 17, 5}, {33, 1000, 513}, {600, 40, 300}} {
		B, F, K := sz[0], sz[1], sz[2]
		for _, kContig := range []bool{true, false} {
			for _, wk := range []bool{true, false} {
				// W is [F, K] (wk) or [K, F].
				w := randF32(r, F*K)
				ldw := K
				if !wk {
					ldw = F
				}
				x := randF32(r, B*K)
				ldx := K
				if !kContig {
					ldx = B
				}
				ldc := F + 2
				want := randF32(r, B*ldc)
				got := append([]float32(nil), want...)
				for b := 0; b < B; b++ {
					for f := 0; f < F; f++ {
						var s float64
						for k := 0; k < K; k++ {
							var xv, wv float32
							if kContig {
								xv = x[b*ldx+k]
							} else {
								xv = x[k*ldx+b]
							}
							if wk {
								wv = w[f*ldw+k]
							} else {
								wv = w[k*ldw+f]
							}
							s += float64(xv) * float64(wv)
						}
						want[b*ldc+f] += float32(0.5 * s)
					}
				}
				p := PackA(w, ldw, F, K, wk)
				scratch := make([]float32, PackScratchLen())
				mid := min(F, (F/2+15)/16*16)
				GemmPacked(p, 0, mid, B, 0.5, x, ldx, kContig, got, ldc, scratch)
				GemmPacked(p, mid, F, B, 0.5, x, ldx, kContig, got, ldc, scratch)
				if d := maxDiff(got, want); d > 1e-3 {
					t.Errorf("%v kContig=%v wk=%v: max diff %g", sz, kContig, wk, d)
				}
			}
		}
	}
}

// BenchmarkConvPacked compares W*X with W packed once (AVX-512 kernel)
// against Sgemm (OpenBLAS's own call) on one thread, resnet18's shapes.
func BenchmarkConvPacked(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{64, 3136, 576}, {128, 784, 1152}, {256, 196, 2304}, {512, 49, 4608}} {
		M, N, K := sz[0], sz[1], sz[2]
		w, x, c := randF32(r, M*K), randF32(r, K*N), make([]float32, M*N)
		name := fmt.Sprintf("%dx%dx%d", M, N, K)
		b.Run("sgemm/"+name, func(b *testing.B) {
			for b.Loop() {
				Sgemm(blas.NoTrans, blas.NoTrans, M, N, K, 1, w, K, x, N, 0, c, N)
			}
			b.ReportMetric(float64(2*M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		if !PackAvailable() {
			continue
		}
		p := PackB(w, K, M, K, true)
		scratch := make([]float32, PackScratchLen())
		b.Run("packed/"+name, func(b *testing.B) {
			for b.Loop() {
				clear(c)
				ConvPacked(p, 0, M, N, x, N, c, N, scratch)
			}
			b.ReportMetric(float64(2*M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
