package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/client"
	"github.com/gannet-ml/gannet/internal/fmnist"
	"github.com/gannet-ml/gannet/wire"
)

var builtinModels = []string{"fashion-mnist-mlp", "fashion-mnist-cnn"}

// reference is what scripts/make_models.py recorded from PyTorch.
type reference struct {
	Images  int `json:"images"`
	Correct int `json:"reference_correct"`
	Logits  []float32
}

func loadReference(t testing.TB, model string) reference {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "reference")
	var ref reference
	js, err := os.ReadFile(filepath.Join(dir, model+".json"))
	if err == nil {
		err = json.Unmarshal(js, &ref)
	}
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, model+".logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	ref.Logits = make([]float32, len(raw)/4)
	for i := range ref.Logits {
		ref.Logits[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	if len(ref.Logits) != 10*ref.Images {
		t.Fatalf("%s: %d logits for %d images", model, len(ref.Logits), ref.Images)
	}
	return ref
}

func testImages(t testing.TB, n int) ([][]float32, []uint8) {
	t.Helper()
	px, labels, err := fmnist.TestImages(fmnist.DefaultDir, n)
	if err != nil {
		t.Fatalf("Fashion-MNIST (Debian package dataset-fashion-mnist): %v", err)
	}
	return px, labels
}

// classify sends every image through send from a few goroutines at once
// (so batches form) and checks each answer against PyTorch's logits and the
// count of correct answers against PyTorch's.
func classify(t *testing.T, ref reference, images [][]float32, labels []uint8, send func(i int) []float32) {
	const workers = 4
	var wg sync.WaitGroup
	next := make(chan int)
	logits := make([][]float32, len(images))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				logits[i] = send(i)
			}
		}()
	}
	for i := range images {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		return
	}
	correct := 0
	worst := 0.0
	for i, l := range logits {
		if len(l) != 10 {
			t.Fatalf("image %d: %d logits", i, len(l))
		}
		for j := range l {
			worst = math.Max(worst, math.Abs(float64(l[j]-ref.Logits[10*i+j])))
		}
		if argmax(l) == int(labels[i]) {
			correct++
		}
	}
	if worst > 1e-4 {
		t.Errorf("served logits differ from PyTorch's by up to %g", worst)
	}
	if correct != ref.Correct {
		t.Errorf("served accuracy %d/%d, PyTorch %d/%d", correct, len(images), ref.Correct, len(images))
	}
	t.Logf("served accuracy %d/%d (PyTorch %d), max |logit - PyTorch| %.2g", correct, len(images), ref.Correct, worst)
}

// TestClassifyFashionMNIST serves both built-in models with a local worker
// each and classifies the reference images over HTTP (JSON and the binary
// extension) and over the Go SDK.
func TestClassifyFashionMNIST(t *testing.T) {
	in := startServe(t)
	in.waitReady(t)
	sdk := in.dial(t)
	for _, model := range builtinModels {
		ref := loadReference(t, model)
		images, labels := testImages(t, ref.Images)
		path := "/v2/models/" + model + "/infer"
		t.Run(model+"/http-json", func(t *testing.T) {
			classify(t, ref, images, labels, func(i int) []float32 {
				code, h, body := in.post(t, path, jsonImage(images[i]), nil)
				if code != 200 {
					t.Fatalf("image %d: %d %s", i, code, body)
				}
				return logitsOf(t, h, body)
			})
		})
		t.Run(model+"/http-binary", func(t *testing.T) {
			classify(t, ref, images, labels, func(i int) []float32 {
				body, n := binaryImage(images[i])
				// Like Triton's clients: no Content-Type, binary outputs.
				code, h, resp := in.post(t, path, body, map[string]string{"Inference-Header-Content-Length": itoa(n)})
				if code != 200 || h.Get("Inference-Header-Content-Length") == "" {
					t.Fatalf("image %d: %d %v %s", i, code, h, resp)
				}
				return logitsOf(t, h, resp)
			})
		})
		t.Run(model+"/sdk", func(t *testing.T) {
			ctx := withTimeout(t, 2*time.Minute)
			classify(t, ref, images, labels, func(i int) []float32 {
				outs, err := sdk.Infer(ctx, model, []client.Tensor{fp32Tensor("input", []int64{1, 1, 28, 28}, images[i])})
				if err != nil {
					t.Fatalf("image %d: %v", i, err)
				}
				if len(outs) != 1 || outs[0].Name != "logits" || outs[0].DataType != wire.TypeFP32 {
					t.Fatalf("image %d: outputs %+v", i, outs)
				}
				return fromFP32(outs[0].Data)
			})
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fp32Tensor(name string, shape []int64, vals []float32) client.Tensor {
	data := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	return client.Tensor{Name: name, DataType: wire.TypeFP32, Shape: shape, Data: data}
}

func fromFP32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
