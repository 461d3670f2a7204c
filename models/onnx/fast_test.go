package onnx

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The fused fast paths (fast.go) against the same graphs with fusion
// prevented: making the intermediate value a graph output too gives it a
// second reader, so BatchNormalization, the bias Add and the activation
// run on their own (kernels, arithOp, accel's Activation).

func randFloats(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

// runBoth compiles g as given and with the extra outputs, runs both on the
// same input and compares output "y".
func runBoth(t *testing.T, g graphSpec, extra [][]byte, inRow int, wantSteps int) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	in := f32Bytes(randFloats(r, 3*inRow))
	run := func(g graphSpec) ([]float32, *Program) {
		m, err := Parse(g.encode())
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(m, Options{Buckets: []int{1, 4}})
		if err != nil {
			t.Fatal(err)
		}
		outs, _, err := p.Run(3, [][]byte{in})
		if err != nil {
			t.Fatal(err)
		}
		return bytesF32(outs[0]), p
	}
	fused, p := run(g)
	if n := p.progs[0].ex.Steps(); n != wantSteps {
		t.Errorf("fused graph runs %d ops, want %d (fallbacks %v)", n, wantSteps, p.Fallbacks())
	}
	g.outputs = append(g.outputs, extra...)
	plain, _ := run(g)
	worst := 0.0
	for i := range plain {
		d := math.Abs(float64(fused[i] - plain[i]))
		worst = max(worst, d)
		if d > 1e-4+1e-4*math.Abs(float64(plain[i])) {
			t.Fatalf("element %d: fused %v, unfused %v", i, fused[i], plain[i])
		}
	}
	t.Logf("max |diff| %.3g", worst)
}

func TestFuseConvBatchNormRelu(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const C, M = 3, 4
	pos := func(n int) []float32 {
		v := randFloats(r, n)
		for i := range v {
			v[i] = float32(math.Abs(float64(v[i]))) + 0.5
		}
		return v
	}
	g := graphSpec{
		nodes: [][]byte{
			node("c", "Conv", []string{"x", "w", "b"}, []string{"c"}, attrIs("pads", 1, 1, 1, 1)),
			node("bn", "BatchNormalization", []string{"c", "s", "beta", "mean", "var"}, []string{"n"}, attrF("epsilon", 1e-3)),
			node("r", "Relu", []string{"n"}, []string{"y"}),
		},
		inits: [][]byte{
			floatTensor("w", []int64{M, C, 3, 3}, randFloats(r, M*C*9)),
			floatTensor("b", []int64{M}, randFloats(r, M)),
			floatTensor("s", []int64{M}, randFloats(r, M)),
			floatTensor("beta", []int64{M}, randFloats(r, M)),
			floatTensor("mean", []int64{M}, randFloats(r, M)),
			floatTensor("var", []int64{M}, pos(M)),
		},
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", C, 5, 5)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", M, 5, 5)},
	}
	runBoth(t, g, [][]byte{valueInfoPB("c", dtFloat, "batch", M, 5, 5)}, C*25, 1)
}

func TestFuseMatMulAddClip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	g := graphSpec{
		nodes: [][]byte{
			node("mm", "MatMul", []string{"x", "w"}, []string{"m"}),
			node("add", "Add", []string{"bias", "m"}, []string{"a"}),
			node("clip", "Clip", []string{"a", "lo", "hi"}, []string{"y"}),
		},
		inits: [][]byte{
			floatTensor("w", []int64{6, 5}, randFloats(r, 30)),
			floatTensor("bias", []int64{5}, randFloats(r, 5)),
			floatTensor("lo", nil, []float32{-0.5}),
			floatTensor("hi", nil, []float32{0.7}),
		},
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 6)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 5)},
	}
	runBoth(t, g, [][]byte{valueInfoPB("m", dtFloat, "batch", 5)}, 6, 1)
}

func TestFuseResidualAddRelu(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	g := graphSpec{
		nodes: [][]byte{
			node("c", "Conv", []string{"x", "w"}, []string{"c"}),
			node("add", "Add", []string{"c", "x"}, []string{"a"}),
			node("r", "Relu", []string{"a"}, []string{"y"}),
		},
		inits:   [][]byte{floatTensor("w", []int64{2, 2, 1, 1}, randFloats(r, 4))},
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 2, 3, 3)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 2, 3, 3)},
	}
	runBoth(t, g, [][]byte{valueInfoPB("a", dtFloat, "batch", 2, 3, 3)}, 18, 2)
}

// TestRunAllocations: the executor and RunInto allocate nothing per run;
// Program.Run only the bytes and shapes it returns (4 allocations, whatever
// the model).
func TestRunAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := trivialProgram(t)
	in := [][]byte{make([]byte, 64)}
	if a := testing.AllocsPerRun(100, func() { _ = p.progs[0].ex.Run() }); a != 0 {
		t.Errorf("executor: %v allocations per run, want 0", a)
	}
	out := [][]byte{make([]byte, p.OutputBytes(0, 1))}
	if a := testing.AllocsPerRun(100, func() { _ = p.RunInto(1, in, out) }); a != 0 {
		t.Errorf("Program.RunInto: %v allocations per run, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { _, _, _ = p.Run(1, in) }); a > 4 {
		t.Errorf("Program.Run: %v allocations per run, want <= 4", a)
	}
}

// TestRunAllocationsModels checks that a whole inference (decoding the
// input bytes, the executor, encoding the outputs) allocates nothing per
// run with the caller's output buffers (RunInto) on the real models, whose
// convolutions and products take the packed paths where the CPU has them
// (the torchvision models when testdata/large holds them), and that
// RunInto writes what Run returns.
func TestRunAllocationsModels(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	check := func(t *testing.T, raw []byte, buckets []int, runs int) {
		m, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(m, Options{Buckets: buckets})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for _, n := range buckets {
			ins := make([][]byte, len(p.inputs))
			for i := range ins {
				ins[i] = f32Bytes(randFloats(r, n*p.inRow[i]))
			}
			outs := make([][]byte, len(p.outputs))
			for i := range outs {
				outs[i] = make([]byte, p.OutputBytes(i, n))
			}
			if a := testing.AllocsPerRun(runs, func() { _ = p.RunInto(n, ins, outs) }); a != 0 {
				t.Errorf("batch %d: RunInto made %v allocations per run, want 0", n, a)
			}
			want, _, err := p.Run(n, ins)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !bytes.Equal(outs[i], want[i]) {
					t.Errorf("batch %d: RunInto's output %d differs from Run's", n, i)
				}
			}
		}
	}
	for _, name := range realModels {
		t.Run(name, func(t *testing.T) { check(t, modelBytes(t, name), []int{1, 8, 32}, 10) })
	}
	for _, name := range []string{"resnet18", "mobilenet_v2"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(testdataDir, "large", "models", name, "1", "model.onnx"))
			if errors.Is(err, os.ErrNotExist) {
				t.Skipf("%s is absent", name)
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, raw, []int{1, 8}, 2)
		})
	}
}
