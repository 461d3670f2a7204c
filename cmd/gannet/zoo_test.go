package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// copyModel copies a model folder (config.yaml, 1/model.onnx) into repo.
func copyModel(t *testing.T, src, repo, name string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		dst := filepath.Join(repo, name, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestModelZoo serves, side by side: the MLP; "unsupported", a bare folder
// (no config.yaml: defaults from the ONNX file) whose model has an op the
// compiler refuses; and, when `make models-large` has made them,
// torchvision resnet18, mobilenet_v2 and squeezenet1_1 (random weights),
// checked over HTTP against PyTorch's outputs within 1e-4 at batch sizes
// 1, 3 and 8. The refused model is not ready and says which node and op;
// the others serve.
func TestModelZoo(t *testing.T) {
	repo := t.TempDir()
	copyModel(t, filepath.Join(plainRepository(t), "fashion-mnist-mlp"), repo, "fashion-mnist-mlp")
	os.MkdirAll(filepath.Join(repo, "unsupported", "1"), 0o755)
	onnxFile, err := os.ReadFile("../../testdata/unsupported/einsum.onnx")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, "unsupported", "1", "model.onnx"), onnxFile, 0o644)
	large := []string{"resnet18", "mobilenet_v2", "squeezenet1_1"}
	have := 0
	for _, m := range large {
		src := filepath.Join("../../testdata/large/models", m)
		if _, err := os.Stat(src); err == nil && !testing.Short() {
			copyModel(t, src, repo, m)
			have++
		}
	}
	in := startServe(t, "--model-repository", repo, "--local-workers", "1")
	in.waitStatus(t, "/v2/models/fashion-mnist-mlp/ready", 200, 60*time.Second)

	// The refused model: not ready, and the reason names the node and op.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(in.http + "/v2/models/unsupported/ready")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("a model with an unsupported op is ready")
		}
		if strings.Contains(string(body), "Einsum") && strings.Contains(string(body), "mix") {
			t.Logf("refused: %s", body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not-ready reason %q does not name node \"mix\" and op Einsum", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, _, body := in.post(t, "/v2/models/unsupported/infer", []byte(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`), nil)
	if code == 200 || !strings.Contains(string(body), "Einsum") {
		t.Errorf("infer on the refused model: %d %s", code, body)
	}
	// The others serve.
	images, _ := testImages(t, 1)
	if code, _, body := in.post(t, "/v2/models/fashion-mnist-mlp/infer", jsonImage(images[0]), nil); code != 200 {
		t.Fatalf("the MLP next to a refused model: %d %s", code, body)
	}
	if have < len(large) {
		t.Logf("%d of the torchvision models present (make models-large makes them)", have)
	}
	for _, m := range large[:have] {
		in.waitStatus(t, "/v2/models/"+m+"/ready", 200, 120*time.Second)
		var meta struct {
			Inputs []struct{ Name string }
		}
		resp, err := http.Get(in.http + "/v2/models/" + m)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&meta)
		resp.Body.Close()
		for _, n := range []int{1, 3, 8} {
			ref := fmt.Sprintf("../../testdata/large/reference/%s.b%d", m, n)
			x, err1 := os.ReadFile(ref + ".in.f32")
			want, err2 := os.ReadFile(ref + ".out.f32")
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: reference: %v %v", m, err1, err2)
			}
			hdr := fmt.Sprintf(`{"inputs":[{"name":%q,"shape":[%d,3,224,224],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"parameters":{"binary_data_output":true}}`,
				meta.Inputs[0].Name, n, len(x))
			code, h, body := in.post(t, "/v2/models/"+m+"/infer", append([]byte(hdr), x...),
				map[string]string{"Inference-Header-Content-Length": strconv.Itoa(len(hdr))})
			if code != 200 {
				t.Fatalf("%s batch %d: %d %s", m, n, code, body)
			}
			jsonLen, _ := strconv.Atoi(h.Get("Inference-Header-Content-Length"))
			got := body[jsonLen:]
			if len(got) != len(want) {
				t.Fatalf("%s batch %d: %d output bytes, want %d", m, n, len(got), len(want))
			}
			var worst float64
			for i := 0; i < len(want); i += 4 {
				a := math.Float32frombits(binary.LittleEndian.Uint32(got[i:]))
				b := math.Float32frombits(binary.LittleEndian.Uint32(want[i:]))
				worst = max(worst, math.Abs(float64(a-b)))
			}
			t.Logf("%s batch %d over HTTP: max |diff| to PyTorch %.2g", m, n, worst)
			if worst > 1e-4 {
				t.Errorf("%s batch %d: max diff %g > 1e-4", m, n, worst)
			}
		}
	}
}
