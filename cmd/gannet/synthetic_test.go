package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/client"
	"github.com/gannet-ml/gannet/wire"
)

// syntheticConfig is the synthetic model of docs/synthetic.md.
const syntheticConfig = `platform: synthetic
synthetic: {base: 5ms, per_item: 1ms}
input: {name: x, datatype: FP32, shape: [-1, 4]}
max_batch_size: 32
slo: 50ms at p99
`

type modelMetadata struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions"`
	Platform string   `json:"platform"`
	Inputs   []struct {
		Name     string  `json:"name"`
		Datatype string  `json:"datatype"`
		Shape    []int64 `json:"shape"`
	} `json:"inputs"`
	Outputs []struct {
		Name     string  `json:"name"`
		Datatype string  `json:"datatype"`
		Shape    []int64 `json:"shape"`
	} `json:"outputs"`
}

func (in *instance) metadata(t *testing.T, model string) modelMetadata {
	t.Helper()
	resp, err := http.Get(in.http + "/v2/models/" + model)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var md modelMetadata
	if err := json.Unmarshal(b, &md); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET /v2/models/%s: %d %s (%v)", model, resp.StatusCode, b, err)
	}
	return md
}

// TestSyntheticModelServes serves a synthetic model from a folder with only
// a config.yaml, with 4 local workers: its metadata, the echo over HTTP and
// the SDK, its latency (at least base + per_item x rows) and 4 ready
// replicas.
func TestSyntheticModelServes(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "echo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "echo", "config.yaml"), []byte(syntheticConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	in := startServe(t, "--model-repository", dir, "--local-workers", "4")
	in.waitReady(t)

	md := in.metadata(t, "echo")
	if md.Platform != "synthetic" || !slices.Equal(md.Versions, []string{"1"}) || len(md.Inputs) != 1 || len(md.Outputs) != 1 ||
		fmt.Sprint(md.Inputs[0]) != "{x FP32 [-1 4]}" || fmt.Sprint(md.Outputs[0]) != "{y FP32 [-1 4]}" {
		t.Fatalf("metadata %+v", md)
	}

	t.Run("HTTP", func(t *testing.T) {
		body := []byte(`{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8.5]}]}`)
		start := time.Now()
		code, _, b := in.post(t, "/v2/models/echo/infer", body, nil)
		took := time.Since(start)
		var r inferResponse
		if err := json.Unmarshal(b, &r); code != 200 || err != nil {
			t.Fatalf("%d %s (%v)", code, b, err)
		}
		if len(r.Outputs) != 1 || r.Outputs[0].Name != "y" || r.Outputs[0].Datatype != "FP32" ||
			fmt.Sprint(r.Outputs[0].Shape) != "[2 4]" || fmt.Sprint(r.Outputs[0].Data) != "[1 2 3 4 5 6 7 8.5]" {
			t.Fatalf("outputs %+v, want x echoed as y", r.Outputs)
		}
		if took < 7*time.Millisecond {
			t.Errorf("answered in %v, faster than 5ms + 2 x 1ms", took)
		}
	})

	t.Run("SDK", func(t *testing.T) {
		vals := []float32{0, -1, 2, 3e9, 4, 5, 6, 7, 8, 9, 10, 11}
		out, err := in.dial(t).Infer(withTimeout(t, 10*time.Second), "echo", []client.Tensor{fp32Tensor("x", []int64{3, 4}, vals)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || out[0].Name != "y" || out[0].DataType != wire.TypeFP32 || fmt.Sprint(out[0].Shape) != "[3 4]" ||
			fmt.Sprint(fromFP32(out[0].Data)) != fmt.Sprint(vals) {
			t.Fatalf("outputs %+v, want x echoed as y", out)
		}
	})

	ready := map[string]string{"model": "echo", "state": "ready"}
	for deadline := time.Now().Add(30 * time.Second); value(scrape(t, in), "gannet_replicas", ready) != 4; {
		if time.Now().After(deadline) {
			t.Fatalf("gannet_replicas%v = %v after 30s, want 4", ready, value(scrape(t, in), "gannet_replicas", ready))
		}
		time.Sleep(100 * time.Millisecond)
	}
	in.live(t)
}

// TestSyntheticBareONNXFolder serves a bare ONNX folder, <repo>/<model>/1/
// model.onnx without a config.yaml, with the defaults.
func TestSyntheticBareONNXFolder(t *testing.T) {
	onnx, err := os.ReadFile("../../testdata/models/fashion-mnist-mlp/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bare", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bare", "1", "model.onnx"), onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	in := startServe(t, "--model-repository", dir)
	in.waitReady(t)
	if md := in.metadata(t, "bare"); md.Platform != "onnx_onnxv1" || len(md.Outputs) != 1 || fmt.Sprint(md.Outputs[0].Shape) != "[-1 10]" {
		t.Fatalf("metadata %+v", md)
	}
	ref, err := os.ReadFile("../../testdata/reference/fashion-mnist-mlp.logits.f32")
	if err != nil {
		t.Fatal(err)
	}
	images, _ := testImages(t, 1)
	code, h, b := in.post(t, "/v2/models/bare/infer", jsonImage(images[0]), nil)
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	logits, want := logitsOf(t, h, b), fromFP32(ref[:40])
	for i := range want {
		if len(logits) != len(want) || math.Abs(float64(logits[i]-want[i])) > 1e-4 {
			t.Fatalf("logits %v, PyTorch %v", logits, want)
		}
	}
}
