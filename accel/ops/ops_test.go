package ops

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/gannet-ml/gannet/accel/kernels"
)

func randDense(r *rand.Rand, shape ...int) *tensor.Dense {
	v := make([]float32, tensor.Shape(shape).TotalSize())
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

func node(g *G.ExprGraph, name string, d *tensor.Dense) *G.Node {
	return G.NewTensor(g, tensor.Float32, d.Dims(), G.WithShape(d.Shape()...), G.WithName(name), G.WithValue(d))
}

func closeTo(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("value %d = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestOnTapeMachine runs every op on gorgonia's TapeMachine (Do and, for
// Add and Activation, UnsafeDo) and compares with the kernels.
func TestOnTapeMachine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g := G.NewGraph()
	xd, wd, bd := randDense(r, 2, 3, 8, 8), randDense(r, 4, 3, 3, 3), randDense(r, 4)
	x := node(g, "x", xd)
	conv, err := Conv2D(x, node(g, "w", wd), node(g, "b", bd), ConvAttrs{Pads: [4]int{1, 1, 1, 1}, Act: kernels.ReLU})
	if err != nil {
		t.Fatal(err)
	}
	avg, err := AvgPool(conv, PoolAttrs{Kernel: [2]int{3, 3}, Strides: [2]int{2, 2}, Pads: [4]int{1, 1, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	gap, err := GlobalAvgPool(avg)
	if err != nil {
		t.Fatal(err)
	}
	flat, err := Reshape(gap, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := Gemm(flat, node(g, "fw", randDense(r, 4, 5)), node(g, "fb", randDense(r, 2, 1)), GemmAttrs{Alpha: 2, Beta: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	act, err := Activation(fc, kernels.ReLU6)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Add(act, act, kernels.Act{})
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}

	// The same with the kernels.
	cp := conv.Op().(*Conv2DOp).Params()
	c := make([]float32, cp.OutLen())
	kernels.Conv2D(cp, c, xd.Float32s(), wd.Float32s(), bd.Float32s(), make([]float32, 1<<16))
	closeTo(t, conv.Value().(*tensor.Dense).Float32s(), c)
	pp := avg.Op().(*PoolOp).p
	a := make([]float32, pp.OutLen())
	kernels.AvgPool(pp, a, c)
	closeTo(t, avg.Value().(*tensor.Dense).Float32s(), a)
	if s := gap.Shape(); !s.Eq(tensor.Shape{2, 4, 1, 1}) {
		t.Fatalf("global average pool shape %v", s)
	}
	fcv := fc.Value().(*tensor.Dense).Float32s()
	want := make([]float32, len(fcv))
	for i, v := range fcv {
		want[i] = 2 * kernels.ReLU6.Apply(v)
	}
	closeTo(t, sum.Value().(*tensor.Dense).Float32s(), want)
}

func TestBadInputsAreErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	g := G.NewGraph()
	x := node(g, "x", randDense(r, 1, 2, 5, 5))
	conv, err := Conv2D(x, node(g, "w", randDense(r, 3, 2, 3, 3)), nil, ConvAttrs{})
	if err != nil {
		t.Fatal(err)
	}
	op := conv.Op().(*Conv2DOp)
	cases := map[string][]G.Value{
		"input 0 has shape":  {randDense(r, 1, 2, 5, 4), randDense(r, 3, 2, 3, 3)},
		"want float32":       {tensor.New(tensor.WithShape(1, 2, 5, 5), tensor.Of(tensor.Float64)), randDense(r, 3, 2, 3, 3)},
		"inputs, want":       {randDense(r, 1, 2, 5, 5)},
		"input 1 is not bou": {randDense(r, 1, 2, 5, 5), nil},
	}
	for want, in := range cases {
		if _, err := op.Do(in...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Do with %s: %v", want, err)
		}
	}
	if _, err := op.UsePreallocDo(randDense(r, 1, 3, 3, 2), randDense(r, 1, 2, 5, 5), randDense(r, 3, 2, 3, 3)); err == nil {
		t.Error("UsePreallocDo with a wrong-sized output succeeded")
	}
	// Construction refuses what cannot run.
	if _, err := Conv2D(x, node(g, "w2", randDense(r, 3, 1, 3, 3)), nil, ConvAttrs{}); err == nil {
		t.Error("Conv2D with weights for the wrong channel count succeeded")
	}
	if _, err := Gemm(node(g, "a", randDense(r, 2, 3)), node(g, "b", randDense(r, 4, 3)), nil, GemmAttrs{}); err == nil {
		t.Error("Gemm of 2x3 by 4x3 without transB succeeded")
	}
	if _, err := Gemm(node(g, "a2", randDense(r, 2, 3)), node(g, "b2", randDense(r, 3, 4)), node(g, "c2", randDense(r, 3)), GemmAttrs{}); err == nil {
		t.Error("Gemm with a bias of 3 for 2x4 succeeded")
	}
	if _, err := Add(x, node(g, "y", randDense(r, 1, 2, 5, 4)), kernels.ReLU); err == nil {
		t.Error("Add of different shapes succeeded")
	}
}
