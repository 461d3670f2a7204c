package onnx

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gannet-ml/gannet/internal/fmnist"
)

// The real models and their PyTorch reference outputs are made by
// scripts/make_models.py.
const testdataDir = "../../testdata"

var realModels = []string{"fashion-mnist-mlp", "fashion-mnist-cnn"}

var testBuckets = []int{1, 2, 4, 8, 16, 32}

// modelBytes reads a real model, skipping the test if it has not been made.
func modelBytes(tb testing.TB, name string) []byte {
	tb.Helper()
	path := filepath.Join(testdataDir, "models", name, "1", "model.onnx")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tb.Skipf("%s is absent: run /usr/bin/python3 scripts/make_models.py", path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func compileReal(tb testing.TB, name string) *Program {
	tb.Helper()
	m, err := Parse(modelBytes(tb, name))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	p, err := Compile(m, Options{Buckets: testBuckets})
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return p
}

type reference struct {
	logits  []float32 // images x 10
	images  int
	correct int
}

func loadReference(t *testing.T, name string) reference {
	t.Helper()
	var meta struct {
		Images           int `json:"images"`
		ReferenceCorrect int `json:"reference_correct"`
	}
	js, err := os.ReadFile(filepath.Join(testdataDir, "reference", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &meta); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(testdataDir, "reference", name+".logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != meta.Images*10*4 {
		t.Fatalf("%s.logits.f32 has %d bytes, want %d", name, len(raw), meta.Images*40)
	}
	return reference{logits: bytesF32(raw), images: meta.Images, correct: meta.ReferenceCorrect}
}

func bytesF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func f32Bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

// batchBytes packs rows [from, to) of images as one input.
func batchBytes(images [][]float32, from, to int) []byte {
	out := make([]byte, 0, (to-from)*fmnist.Pixels*4)
	for _, img := range images[from:to] {
		out = append(out, f32Bytes(img)...)
	}
	return out
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestRealModels runs both models on the reference images in batches of 1,
// 3 (padded to 4, with a last partial batch) and 32, and compares every logit
// with PyTorch's.
func TestRealModels(t *testing.T) {
	for _, name := range realModels {
		t.Run(name, func(t *testing.T) {
			p := compileReal(t, name)
			ref := loadReference(t, name)
			images, labels, err := fmnist.TestImages(fmnist.DefaultDir, ref.images)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Buckets(); fmt.Sprint(got) != fmt.Sprint(testBuckets) {
				t.Errorf("Buckets() = %v", got)
			}
			for _, bs := range []int{1, 3, 32} {
				t.Run(fmt.Sprintf("batch%d", bs), func(t *testing.T) {
					correct, worst := 0, 0.0
					for from := 0; from < len(images); from += bs {
						to := min(from+bs, len(images))
						n := to - from
						outs, shapes, err := p.Run(n, [][]byte{batchBytes(images, from, to)})
						if err != nil {
							t.Fatalf("Run rows %d..%d: %v", from, to, err)
						}
						if len(outs) != 1 || fmt.Sprint(shapes) != fmt.Sprintf("[[%d 10]]", n) {
							t.Fatalf("Run rows %d..%d: %d outputs, shapes %v", from, to, len(outs), shapes)
						}
						logits := bytesF32(outs[0])
						if len(logits) != n*10 {
							t.Fatalf("Run rows %d..%d: %d logits", from, to, len(logits))
						}
						for r := 0; r < n; r++ {
							got, want := logits[r*10:(r+1)*10], ref.logits[(from+r)*10:(from+r+1)*10]
							for k := range got {
								d := math.Abs(float64(got[k] - want[k]))
								worst = max(worst, d)
								if d > 1e-4 {
									t.Fatalf("image %d logit %d: got %v, PyTorch %v (diff %g)", from+r, k, got[k], want[k], d)
								}
							}
							if argmax(got) == int(labels[from+r]) {
								correct++
							}
						}
					}
					if correct != ref.correct {
						t.Errorf("%d of %d correct, PyTorch %d", correct, len(images), ref.correct)
					}
					t.Logf("%d/%d correct, max |diff| %.3g", correct, len(images), worst)
				})
			}
		})
	}
}
