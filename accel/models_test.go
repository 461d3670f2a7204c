package accel_test

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gannet-ml/gannet/accel"
	"github.com/gannet-ml/gannet/accel/blas"
	"github.com/gannet-ml/gannet/accel/exec"
	"github.com/gannet-ml/gannet/accel/kernels"
	"github.com/gannet-ml/gannet/accel/ops"
	"github.com/gannet-ml/gannet/internal/fmnist"
	"github.com/gannet-ml/gannet/models/onnx"
)

// The project's two real models (scripts/make_models.py), built by hand as
// gorgonia graphs twice: from accel ops (run by accel/exec) and from
// gorgonia's stock ops (run by gorgonia's TapeMachine), with the weights of
// testdata/models/*/1/model.onnx.

const (
	mlpName = "fashion-mnist-mlp"
	cnnName = "fashion-mnist-cnn"
)

func constNode(g *G.ExprGraph, name string, data []float32, shape ...int) *G.Node {
	d := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(d))
}

func transposed(data []float32, rows, cols int) []float32 {
	out := make([]float32, len(data))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = data[r*cols+c]
		}
	}
	return out
}

func check(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// linear returns the weight [out, in] and bias [out] of a Linear layer.
func linear(tb testing.TB, ws map[string]*onnxTensor, in, out int) (w, b []float32) {
	return weightOf(tb, ws, out, in).data, weightOf(tb, ws, out).data
}

// buildMLP: [B, 784] -> Gemm 256 + ReLU -> Gemm 128 + ReLU -> Gemm 10.
func buildMLP(tb testing.TB, batch int, stock bool) (*G.ExprGraph, *G.Node, *G.Node) {
	ws := loadWeights(tb, mlpName)
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(batch, 784), G.WithName("input"))
	h := x
	dims := []int{784, 256, 128, 10}
	for i := 0; i+1 < len(dims); i++ {
		w, b := linear(tb, ws, dims[i], dims[i+1])
		relu := i+2 < len(dims)
		h = dense(tb, g, h, w, b, dims[i], dims[i+1], relu, stock, i)
	}
	return g, x, h
}

// dense is a Linear layer (+ ReLU): one accel Gemm, or gorgonia's
// Mul + BroadcastAdd + Rectify with the weight transposed at build time.
func dense(tb testing.TB, g *G.ExprGraph, h *G.Node, w, b []float32, in, out int, relu, stock bool, i int) *G.Node {
	var err error
	if !stock {
		act := kernels.Act{}
		if relu {
			act = kernels.ReLU
		}
		h, err = ops.Gemm(h, constNode(g, fmt.Sprint("w", i), w, out, in), constNode(g, fmt.Sprint("b", i), b, out), ops.GemmAttrs{TransB: true, Act: act})
		check(tb, err)
		return h
	}
	h, err = G.Mul(h, constNode(g, fmt.Sprint("wT", i), transposed(w, out, in), in, out))
	check(tb, err)
	h, err = G.BroadcastAdd(h, constNode(g, fmt.Sprint("b", i), b, 1, out), nil, []byte{0})
	check(tb, err)
	if relu {
		h, err = G.Rectify(h)
		check(tb, err)
	}
	return h
}

// buildCNN: [B, 1, 28, 28] -> Conv 16 3x3 pad 1 + ReLU -> MaxPool 2 ->
// Conv 32 3x3 pad 1 + ReLU -> MaxPool 2 -> flatten -> Gemm 128 + ReLU ->
// Gemm 10.
func buildCNN(tb testing.TB, batch int, stock bool) (*G.ExprGraph, *G.Node, *G.Node) {
	ws := loadWeights(tb, cnnName)
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 4, G.WithShape(batch, 1, 28, 28), G.WithName("input"))
	h := x
	var err error
	for i, c := range [][2]int{{1, 16}, {16, 32}} {
		w := constNode(g, fmt.Sprint("cw", i), weightOf(tb, ws, c[1], c[0], 3, 3).data, c[1], c[0], 3, 3)
		bias := weightOf(tb, ws, c[1]).data
		if stock {
			h, err = G.Conv2d(h, w, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
			check(tb, err)
			h, err = G.BroadcastAdd(h, constNode(g, fmt.Sprint("cb", i), bias, 1, c[1], 1, 1), nil, []byte{0, 2, 3})
			check(tb, err)
			h, err = G.Rectify(h)
			check(tb, err)
			h, err = G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2})
			check(tb, err)
			continue
		}
		h, err = ops.Conv2D(h, w, constNode(g, fmt.Sprint("cb", i), bias, c[1]), ops.ConvAttrs{Pads: [4]int{1, 1, 1, 1}, Act: kernels.ReLU})
		check(tb, err)
		h, err = ops.MaxPool(h, ops.PoolAttrs{Kernel: [2]int{2, 2}, Strides: [2]int{2, 2}})
		check(tb, err)
	}
	if stock {
		h, err = G.Reshape(h, tensor.Shape{batch, 32 * 7 * 7})
	} else {
		h, err = ops.Reshape(h, batch, 32*7*7)
	}
	check(tb, err)
	w, b := linear(tb, ws, 32*7*7, 128)
	h = dense(tb, g, h, w, b, 32*7*7, 128, true, stock, 0)
	w, b = linear(tb, ws, 128, 10)
	h = dense(tb, g, h, w, b, 128, 10, false, stock, 1)
	return g, x, h
}

var builders = []struct {
	short, name string
	build       func(testing.TB, int, bool) (*G.ExprGraph, *G.Node, *G.Node)
}{{"mlp", mlpName, buildMLP}, {"cnn", cnnName, buildCNN}}

func images(tb testing.TB, n int) []float32 {
	tb.Helper()
	px, _, err := fmnist.TestImages(fmnist.DefaultDir, n)
	if err != nil {
		tb.Skipf("Fashion-MNIST test images: %v", err)
	}
	out := make([]float32, 0, n*784)
	for _, p := range px {
		out = append(out, p...)
	}
	return out
}

// TestModelsMatchReference runs the first 1000 test images through the
// accel graphs at batch 1, 8 and 32 and compares the logits with
// PyTorch's (testdata/reference) within 1e-4.
func TestModelsMatchReference(t *testing.T) {
	for _, m := range builders {
		ref := loadReference(t, m.name)
		imgs := images(t, len(ref)/10)
		for _, batch := range []int{1, 8, 32} {
			t.Run(fmt.Sprintf("%s/batch%d", m.short, batch), func(t *testing.T) {
				g, x, out := m.build(t, batch, false)
				e, err := exec.New(g, []*G.Node{x}, []*G.Node{out})
				check(t, err)
				if fb := e.Fallbacks(); len(fb) > 0 {
					t.Errorf("ops without UsePreallocDo: %v", fb)
				}
				n := len(ref) / 10
				if batch == 1 {
					n = 100 // enough, and quick
				}
				worst := 0.0
				for i := 0; i+batch <= n; i += batch {
					copy(e.Input(0), imgs[i*784:(i+batch)*784])
					check(t, e.Run())
					got := e.OutputF32(0)
					for j, v := range got {
						worst = math.Max(worst, math.Abs(float64(v-ref[i*10+j])))
					}
				}
				if worst > 1e-4 {
					t.Fatalf("largest difference from PyTorch %.3g, want <= 1e-4", worst)
				}
				t.Logf("largest difference from PyTorch over %d images: %.3g", n, worst)
			})
		}
	}
}

// TestStockGraphsMatch checks that the stock-op graphs the benchmarks time
// compute the same model (so the comparison is fair).
func TestStockGraphsMatch(t *testing.T) {
	for _, m := range builders {
		ref := loadReference(t, m.name)
		imgs := images(t, 8)
		g, x, out := m.build(t, 8, true)
		check(t, G.Let(x, tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(imgs))))
		vm := G.NewTapeMachine(g)
		check(t, vm.RunAll())
		vm.Close()
		for j, v := range out.Value().(*tensor.Dense).Float32s() {
			if d := math.Abs(float64(v - ref[j])); d > 1e-4 {
				t.Fatalf("%s: stock graph logit %d = %v, PyTorch %v", m.short, j, v, ref[j])
			}
		}
	}
}

// BenchmarkModels times one batch of the real models: accel (accel ops,
// accel/exec), gorgonia (stock ops, TapeMachine, gonum BLAS), gorgonia+
// openblas (the same with accel's BLAS installed) and onnx (models/onnx
// Program.Run as it is, gonum BLAS).
func BenchmarkModels(b *testing.B) {
	b.Logf("BLAS %s, %d threads", accel.Backend(), accel.Threads())
	defer G.Use(gonum.Implementation{})
	for _, m := range builders {
		imgs := images(b, 32)
		for _, batch := range []int{1, 8, 32} {
			in := imgs[:batch*784]
			b.Run(fmt.Sprintf("%s/batch%d/accel", m.short, batch), func(b *testing.B) {
				g, x, out := m.build(b, batch, false)
				e, err := exec.New(g, []*G.Node{x}, []*G.Node{out})
				check(b, err)
				copy(e.Input(0), in)
				b.ReportAllocs()
				for b.Loop() {
					if err := e.Run(); err != nil {
						b.Fatal(err)
					}
				}
			})
			for _, variant := range []string{"gorgonia", "gorgonia+openblas"} {
				b.Run(fmt.Sprintf("%s/batch%d/%s", m.short, batch, variant), func(b *testing.B) {
					if variant == "gorgonia" {
						G.Use(gonum.Implementation{})
					} else {
						blas.Install()
					}
					g, x, _ := m.build(b, batch, true)
					check(b, G.Let(x, tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(append([]float32(nil), in...)))))
					vm := G.NewTapeMachine(g)
					defer vm.Close()
					b.ReportAllocs()
					for b.Loop() {
						vm.Reset()
						if err := vm.RunAll(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run(fmt.Sprintf("%s/batch%d/onnx", m.short, batch), func(b *testing.B) {
				G.Use(gonum.Implementation{})
				p := compileONNX(b, m.name)
				raw := make([]byte, 4*len(in))
				for i, v := range in {
					bits := math.Float32bits(v)
					raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := p.Run(batch, [][]byte{raw}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func compileONNX(tb testing.TB, name string) *onnx.Program {
	tb.Helper()
	data := readModel(tb, name)
	m, err := onnx.Parse(data)
	check(tb, err)
	p, err := onnx.Compile(m, onnx.Options{Buckets: []int{1, 8, 32}})
	check(tb, err)
	return p
}
