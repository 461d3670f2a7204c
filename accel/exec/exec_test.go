package exec

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gannet-ml/gannet/accel/kernels"
	"github.com/gannet-ml/gannet/accel/ops"
)

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

func weight(g *G.ExprGraph, r *rand.Rand, name string, shape ...int) *G.Node {
	d := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(randF32(r, tensor.Shape(shape).TotalSize())))
	return G.NewTensor(g, tensor.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(d))
}

func must(n *G.Node, err error) *G.Node {
	if err != nil {
		panic(err)
	}
	return n
}

// smallNet builds conv+relu -> residual add+relu -> maxpool -> reshape ->
// gemm+relu -> gemm with accel ops, batch n.
func smallNet(r *rand.Rand, n int) (g *G.ExprGraph, x, out *G.Node) {
	g = G.NewGraph()
	x = G.NewTensor(g, tensor.Float32, 4, G.WithShape(n, 3, 10, 10), G.WithName("x"))
	pad1 := ops.ConvAttrs{Pads: [4]int{1, 1, 1, 1}, Act: kernels.ReLU}
	c1 := must(ops.Conv2D(x, weight(g, r, "w1", 8, 3, 3, 3), weight(g, r, "b1", 8), pad1))
	c2 := must(ops.Conv2D(c1, weight(g, r, "w2", 8, 8, 3, 3), weight(g, r, "b2", 8), ops.ConvAttrs{Pads: [4]int{1, 1, 1, 1}}))
	res := must(ops.Add(c2, c1, kernels.ReLU))
	p := must(ops.MaxPool(res, ops.PoolAttrs{Kernel: [2]int{2, 2}, Strides: [2]int{2, 2}}))
	flat := must(ops.Reshape(p, n, 8*5*5))
	h := must(ops.Gemm(flat, weight(g, r, "fw1", 32, 200), weight(g, r, "fb1", 32), ops.GemmAttrs{TransB: true, Act: kernels.ReLU}))
	out = must(ops.Gemm(h, weight(g, r, "fw2", 10, 32), weight(g, r, "fb2", 10), ops.GemmAttrs{TransB: true}))
	return g, x, out
}

func runTape(t testing.TB, g *G.ExprGraph, x *G.Node, in []float32, out *G.Node) []float32 {
	t.Helper()
	d := tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(append([]float32(nil), in...)))
	if err := G.Let(x, d); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out.Value().(*tensor.Dense).Float32s()...)
}

func assertClose(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Fatalf("value %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestMatchesTapeMachine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g, x, out := smallNet(r, 3)
	in := randF32(r, 3*3*10*10)
	want := runTape(t, g, x, in, out)

	e, err := New(g, []*G.Node{x}, []*G.Node{out})
	if err != nil {
		t.Fatal(err)
	}
	if fb := e.Fallbacks(); len(fb) != 0 {
		t.Errorf("fallbacks %v, want none", fb)
	}
	copy(e.Input(0), in)
	for run := 0; run < 3; run++ { // buffers are reused across runs
		if err := e.Run(); err != nil {
			t.Fatal(err)
		}
		assertClose(t, e.OutputF32(0), want, 1e-5)
	}
	if got := e.Output(0).Shape(); !got.Eq(tensor.Shape{3, 10}) {
		t.Errorf("output shape %v", got)
	}
	planned, unshared := e.ArenaLen()
	if planned >= unshared {
		t.Errorf("arena of %d values for %d values of results: no reuse", planned, unshared)
	}
	t.Logf("%d steps, arena %d values (%d without reuse)", e.Steps(), planned, unshared)
}

func TestInPlaceAndViews(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(4, 6), G.WithName("x"))
	a := must(ops.Gemm(x, weight(g, r, "w", 6, 6), nil, ops.GemmAttrs{}))
	b := must(ops.Activation(a, kernels.ReLU6))                         // in place on a
	c := must(ops.Reshape(b, 2, 12))                                    // a view of b
	d := must(ops.Activation(c, kernels.Act{}))                         // in place again
	out := must(ops.Add(d, must(ops.Reshape(x, 2, 12)), kernels.Act{})) // x is an input: not overwritten
	e, err := New(g, []*G.Node{x}, []*G.Node{out, a})
	if err != nil {
		t.Fatal(err)
	}
	in := randF32(r, 24)
	copy(e.Input(0), in)
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	want := runTape(t, g, x, in, out)
	assertClose(t, e.OutputF32(0), want, 1e-6)
	assertClose(t, e.Input(0), in, 0) // input untouched
	// a is an output, so b must not have overwritten it: a's values are
	// the raw product.
	for _, v := range e.OutputF32(1) {
		if v > 6 || v < 0 {
			return // some value outside ReLU6's range: a was kept
		}
	}
	t.Fatalf("output a %v looks clipped: overwritten in place", e.OutputF32(1))
}

func TestInPlaceSharesBuffer(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(4, 6), G.WithName("x"))
	a := must(ops.Gemm(x, weight(g, r, "w", 6, 6), nil, ops.GemmAttrs{}))
	b := must(ops.Activation(a, kernels.ReLU))
	c := must(ops.Activation(b, kernels.ReLU6))
	e, err := New(g, []*G.Node{x}, []*G.Node{c})
	if err != nil {
		t.Fatal(err)
	}
	if planned, _ := e.ArenaLen(); planned != 32 { // 24 values, aligned to 16
		t.Fatalf("arena of %d values, want one buffer of 32", planned)
	}
}

func TestStockGorgoniaOps(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(5, 7), G.WithName("x"))
	w := weight(g, r, "w", 7, 4)
	bias := weight(g, r, "b", 1, 4)
	h := G.Must(G.Mul(x, w))
	h = G.Must(G.BroadcastAdd(h, bias, nil, []byte{0}))
	h = G.Must(G.Rectify(h))
	h = G.Must(G.Reshape(h, tensor.Shape{4, 5}))
	out := G.Must(G.Tanh(h))
	in := randF32(r, 35)
	want := runTape(t, g, x, in, out)
	e, err := New(g, []*G.Node{x}, []*G.Node{out})
	if err != nil {
		t.Fatal(err)
	}
	copy(e.Input(0), in)
	for run := 0; run < 2; run++ {
		if err := e.Run(); err != nil {
			t.Fatal(err)
		}
		assertClose(t, e.OutputF32(0), want, 1e-5)
	}
	t.Logf("fallbacks: %v", e.Fallbacks())
}

func TestErrors(t *testing.T) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(2, 3), G.WithName("x"))
	y := G.NewTensor(g, tensor.Float32, 2, G.WithShape(3, 2), G.WithName("unbound"))
	out := must(ops.Gemm(x, y, nil, ops.GemmAttrs{}))
	if _, err := New(g, []*G.Node{x}, []*G.Node{out}); err == nil || !strings.Contains(err.Error(), "unbound") {
		t.Fatalf("New with an unbound leaf: %v", err)
	}
	if _, err := New(g, []*G.Node{out}, []*G.Node{out}); err == nil {
		t.Fatal("New with a computed node as input succeeded")
	}
	// A kernel panic becomes an error.
	e, err := New(g, []*G.Node{x, y}, []*G.Node{out})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Run(); err != nil {
		t.Fatal(err)
	}
	e.steps[0].op = panicOp{e.steps[0].op}
	e.steps[0].pre = panicOp{e.steps[0].op}
	if err := e.Run(); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Run with a panicking op: %v", err)
	}
}

type panicOp struct{ G.Op }

func (panicOp) UsePreallocDo(G.Value, ...G.Value) (G.Value, error) { panic("boom") }

func TestZeroAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{1, 4} {
		g, x, out := smallNet(r, n)
		e, err := New(g, []*G.Node{x}, []*G.Node{out})
		if err != nil {
			t.Fatal(err)
		}
		copy(e.Input(0), randF32(r, len(e.Input(0))))
		if err := e.Run(); err != nil {
			t.Fatal(err)
		}
		if a := testing.AllocsPerRun(50, func() { _ = e.Run() }); a != 0 && !raceEnabled {
			t.Fatalf("batch %d: %v allocations per run, want 0", n, a)
		}
	}
}

// trivial is the smallest useful graph: one op on 16 values.
func trivial() (*G.ExprGraph, *G.Node, *G.Node) {
	g := G.NewGraph()
	x := G.NewTensor(g, tensor.Float32, 2, G.WithShape(1, 16), G.WithName("x"))
	return g, x, must(ops.Activation(x, kernels.ReLU))
}

// BenchmarkOverhead is the executor's fixed cost per run: a one-op graph.
func BenchmarkOverhead(b *testing.B) {
	b.Run("executor", func(b *testing.B) {
		g, x, out := trivial()
		e, err := New(g, []*G.Node{x}, []*G.Node{out})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := e.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tapemachine", func(b *testing.B) {
		g, x, _ := trivial()
		if err := G.Let(x, tensor.New(tensor.WithShape(1, 16), tensor.WithBacking(make([]float32, 16)))); err != nil {
			b.Fatal(err)
		}
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
