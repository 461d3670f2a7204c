package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

// BenchmarkConv2D times the Fashion-MNIST CNN's and typical ResNet layers.
func BenchmarkConv2D(b *testing.B) {
	pad1 := func(p Conv2DParams) Conv2DParams { p.PT, p.PL, p.PB, p.PR = 1, 1, 1, 1; return p }
	cases := []struct {
		name string
		p    Conv2DParams
	}{
		{"fmnist1-b32", pad1(Conv2DParams{N: 32, C: 1, H: 28, W: 28, M: 16, KH: 3, KW: 3, Act: ReLU})},
		{"fmnist2-b32", pad1(Conv2DParams{N: 32, C: 16, H: 14, W: 14, M: 32, KH: 3, KW: 3, Act: ReLU})},
		{"fmnist2-b1", pad1(Conv2DParams{N: 1, C: 16, H: 14, W: 14, M: 32, KH: 3, KW: 3, Act: ReLU})},
		{"resnet-stem-b8", Conv2DParams{N: 8, C: 3, H: 224, W: 224, M: 64, KH: 7, KW: 7, SH: 2, SW: 2, PT: 3, PL: 3, PB: 3, PR: 3, Act: ReLU}},
		{"resnet-3x3x64-b1", pad1(Conv2DParams{N: 1, C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, Act: ReLU})},
		{"resnet-3x3x256-b1", pad1(Conv2DParams{N: 1, C: 256, H: 14, W: 14, M: 256, KH: 3, KW: 3, Act: ReLU})},
		{"resnet-3x3x512-b1", pad1(Conv2DParams{N: 1, C: 512, H: 7, W: 7, M: 512, KH: 3, KW: 3, Act: ReLU})},
		{"resnet-3x3x64-b8", pad1(Conv2DParams{N: 8, C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, Act: ReLU})},
		{"resnet-3x3x256-b8", pad1(Conv2DParams{N: 8, C: 256, H: 14, W: 14, M: 256, KH: 3, KW: 3, Act: ReLU})},
		{"resnet-3x3x512-b8", pad1(Conv2DParams{N: 8, C: 512, H: 7, W: 7, M: 512, KH: 3, KW: 3, Act: ReLU})},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			p := tc.p
			x, w, bias := randF32(r, p.InLen()), randF32(r, p.WeightLen()), randF32(r, p.M)
			dst, scratch := make([]float32, p.OutLen()), make([]float32, Conv2DScratchLen(p, parallel.Threads()))
			oh, ow := p.OutHW()
			flops := 2 * float64(p.N*p.M*oh*ow*p.WeightLen()/p.M)
			b.ReportAllocs()
			for b.Loop() {
				Conv2D(p, dst, x, w, bias, scratch)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		pp := tc.p
		pp.Packed = true
		r := rand.New(rand.NewPCG(1, 2))
		w := randF32(r, pp.WeightLen())
		pw := PackConv2DWeights(pp, w)
		if pw == nil {
			continue // packed products unavailable (GANNET_PACKED_GEMM=1), or too small for them
		}
		b.Run(tc.name+"/packed", func(b *testing.B) {
			x, bias := randF32(r, pp.InLen()), randF32(r, pp.M)
			dst, scratch := make([]float32, pp.OutLen()), make([]float32, Conv2DScratchLen(pp, parallel.Threads()))
			oh, ow := pp.OutHW()
			flops := 2 * float64(pp.N*pp.M*oh*ow*pp.WeightLen()/pp.M)
			b.ReportAllocs()
			for b.Loop() {
				Conv2DPacked(pp, dst, x, w, pw, bias, scratch)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkGemm(b *testing.B) {
	for _, s := range [][3]int{{1, 256, 784}, {8, 256, 784}, {32, 256, 784}, {32, 128, 1568}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2]), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			p := GemmParams{M: s[0], N: s[1], K: s[2], TransB: true, Alpha: 1, Beta: 1, Bias: BiasRow, Act: ReLU}
			a, w, bias, dst := randF32(r, p.M*p.K), randF32(r, p.N*p.K), randF32(r, p.N), make([]float32, p.M*p.N)
			b.ReportAllocs()
			for b.Loop() {
				Gemm(p, dst, a, w, bias)
			}
			b.ReportMetric(2*float64(p.M*p.N*p.K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMaxPool times the Fashion-MNIST CNN's two 2x2 stride-2 pools
// (rows of 14 and 7 outputs) at batch 1 and 32.
func BenchmarkMaxPool(b *testing.B) {
	for _, n := range []int{1, 32} {
		for _, s := range [][2]int{{16, 28}, {32, 14}} {
			p := PoolParams{N: n, C: s[0], H: s[1], W: s[1], KH: 2, KW: 2, SH: 2, SW: 2}
			b.Run(fmt.Sprintf("fmnist%dx%d-b%d", s[0], s[1], n), func(b *testing.B) {
				x, dst := randF32(rand.New(rand.NewPCG(1, 2)), p.N*p.C*p.H*p.W), make([]float32, p.OutLen())
				b.ReportAllocs()
				for b.Loop() {
					MaxPool(p, dst, x)
				}
			})
		}
	}
}
