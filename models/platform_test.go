package models

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gannet-ml/gannet/models/synthetic"
	"github.com/gannet-ml/gannet/wire"
)

const syntheticYAML = `platform: synthetic
synthetic: {base: 5ms, per_item: 1ms}
input: {name: x, datatype: FP32, shape: [-1, 4]}
max_batch_size: 32
slo: 50ms at p99
`

func TestSyntheticModel(t *testing.T) {
	repo, err := Open(fstest.MapFS{"echo/config.yaml": {Data: []byte(syntheticYAML)}})
	if err != nil {
		t.Fatal(err)
	}
	m := repo.Lookup("echo")
	md := m.Metadata
	if m.Version != "1" || fmt.Sprint(m.Versions) != "[1]" || md.Platform != "synthetic" || md.MaxBatchSize != 32 ||
		m.Config.SLO.String() != "50ms at p99" || m.Config.BatchingPolicy != "slo" || m.Config.Platform != "synthetic" {
		t.Fatalf("model %+v, config %+v", md, m.Config)
	}
	if fmt.Sprint(md.Inputs) != "[{x FP32 [-1 4]}]" || fmt.Sprint(md.Outputs) != "[{y FP32 [-1 4]}]" {
		t.Fatalf("inputs %v, outputs %v", md.Inputs, md.Outputs)
	}
	// The file is the spec the workers run, addressed by its digest.
	spec, err := synthetic.Decode(m.File)
	want := synthetic.Spec{Base: 5 * time.Millisecond, PerItem: time.Millisecond, Output: "y",
		Input: wire.TensorSpec{Name: "x", DataType: wire.TypeFP32, Shape: []int64{-1, 4}}}
	if err != nil || fmt.Sprint(spec) != fmt.Sprint(want) {
		t.Fatalf("spec %+v, %v; want %+v", spec, err, want)
	}
	if m.Digest == ([32]byte{}) {
		t.Fatal("no digest")
	}
}

func TestSyntheticConfigs(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the spec printed, or an error's text
	}{
		{"all keys", "platform: synthetic\nsynthetic: {base: 2ms, per_item: 0.5ms, jitter: 0.5ms, seed: 7, output: z}\ninput: {name: in, datatype: INT64, shape: [-1, -1, 3]}\n",
			"{2ms 500µs 500µs 7 {in INT64 [-1 -1 3]} z}"},
		{"block style", "platform: synthetic\nsynthetic:\n  base: 0s\n  per_item: 1ms\ninput:\n  name: x\n  datatype: FP32\n  shape: [-1]\n",
			"{0s 1ms 0s 0 {x FP32 [-1]} y}"},
		{"unknown synthetic key", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms, cpu: 2}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", `unknown key "synthetic.cpu"`},
		{"unknown input key", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, dtype: FP32, shape: [-1]}\n", `unknown key "input.dtype"`},
		{"unknown top key", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\noutput: y\n", `unknown key "output"`},
		{"repeated key", "platform: synthetic\nsynthetic: {base: 1ms, base: 2ms, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "synthetic.base: given twice"},
		{"bad platform", "platform: tensorrt\n", `platform "tensorrt"`},
		{"no synthetic block", "platform: synthetic\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "needs a synthetic block"},
		{"empty synthetic block", "platform: synthetic\nsynthetic:\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "needs a synthetic block"},
		{"no input", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\n", "needs an input block"},
		{"synthetic not a map", "platform: synthetic\nsynthetic: 5ms\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "synthetic: want a map"},
		{"no base", "platform: synthetic\nsynthetic: {per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "synthetic.base: missing"},
		{"no per_item", "platform: synthetic\nsynthetic: {base: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "synthetic.per_item: missing"},
		{"unitless base", "platform: synthetic\nsynthetic: {base: 5, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", `synthetic.base "5"`},
		{"negative per_item", "platform: synthetic\nsynthetic: {base: 1ms, per_item: -1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "synthetic.per_item -1ms"},
		{"bad jitter", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms, jitter: lots}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", `synthetic.jitter "lots"`},
		{"bad seed", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms, seed: -1}\ninput: {name: x, datatype: FP32, shape: [-1]}\n", `synthetic.seed "-1"`},
		{"bad datatype", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, datatype: FP33, shape: [-1]}\n", `input.datatype "FP33"`},
		{"no datatype", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, shape: [-1]}\n", `input.datatype ""`},
		{"no name", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {datatype: FP32, shape: [-1]}\n", "input.name"},
		{"shape not a list", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: 4}\n", "input.shape: want a list"},
		{"fixed batch", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [8, 4]}\n", "input.shape [8 4]: dimension 0"},
		{"zero dimension", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1, 0]}\n", "dimension 1 is 0"},
		{"synthetic on onnx", "synthetic: {base: 1ms, per_item: 1ms}\n", "synthetic: only for platform: synthetic"},
		{"input on onnx", "platform: onnx\ninput: {name: x, datatype: FP32, shape: [-1]}\n", "input: only for platform: synthetic"},
		{"usual keys still checked", "platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\nmax_batch_size: -1\n", "max_batch_size -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, err := Open(fstest.MapFS{"m/config.yaml": {Data: []byte(tt.yaml)}})
			got := ""
			if err != nil {
				got = err.Error()
				if !strings.Contains(got, "m/config.yaml") {
					t.Errorf("error %q does not name the file", got)
				}
			} else {
				spec, err := synthetic.Decode(repo.Lookup("m").File)
				got = fmt.Sprint(spec, err)
				got = strings.TrimSuffix(got, " <nil>")
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSyntheticVersions: a synthetic stand-in in a real model's folder
// takes its versions and reads no model file.
func TestSyntheticVersions(t *testing.T) {
	repo, err := Open(fstest.MapFS{
		"m/config.yaml":   {Data: []byte(syntheticYAML)},
		"m/3/model.onnx":  {Data: []byte("not read")},
		"m/12/model.onnx": {Data: []byte("not read")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := repo.Lookup("m"); m.Version != "12" || fmt.Sprint(m.Versions) != "[3 12]" || m.Metadata.Version != "12" {
		t.Fatalf("version %s of %v", m.Version, m.Versions)
	}
}

func TestReplicasConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the replicas printed, or an error's text
	}{
		{"absent: not autoscaled", "max_batch_size: 8\n", "<nil>"},
		{"both", "replicas: {min: 0, max: 4}\n", "&{0 4}"},
		{"min defaults to 1", "replicas: {max: 3}\n", "&{1 3}"},
		{"block style", "replicas:\n  min: 2\n  max: 2\n", "&{2 2}"},
		{"no max", "replicas: {min: 1}\n", "replicas.max: missing"},
		{"max 0", "replicas: {min: 0, max: 0}\n", "replicas.max 0"},
		{"min above max", "replicas: {min: 5, max: 4}\n", "replicas.min 5: above replicas.max 4"},
		{"negative", "replicas: {min: -1, max: 4}\n", `replicas.min "-1"`},
		{"not a number", "replicas: {min: 1, max: many}\n", `replicas.max "many"`},
		{"too many", "replicas: {max: 100000}\n", `replicas.max "100000"`},
		{"unknown key", "replicas: {min: 1, max: 4, target: 2}\n", `unknown key "replicas.target"`},
		{"not a map", "replicas: 4\n", "replicas: want a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, err := Open(fstest.MapFS{"m/config.yaml": {Data: []byte("platform: synthetic\nsynthetic: {base: 1ms, per_item: 1ms}\ninput: {name: x, datatype: FP32, shape: [-1]}\n" + tt.yaml)}})
			got := ""
			if err != nil {
				got = err.Error()
				if !strings.Contains(got, "m/config.yaml") {
					t.Errorf("error %q does not name the file", got)
				}
			} else {
				got = fmt.Sprint(repo.Lookup("m").Config.Replicas)
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
