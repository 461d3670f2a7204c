package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// refGemm is the textbook triple loop, in float64.
func refGemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				av := a[i*lda+l]
				if tA != blas.NoTrans {
					av = a[l*lda+i]
				}
				bv := b[l*ldb+j]
				if tB != blas.NoTrans {
					bv = b[j*ldb+l]
				}
				s += float64(av) * float64(bv)
			}
			c[i*ldc+j] = float32(float64(alpha)*s + float64(beta)*float64(c[i*ldc+j]))
		}
	}
}

func TestSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type gemmFn func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	impls := map[string]gemmFn{"raw": Sgemm, "Implementation": Implementation{}.Sgemm}
	sizes := [][3]int{{1, 1, 1}, {3, 5, 7}, {1, 256, 784}, {32, 10, 128}, {64, 200, 33}, {200, 64, 300}, {7, 513, 129}}
	for name, fn := range impls {
		for _, s := range sizes {
			for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
					m, n, k := s[0], s[1], s[2]
					t.Run(fmt.Sprintf("%s/%dx%dx%d/%c%c", name, m, n, k, tA, tB), func(t *testing.T) {
						lda, ldb, ldc := k+1, n+2, n+3 // padded leading dimensions
						if tA != blas.NoTrans {
							lda = m + 1
						}
						if tB != blas.NoTrans {
							ldb = k + 2
						}
						a := randF32(r, need(max(m, k), max(m, k), lda))
						b := randF32(r, need(max(n, k), max(n, k), ldb))
						c := randF32(r, need(m, n, ldc))
						want := append([]float32(nil), c...)
						refGemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 0.25, want, ldc)
						fn(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 0.25, c, ldc)
						for i := range c {
							if d := math.Abs(float64(c[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
								t.Fatalf("c[%d] = %v, want %v", i, c[i], want[i])
							}
						}
					})
				}
			}
		}
	}
}

func TestSgemv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
		m, n := 37, 61
		a := randF32(r, m*n)
		lx, ly := n, m
		if tA != blas.NoTrans {
			lx, ly = m, n
		}
		x, y := randF32(r, lx), randF32(r, ly)
		want := append([]float32(nil), y...)
		gonum.Implementation{}.Sgemv(tA, m, n, 2, a, n, x, 1, 0.5, want, 1)
		Implementation{}.Sgemv(tA, m, n, 2, a, n, x, 1, 0.5, y, 1)
		for i := range y {
			if math.Abs(float64(y[i]-want[i])) > 1e-4 {
				t.Fatalf("%c: y[%d] = %v, want %v", tA, i, y[i], want[i])
			}
		}
	}
}

func TestDgemm(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5, 6} // 2x3
	b := []float64{1, 0, 0, 1, 1, 1} // 3x2
	c := make([]float64, 4)          // 2x2
	Implementation{}.Dgemm(blas.NoTrans, blas.NoTrans, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	if want := []float64{4, 5, 10, 11}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Fatalf("Dgemm = %v, want %v", c, want)
	}
}

func TestBoundsChecked(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Sgemm on a short slice did not panic")
		}
	}()
	a, b, c := make([]float32, 5), make([]float32, 6), make([]float32, 4)
	Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2) // a needs 6
}

func TestBackend(t *testing.T) {
	t.Log(Backend())
	if Backend() == "" {
		t.Fatal("empty backend name")
	}
}

// BenchmarkSgemm compares the single-threaded call, the split
// Implementation and gonum on square products.
func BenchmarkSgemm(b *testing.B) {
	for _, n := range []int{64, 256, 512} {
		r := rand.New(rand.NewPCG(5, 6))
		x, y, z := randF32(r, n*n), randF32(r, n*n), make([]float32, n*n)
		for _, impl := range []struct {
			name string
			fn   func(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
		}{{"raw", Sgemm}, {"split", Implementation{}.Sgemm}, {"gonum", gonum.Implementation{}.Sgemm}} {
			b.Run(fmt.Sprintf("%s/%d", impl.name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					impl.fn(blas.NoTrans, blas.Trans, n, n, n, 1, x, n, y, n, 0, z, n)
				}
				b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
