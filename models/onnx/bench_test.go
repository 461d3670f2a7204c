package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gannet-ml/gannet/accel"
	"github.com/gannet-ml/gannet/internal/fmnist"
)

// BenchmarkRun times a whole inference (decode the request bytes, run the
// bucket, encode the outputs) with the caller's output buffers
// (Program.RunInto; Run adds one allocation for the outputs it returns), on the Fashion-MNIST models at
// batch 1, 8 and 32 (real images) and on the torchvision models of
// testdata/large at batch 1 and 8 (PyTorch's reference inputs; skipped when
// absent). scripts/bench_engine.py parses its lines:
// BenchmarkRun/<model>/batch<N>.
func BenchmarkRun(b *testing.B) {
	accel.Setup(0)
	b.Logf("BLAS %s, %d threads", accel.Backend(), accel.Threads())
	b.Run("mlp", func(b *testing.B) { benchFMNIST(b, realModels[0]) })
	b.Run("cnn", func(b *testing.B) { benchFMNIST(b, realModels[1]) })
	for _, name := range []string{"resnet18", "mobilenet_v2"} {
		b.Run(name, func(b *testing.B) { benchLarge(b, name) })
	}
}

func benchFMNIST(b *testing.B, name string) {
	images, _, err := fmnist.TestImages(fmnist.DefaultDir, 32)
	if err != nil {
		b.Skip(err)
	}
	m, err := Parse(modelBytes(b, name))
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(m, Options{Buckets: []int{1, 8, 32}})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 8, 32} {
		benchBatch(b, p, n, batchBytes(images, 0, n))
	}
}

func benchLarge(b *testing.B, name string) {
	dir := filepath.Join(testdataDir, "large")
	raw, err := os.ReadFile(filepath.Join(dir, "models", name, "1", "model.onnx"))
	if errors.Is(err, os.ErrNotExist) {
		b.Skipf("%s is absent: run /usr/bin/python3 scripts/make_models.py --torchvision", name)
	}
	if err != nil {
		b.Fatal(err)
	}
	m, err := Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	p, err := Compile(m, Options{Buckets: []int{1, 8}})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 8} {
		in, err := os.ReadFile(filepath.Join(dir, "reference", fmt.Sprintf("%s.b%d.in.f32", name, n)))
		if err != nil {
			b.Fatal(err)
		}
		benchBatch(b, p, n, in)
	}
}

func benchBatch(b *testing.B, p *Program, n int, in []byte) {
	b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
		inputs := [][]byte{in}
		outputs := make([][]byte, len(p.outputs))
		for i := range outputs {
			outputs[i] = make([]byte, p.OutputBytes(i, n))
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := p.RunInto(n, inputs, outputs); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// trivialProgram is the smallest served model: y = Relu(x), x [batch, 16].
func trivialProgram(tb testing.TB) *Program {
	g := graphSpec{
		nodes:   [][]byte{node("r", "Relu", []string{"x"}, []string{"y"})},
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 16)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 16)},
	}
	m, err := Parse(g.encode())
	if err != nil {
		tb.Fatal(err)
	}
	p, err := Compile(m, Options{Buckets: []int{1}})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkOverhead is the fixed cost of one Program.Run: a one-op model
// (validation, decoding, the executor, encoding the output).
func BenchmarkOverhead(b *testing.B) {
	p := trivialProgram(b)
	in := [][]byte{make([]byte, 64)}
	b.Run("run", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := p.Run(1, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("executor", func(b *testing.B) {
		ex := p.progs[0].ex
		b.ReportAllocs()
		for b.Loop() {
			if err := ex.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
