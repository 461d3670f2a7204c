package models

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gannet-ml/gannet"
	"github.com/gannet-ml/gannet/wire"
)

func TestBuiltinRepository(t *testing.T) {
	repo, err := Open(gannet.BuiltinModels())
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Models) != 2 {
		t.Fatalf("%d models", len(repo.Models))
	}
	for _, name := range []string{"fashion-mnist-cnn", "fashion-mnist-mlp"} {
		m := repo.Lookup(name)
		if m == nil {
			t.Fatalf("no %s", name)
		}
		md := m.Metadata
		if m.Config.SLO.String() != "20ms at p99" || m.Config.BatchingPolicy != "slo" {
			t.Errorf("%s: slo %v, policy %q; want 20ms at p99 and the default policy", name, m.Config.SLO, m.Config.BatchingPolicy)
		}
		if md.Platform != "onnx_onnxv1" || md.Version != "1" || md.MaxBatchSize != 32 || m.Config.MaxQueueSize != DefaultMaxQueueSize {
			t.Errorf("%s: %+v", name, md)
		}
		in, out := md.Inputs, md.Outputs
		if len(in) != 1 || in[0].Name != "input" || in[0].DataType != wire.TypeFP32 || fmt.Sprint(in[0].Shape) != "[-1 1 28 28]" {
			t.Errorf("%s inputs %+v", name, in)
		}
		if len(out) != 1 || out[0].Name != "logits" || out[0].DataType != wire.TypeFP32 || fmt.Sprint(out[0].Shape) != "[-1 10]" {
			t.Errorf("%s outputs %+v", name, out)
		}
	}
	if repo.Lookup("nope") != nil {
		t.Error("Lookup found a model that does not exist")
	}
}

func TestRepositoryErrors(t *testing.T) {
	onnx, err := os.ReadFile("../testdata/models/fashion-mnist-mlp/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	file := func(b []byte) *fstest.MapFile { return &fstest.MapFile{Data: b} }
	tests := []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"empty", fstest.MapFS{}, "no models"},
		{"no version", fstest.MapFS{"m/config.yaml": file([]byte("max_batch_size: 4\n"))}, `model "m": no version directory`},
		{"unknown key", fstest.MapFS{"m/config.yaml": file([]byte("max_batch_size: 4\nmax_batch: 8\n")), "m/1/model.onnx": file(onnx)}, `unknown key "max_batch"`},
		{"bad value", fstest.MapFS{"m/config.yaml": file([]byte("max_batch_size: -3\n")), "m/1/model.onnx": file(onnx)}, "max_batch_size -3"},
		{"not yaml", fstest.MapFS{"m/config.yaml": file([]byte("max_batch_size: [\n")), "m/1/model.onnx": file(onnx)}, "config.yaml"},
		{"not onnx", fstest.MapFS{"m/1/model.onnx": file([]byte("hello"))}, "m/1/model.onnx"},
		{"missing model file", fstest.MapFS{"m/1/README": file(nil)}, "model.onnx"},
		{"bad slo", fstest.MapFS{"m/config.yaml": file([]byte("slo: fast\n")), "m/1/model.onnx": file(onnx)}, `slo "fast"`},
		{"bad percentile", fstest.MapFS{"m/config.yaml": file([]byte("slo: 20ms at p100\n")), "m/1/model.onnx": file(onnx)}, `percentile "p100"`},
		{"unknown policy", fstest.MapFS{"m/config.yaml": file([]byte("batching_policy: magic\n")), "m/1/model.onnx": file(onnx)}, `batching_policy "magic"`},
		{"aimd without slo", fstest.MapFS{"m/config.yaml": file([]byte("batching_policy: aimd\n")), "m/1/model.onnx": file(onnx)}, "aimd needs an slo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.fs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestHighestVersionIsServed(t *testing.T) {
	onnx, err := os.ReadFile("../testdata/models/fashion-mnist-mlp/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	fs := fstest.MapFS{
		"m/1/model.onnx":  {Data: []byte("old, unreadable")},
		"m/10/model.onnx": {Data: onnx},
		"m/2/model.onnx":  {Data: []byte("old")},
		"m/config.yaml":   {Data: []byte("# defaults\n")},
		".hidden/x":       {Data: nil},
	}
	repo, err := Open(fs)
	if err != nil {
		t.Fatal(err)
	}
	m := repo.Lookup("m")
	if m.Version != "10" || strings.Join(m.Versions, ",") != "1,2,10" || m.Config.MaxBatchSize != DefaultMaxBatchSize {
		t.Fatalf("version %s of %v, config %+v", m.Version, m.Versions, m.Config)
	}
}

func TestParseSLO(t *testing.T) {
	for text, want := range map[string]string{
		"20ms at p99": "20ms at p99", "20ms": "20ms at p99", " 1.5s at p99.9 ": "1.5s at p99.9", "250us at p50": "250µs at p50",
	} {
		got, err := ParseSLO(text)
		if err != nil || got.String() != want {
			t.Errorf("ParseSLO(%q) = %v, %v; want %s", text, got, err, want)
		}
	}
	for _, bad := range []string{"", "0ms", "-1ms", "20 at p99", "20ms at 99", "20ms at p0", "20ms at pxx"} {
		if _, err := ParseSLO(bad); err == nil {
			t.Errorf("ParseSLO(%q): no error", bad)
		}
	}
}

// TestBareONNXFolder: <model>/1/model.onnx without a config.yaml serves
// with the defaults.
func TestBareONNXFolder(t *testing.T) {
	onnx, err := os.ReadFile("../testdata/models/fashion-mnist-mlp/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := Open(fstest.MapFS{"bare/1/model.onnx": {Data: onnx}})
	if err != nil {
		t.Fatal(err)
	}
	m := repo.Lookup("bare")
	c, md := m.Config, m.Metadata
	if c.Platform != "onnx" || c.MaxBatchSize != DefaultMaxBatchSize || c.MaxQueueSize != DefaultMaxQueueSize ||
		c.BatchingPolicy != "slo" || c.SLO.Latency != 0 || c.MaxQueueDelay != 0 || c.Synthetic != nil || c.Input != nil {
		t.Fatalf("config %+v, want the defaults", c)
	}
	if md.Platform != Platform || md.Version != "1" || md.MaxBatchSize != DefaultMaxBatchSize ||
		fmt.Sprint(md.Inputs) != "[{input FP32 [-1 1 28 28]}]" || fmt.Sprint(md.Outputs) != "[{logits FP32 [-1 10]}]" {
		t.Fatalf("metadata %+v", md)
	}
}
