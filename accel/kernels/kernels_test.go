package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/gannet-ml/gannet/accel/internal/parallel"
)

const tol = 1e-4

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

func assertClose(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
			t.Fatalf("value %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// splitGrains sets every grain to 1 for the test, so that even the small
// table cases run in parts (the default grains keep them on one thread).
func splitGrains(t *testing.T) {
	old := [...]int{convMinMACs, gemmMinMACs, poolMinOps, eltMin}
	convMinMACs, gemmMinMACs, poolMinOps, eltMin = 1, 1, 1, 1
	t.Cleanup(func() { convMinMACs, gemmMinMACs, poolMinOps, eltMin = old[0], old[1], old[2], old[3] })
}

// withThreads runs fn with the pool set to 1, 2 and 3 threads.
func withThreads(t *testing.T, fn func(t *testing.T)) {
	old := parallel.Threads()
	defer parallel.SetThreads(old)
	for _, n := range []int{1, 2, 3} {
		parallel.SetThreads(n)
		t.Run(fmt.Sprintf("threads%d", n), fn)
	}
}

// refConv is the definition of a 2-D convolution, in float64.
func refConv(p Conv2DParams, x, w, bias []float32) []float32 {
	p = p.Norm()
	oh, ow := p.OutHW()
	cg, mg := p.C/p.Group, p.M/p.Group
	out := make([]float32, p.N*p.M*oh*ow)
	for n := 0; n < p.N; n++ {
		for m := 0; m < p.M; m++ {
			g := m / mg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s float64
					if bias != nil {
						s = float64(bias[m])
					}
					for c := 0; c < cg; c++ {
						for ki := 0; ki < p.KH; ki++ {
							for kj := 0; kj < p.KW; kj++ {
								iy, ix := oy*p.SH-p.PT+ki*p.DH, ox*p.SW-p.PL+kj*p.DW
								if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
									continue
								}
								xv := x[((n*p.C+g*cg+c)*p.H+iy)*p.W+ix]
								wv := w[((m*cg+c)*p.KH+ki)*p.KW+kj]
								s += float64(xv) * float64(wv)
							}
						}
					}
					out[((n*p.M+m)*oh+oy)*ow+ox] = p.Act.Apply(float32(s))
				}
			}
		}
	}
	return out
}

func TestConv2D(t *testing.T) {
	splitGrains(t)
	cases := []struct {
		name string
		p    Conv2DParams
	}{
		{"fmnist-conv1", Conv2DParams{N: 2, C: 1, H: 28, W: 28, M: 16, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Act: ReLU}},
		{"fmnist-conv2-b1", Conv2DParams{N: 1, C: 16, H: 14, W: 14, M: 32, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Act: ReLU}},
		{"stride2-asym-pad", Conv2DParams{N: 3, C: 4, H: 11, W: 9, M: 6, KH: 3, KW: 2, SH: 2, SW: 3, PT: 2, PL: 0, PB: 1, PR: 1}},
		{"dilated", Conv2DParams{N: 1, C: 3, H: 12, W: 12, M: 5, KH: 3, KW: 3, DH: 2, DW: 3, PT: 1, PL: 2, PB: 1, PR: 2, Act: ReLU6}},
		{"groups", Conv2DParams{N: 2, C: 8, H: 7, W: 7, M: 12, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Group: 4}},
		{"depthwise", Conv2DParams{N: 2, C: 8, H: 9, W: 10, M: 8, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Group: 8, Act: ReLU6}},
		{"depthwise-stride2", Conv2DParams{N: 1, C: 5, H: 13, W: 12, M: 5, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 0, PR: 1, Group: 5}},
		{"depthwise-mult2", Conv2DParams{N: 1, C: 4, H: 6, W: 6, M: 8, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Group: 4}},
		{"pointwise", Conv2DParams{N: 2, C: 24, H: 8, W: 8, M: 40, KH: 1, KW: 1, Act: ReLU}},
		{"pointwise-stride2", Conv2DParams{N: 1, C: 16, H: 9, W: 9, M: 8, KH: 1, KW: 1, SH: 2, SW: 2}},
		{"blocked-columns", Conv2DParams{N: 1, C: 8, H: 40, W: 36, M: 8, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Act: ReLU}},
		{"same-dilated", Conv2DParams{N: 2, C: 3, H: 9, W: 7, M: 4, KH: 3, KW: 3, DH: 2, DW: 2, PT: 2, PL: 2, PB: 2, PR: 2, Act: ReLU}},
		{"same-asym-2x2", Conv2DParams{N: 1, C: 2, H: 6, W: 5, M: 3, KH: 2, KW: 2, PT: 0, PL: 1, PB: 1, PR: 0}},
		{"same-5x5-b1", Conv2DParams{N: 1, C: 4, H: 12, W: 12, M: 6, KH: 5, KW: 5, PT: 2, PL: 2, PB: 2, PR: 2}},
		{"7x7-stride2", Conv2DParams{N: 1, C: 3, H: 32, W: 32, M: 8, KH: 7, KW: 7, SH: 2, SW: 2, PT: 3, PL: 3, PB: 3, PR: 3}},
		{"depthwise-wide", Conv2DParams{N: 2, C: 3, H: 29, W: 37, M: 3, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Group: 3, Act: ReLU6}},
		{"depthwise-wide-s2", Conv2DParams{N: 1, C: 4, H: 30, W: 41, M: 4, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1, Group: 4}},
		{"depthwise-wide-s2-5x5", Conv2DParams{N: 1, C: 2, H: 33, W: 40, M: 2, KH: 5, KW: 5, SH: 2, SW: 2, PT: 2, PL: 2, PB: 1, PR: 2, Group: 2}},
		{"deep-b5", Conv2DParams{N: 5, C: 64, H: 7, W: 7, M: 36, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Act: ReLU}},
		{"deep-b9-pointwise", Conv2DParams{N: 9, C: 20, H: 7, W: 7, M: 44, KH: 1, KW: 1, Act: ReLU6}},
		{"depthwise-narrow", Conv2DParams{N: 1, C: 2, H: 2, W: 3, M: 2, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Group: 2, Act: ReLU}},
		{"depthwise-17", Conv2DParams{N: 2, C: 3, H: 5, W: 17, M: 3, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Group: 3}},
		{"deep-b1", Conv2DParams{N: 1, C: 96, H: 7, W: 7, M: 70, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Act: ReLU}},
		{"deep-b3", Conv2DParams{N: 3, C: 300, H: 5, W: 6, M: 22, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1}},
		{"wide-b1", Conv2DParams{N: 1, C: 40, H: 37, W: 41, M: 9, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Act: ReLU6}},
		{"pointwise-wide", Conv2DParams{N: 2, C: 33, H: 30, W: 30, M: 17, KH: 1, KW: 1, Act: ReLU}},
	}
	// Every case on the packed product too, however small.
	defer func(v int) { packedMinMACs = v }(packedMinMACs)
	packedMinMACs = 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withThreads(t, func(t *testing.T) {
				r := rand.New(rand.NewPCG(7, 8))
				p := tc.p
				if err := p.Check(); err != nil {
					t.Fatal(err)
				}
				x, w, bias := randF32(r, p.InLen()), randF32(r, p.WeightLen()), randF32(r, p.M)
				want := refConv(p, x, w, bias)
				dst := randF32(r, p.OutLen()) // garbage: the kernel must overwrite it
				Conv2D(p, dst, x, w, bias, make([]float32, Conv2DScratchLen(p, parallel.Threads())))
				assertClose(t, dst, want)
				// Without bias.
				want = refConv(p, x, w, nil)
				Conv2D(p, dst, x, w, nil, make([]float32, Conv2DScratchLen(p, parallel.Threads())))
				assertClose(t, dst, want)
				// Packed weights, where available.
				if pw := PackConv2DWeights(p, w); pw != nil {
					pp := p
					pp.Packed = true
					want = refConv(p, x, w, bias)
					dst = randF32(r, p.OutLen())
					Conv2DPacked(pp, dst, x, w, pw, bias, make([]float32, Conv2DScratchLen(pp, parallel.Threads())))
					assertClose(t, dst, want)
				}
			})
		})
	}
}

func TestConv2DRejects(t *testing.T) {
	bad := []Conv2DParams{
		{N: 1, C: 3, H: 4, W: 4, M: 4, KH: 3, KW: 3, Group: 2}, // group does not divide C
		{N: 1, C: 1, H: 2, W: 2, M: 1, KH: 3, KW: 3},           // kernel larger than input
		{N: 1, C: 1, H: 4, W: 4, M: 1, KH: 1, KW: 1, PT: -1},
	}
	for _, p := range bad {
		if p.Check() == nil {
			t.Errorf("Check(%+v) = nil, want an error", p)
		}
	}
	p := Conv2DParams{N: 1, C: 2, H: 5, W: 5, M: 2, KH: 3, KW: 3}
	defer func() {
		if recover() == nil {
			t.Fatal("Conv2D with a short output did not panic")
		}
	}()
	Conv2D(p, make([]float32, p.OutLen()-1), make([]float32, p.InLen()), make([]float32, p.WeightLen()), nil, make([]float32, 1<<10))
}

func refGemm(p GemmParams, a, b, bias []float32) []float32 {
	out := make([]float32, p.M*p.N)
	for i := 0; i < p.M; i++ {
		for j := 0; j < p.N; j++ {
			var s float64
			for k := 0; k < p.K; k++ {
				av, bv := a[i*p.K+k], b[k*p.N+j]
				if p.TransA {
					av = a[k*p.M+i]
				}
				if p.TransB {
					bv = b[j*p.K+k]
				}
				s += float64(av) * float64(bv)
			}
			s *= float64(p.Alpha)
			var c float32
			switch p.Bias {
			case BiasRow:
				c = bias[j]
			case BiasCol:
				c = bias[i]
			case BiasFull:
				c = bias[i*p.N+j]
			case BiasScalar:
				c = bias[0]
			}
			out[i*p.N+j] = p.Act.Apply(float32(s + float64(p.Beta)*float64(c)))
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	splitGrains(t)
	cases := []GemmParams{
		{M: 1, N: 256, K: 784, TransB: true, Alpha: 1, Beta: 1, Bias: BiasRow, Act: ReLU},
		{M: 8, N: 128, K: 256, TransB: true, Alpha: 1, Beta: 1, Bias: BiasRow, Act: ReLU},
		{M: 32, N: 10, K: 128, TransB: true, Alpha: 1, Beta: 1, Bias: BiasRow},
		{M: 100, N: 70, K: 33, Alpha: 0.5, Beta: 2, Bias: BiasFull, Act: ReLU6},
		{M: 1, N: 300, K: 40, Alpha: 1, Beta: 1, Bias: BiasScalar},
		{M: 9, N: 65, K: 17, TransA: true, Alpha: 1.5, Beta: 0.5, Bias: BiasCol},
		{M: 70, N: 200, K: 64, TransA: true, TransB: true, Alpha: 1},
		{M: 1, N: 1, K: 1, Alpha: 1},
		{M: 33, N: 600, K: 700, TransB: true, Alpha: 1, Beta: 1, Bias: BiasRow, Act: ReLU},
	}
	for _, p := range cases {
		t.Run(fmt.Sprintf("%dx%dx%d-%v%v-%d-%v", p.M, p.N, p.K, p.TransA, p.TransB, p.Bias, p.Act), func(t *testing.T) {
			withThreads(t, func(t *testing.T) {
				r := rand.New(rand.NewPCG(9, 10))
				a, b, bias := randF32(r, p.M*p.K), randF32(r, p.K*p.N), randF32(r, p.Bias.Len(p.M, p.N))
				dst := randF32(r, p.M*p.N)
				Gemm(p, dst, a, b, bias)
				assertClose(t, dst, refGemm(p, a, b, bias))
				if pb := PackGemmB(p, b); pb != nil {
					pp := p
					pp.Packed = true
					dst = randF32(r, p.M*p.N)
					GemmPacked(pp, dst, a, pb, bias, make([]float32, GemmScratchLen(pp, parallel.Threads())))
					assertClose(t, dst, refGemm(p, a, b, bias))
				}
			})
		})
	}
}

func refPool(p PoolParams, x []float32, avg bool) []float32 {
	p = p.Norm()
	oh, ow := p.OutHW()
	out := make([]float32, p.N*p.C*oh*ow)
	for pl := 0; pl < p.N*p.C; pl++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				m, s, cnt, padded := math.Inf(-1), 0.0, 0, 0
				for ki := 0; ki < p.KH; ki++ {
					for kj := 0; kj < p.KW; kj++ {
						iy, ix := oy*p.SH-p.PT+ki*p.DH, ox*p.SW-p.PL+kj*p.DW
						if iy < p.H+p.PB && ix < p.W+p.PR {
							padded++ // inside input or pads
						}
						if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
							continue
						}
						v := float64(x[(pl*p.H+iy)*p.W+ix])
						m, s, cnt = math.Max(m, v), s+v, cnt+1
					}
				}
				o := float32(m)
				if avg {
					if p.CountIncludePad {
						cnt = padded
					}
					o = float32(s / float64(cnt))
				}
				out[(pl*oh+oy)*ow+ox] = o
			}
		}
	}
	return out
}

func TestPool(t *testing.T) {
	splitGrains(t)
	cases := []struct {
		name string
		p    PoolParams
	}{
		{"2x2s2", PoolParams{N: 2, C: 16, H: 28, W: 28, KH: 2, KW: 2, SH: 2, SW: 2}},
		{"2x2s2-odd", PoolParams{N: 1, C: 3, H: 7, W: 9, KH: 2, KW: 2, SH: 2, SW: 2}},
		// Rows of 20, 17, 3 and 12 outputs: the vector kernel's blocks of 8
		// and 4 and the scalar tail, alone and together.
		{"2x2s2-wide", PoolParams{N: 1, C: 2, H: 6, W: 40, KH: 2, KW: 2, SH: 2, SW: 2}},
		{"2x2s2-17", PoolParams{N: 1, C: 2, H: 5, W: 35, KH: 2, KW: 2, SH: 2, SW: 2}},
		{"2x2s2-3", PoolParams{N: 2, C: 1, H: 6, W: 6, KH: 2, KW: 2, SH: 2, SW: 2}},
		{"2x2s2-12", PoolParams{N: 1, C: 1, H: 4, W: 24, KH: 2, KW: 2, SH: 2, SW: 2}},
		{"3x3s2p1", PoolParams{N: 1, C: 8, H: 112, W: 112, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1}},
		{"3x3s2-ceil", PoolParams{N: 2, C: 3, H: 10, W: 11, KH: 3, KW: 3, SH: 2, SW: 2, CeilMode: true}},
		{"3x3s1p1-incl", PoolParams{N: 1, C: 4, H: 6, W: 5, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, CountIncludePad: true}},
		{"ceil-pad-incl", PoolParams{N: 1, C: 2, H: 8, W: 8, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1, CeilMode: true, CountIncludePad: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			withThreads(t, func(t *testing.T) {
				r := rand.New(rand.NewPCG(11, 12))
				p := tc.p
				x := randF32(r, p.N*p.C*p.H*p.W)
				dst := randF32(r, p.OutLen())
				MaxPool(p, dst, x)
				assertClose(t, dst, refPool(p, x, false))
				AvgPool(p, dst, x)
				assertClose(t, dst, refPool(p, x, true))
			})
		})
	}
	// Dilated max pool.
	p := PoolParams{N: 1, C: 2, H: 9, W: 9, KH: 2, KW: 3, DH: 2, DW: 2, PT: 1, PL: 1}
	x := randF32(rand.New(rand.NewPCG(1, 1)), p.N*p.C*p.H*p.W)
	dst := make([]float32, p.OutLen())
	MaxPool(p, dst, x)
	assertClose(t, dst, refPool(p, x, false))
}

func TestGlobalAvgPool(t *testing.T) {
	splitGrains(t)
	withThreads(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		for _, s := range [][2]int{{1, 1}, {3, 7}, {2 * 512, 49}, {64, 3136}} {
			planes, hw := s[0], s[1]
			x := randF32(r, planes*hw)
			want := make([]float32, planes)
			for i := range want {
				var sum float64
				for _, v := range x[i*hw : (i+1)*hw] {
					sum += float64(v)
				}
				want[i] = float32(sum / float64(hw))
			}
			dst := make([]float32, planes)
			GlobalAvgPool(planes, hw, dst, x)
			assertClose(t, dst, want)
		}
	})
}

func TestAddInPlace(t *testing.T) {
	splitGrains(t)
	withThreads(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(15, 16))
		for _, n := range []int{1, 17, 100000} {
			for _, act := range []Act{{}, ReLU, ReLU6} {
				x, y := randF32(r, n), randF32(r, n)
				for i := range x {
					x[i] *= 8
				}
				want := make([]float32, n)
				for i := range want {
					want[i] = act.Apply(x[i] + y[i])
				}
				Add(x, x, y, act) // in place
				assertClose(t, x, want)
				z := randF32(r, n)
				want2 := make([]float32, n)
				for i := range z {
					want2[i] = act.Apply(z[i])
				}
				Activate(z, z, act)
				assertClose(t, z, want2)
			}
		}
	})
}

// TestZeroAllocs checks that the kernels allocate nothing in steady state.
func TestZeroAllocs(t *testing.T) {
	splitGrains(t)
	r := rand.New(rand.NewPCG(17, 18))
	cp := Conv2DParams{N: 1, C: 16, H: 14, W: 14, M: 32, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, Act: ReLU}
	x, w, b := randF32(r, cp.InLen()), randF32(r, cp.WeightLen()), randF32(r, cp.M)
	out, scratch := make([]float32, cp.OutLen()), make([]float32, Conv2DScratchLen(cp, parallel.Threads()))
	gp := GemmParams{M: 1, N: 256, K: 784, TransB: true, Alpha: 1, Beta: 1, Bias: BiasRow, Act: ReLU}
	ga, gb, gc, gd := randF32(r, 784), randF32(r, 784*256), randF32(r, 256), make([]float32, 256)
	pp := PoolParams{N: 1, C: 32, H: 14, W: 14, KH: 2, KW: 2, SH: 2, SW: 2}
	pd := make([]float32, pp.OutLen())
	run := func() {
		Conv2D(cp, out, x, w, b, scratch)
		Gemm(gp, gd, ga, gb, gc)
		MaxPool(pp, pd, out)
		Add(out, out, out, ReLU)
	}
	allocs := testing.AllocsPerRun(50, run)
	if allocs != 0 && !raceEnabled {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
	// A collection between runs empties a sync.Pool: the task records
	// must survive it (a server collects all the time).
	allocs = testing.AllocsPerRun(10, func() { runtime.GC(); run() })
	if allocs != 0 && !raceEnabled {
		t.Fatalf("%v allocations per run after a garbage collection, want 0", allocs)
	}
}

// TestMaxPool2x2NaN: a NaN anywhere in a 2x2 window makes that output NaN
// and no other, in the vector kernel's blocks and in the scalar tail.
func TestMaxPool2x2NaN(t *testing.T) {
	p := PoolParams{N: 1, C: 1, H: 4, W: 30, KH: 2, KW: 2, SH: 2, SW: 2} // 15 outputs a row: blocks of 8 and 4, and 3
	oh, ow := p.OutHW()
	for iy := 0; iy < p.H; iy++ {
		for ix := 0; ix < p.W; ix++ {
			x := randF32(rand.New(rand.NewPCG(3, 4)), p.H*p.W)
			x[iy*p.W+ix] = float32(math.NaN())
			dst := make([]float32, oh*ow)
			MaxPool(p, dst, x)
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					want := oy == iy/2 && ox == ix/2
					if got := math.IsNaN(float64(dst[oy*ow+ox])); got != want {
						t.Fatalf("NaN at input (%d, %d): output (%d, %d) NaN = %v, want %v", iy, ix, oy, ox, got, want)
					}
				}
			}
			assertClose(t, slices.DeleteFunc(dst, func(v float32) bool { return v != v }),
				slices.DeleteFunc(refPool(p, x, false), func(v float32) bool { return v != v }))
		}
	}
}

// TestMaxPoolNaN checks that a NaN input makes its windows' maxima NaN
// (as PyTorch's max_pool2d), on the vector paths too.
func TestMaxPoolNaN(t *testing.T) {
	p := PoolParams{N: 1, C: 1, H: 9, W: 40, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1}
	r := rand.New(rand.NewPCG(1, 1))
	x := randF32(r, p.N*p.C*p.H*p.W)
	x[4*p.W+21] = float32(math.NaN()) // row 4, column 21: windows (2, 10..11)
	dst := make([]float32, p.OutLen())
	MaxPool(p, dst, x)
	_, ow := p.OutHW()
	for oy := 0; oy < 5; oy++ {
		for ox := 0; ox < ow; ox++ {
			want := oy == 2 && (ox == 10 || ox == 11)
			if got := math.IsNaN(float64(dst[oy*ow+ox])); got != want {
				t.Errorf("output (%d, %d) NaN = %v, want %v", oy, ox, got, want)
			}
		}
	}
}
