package onnx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The torchvision models (random weights) and their PyTorch outputs are
// made by `/usr/bin/python3 scripts/make_models.py --torchvision` into
// testdata/large (not committed).
var largeModels = []string{"resnet18", "mobilenet_v2", "squeezenet1_1"}

func TestTorchvisionModels(t *testing.T) {
	if testing.Short() {
		t.Skip("large models: not in -short")
	}
	dir := filepath.Join(testdataDir, "large")
	for _, name := range largeModels {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "models", name, "1", "model.onnx"))
			if errors.Is(err, os.ErrNotExist) {
				t.Skipf("%s is absent: run /usr/bin/python3 scripts/make_models.py --torchvision", name)
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(m, Options{Buckets: []int{1, 2, 4, 8}})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 3, 8} {
				base := filepath.Join(dir, "reference", fmt.Sprintf("%s.b%d", name, n))
				in, err := os.ReadFile(base + ".in.f32")
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(base + ".out.f32")
				if err != nil {
					t.Fatal(err)
				}
				outs, shapes, err := p.Run(n, [][]byte{in})
				if err != nil {
					t.Fatalf("batch %d: %v", n, err)
				}
				if len(shapes[0]) != 2 || shapes[0][0] != int64(n) || shapes[0][1] != 1000 {
					t.Fatalf("batch %d: output shape %v", n, shapes[0])
				}
				got, w := bytesF32(outs[0]), bytesF32(want)
				worst := 0.0
				for k := range w {
					d := math.Abs(float64(got[k] - w[k]))
					worst = max(worst, d)
					if d > 1e-4+1e-4*math.Abs(float64(w[k])) {
						t.Fatalf("batch %d: logit %d = %v, PyTorch %v (diff %.3g)", n, k, got[k], w[k], d)
					}
				}
				t.Logf("batch %d: max |diff| from PyTorch %.3g", n, worst)
			}
		})
	}
}
