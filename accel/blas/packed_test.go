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

// TestConvDirect checks ConvDirect, the patch matrix packed straight from
// the images, against a direct convolution loop: padding on every side,
// strides, dilation, rows narrower and wider than a 16-pixel sliver,
// several images side by side with a pixel range that starts inside one
// and every kind of tail, whole and split by output channels.
func TestConvDirect(t *testing.T) {
	if !PackAvailable() {
		t.Skip("packed products are not available here")
	}
	r := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name                   string
		n, c, h, w, m, kh, kw  int
		sh, sw, pt, pl, pb, pr int
		dh, dw                 int
		q0, cols               int // pixel range; cols 0: to the end
	}{
		{"3x3 same 56x56", 1, 8, 56, 56, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
		{"3x3 same 7x7, 8 images", 8, 16, 7, 7, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
		{"3x3 stride 2", 2, 5, 15, 17, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0},
		{"7x7 stride 2 pad 3 (resnet stem)", 1, 3, 40, 40, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 0, 0},
		{"1x1 stride 2 (downsample)", 3, 9, 14, 14, 20, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0},
		{"dilated, uneven padding", 2, 4, 20, 23, 5, 3, 2, 1, 1, 2, 0, 1, 3, 2, 3, 0, 0},
		{"range inside images", 4, 6, 9, 30, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 250, 517},
		{"K over several chunks", 1, 70, 12, 12, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
		{"one pixel", 1, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
		{"one output row per image (runs cross images on the same row)", 5, 2, 3, 9, 6, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oh := (tt.h+tt.pt+tt.pb-(tt.kh-1)*tt.dh-1)/tt.sh + 1
			ow := (tt.w+tt.pl+tt.pr-(tt.kw-1)*tt.dw-1)/tt.sw + 1
			ohw, k := oh*ow, tt.c*tt.kh*tt.kw
			x := randF32(r, tt.n*tt.c*tt.h*tt.w)
			wt := randF32(r, tt.m*k)
			q0, cols := tt.q0, tt.cols
			if cols == 0 {
				cols = tt.n*ohw - q0
			}
			ldc := cols + 3
			want := randF32(r, tt.m*ldc)
			got := append([]float32(nil), want...)
			for j := 0; j < tt.m; j++ {
				for q := 0; q < cols; q++ {
					img, px := (q0+q)/ohw, (q0+q)%ohw
					oy, ox := px/ow, px%ow
					var s float64
					for ci := 0; ci < tt.c; ci++ {
						for a := 0; a < tt.kh; a++ {
							for b := 0; b < tt.kw; b++ {
								iy, ix := oy*tt.sh-tt.pt+a*tt.dh, ox*tt.sw-tt.pl+b*tt.dw
								if iy < 0 || iy >= tt.h || ix < 0 || ix >= tt.w {
									continue
								}
								s += float64(wt[j*k+(ci*tt.kh+a)*tt.kw+b]) * float64(x[((img*tt.c+ci)*tt.h+iy)*tt.w+ix])
							}
						}
					}
					want[j*ldc+q] += float32(s)
				}
			}
			g := &ConvGeom{C: tt.c, H: tt.h, W: tt.w, KH: tt.kh, KW: tt.kw, SH: tt.sh, SW: tt.sw, PT: tt.pt, PL: tt.pl,
				DH: tt.dh, DW: tt.dw, OW: ow, OHW: ohw, ImageStride: tt.c * tt.h * tt.w}
			p := PackB(wt, k, tt.m, k, true)
			scratch := make([]float32, PackScratchLen())
			mid := min(tt.m, (tt.m/2+3)/4*4)
			ConvDirect(p, 0, mid, g, x, q0, cols, got, ldc, scratch)
			ConvDirect(p, mid, tt.m, g, x, q0, cols, got, ldc, scratch)
			if d := maxDiff(got, want); d > 1e-3 {
				t.Errorf("max diff %g", d)
			}
		})
	}
}
