package main

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/models/onnx"
)

// TestConformanceRatchet runs the whole libonnx-testdata suite, each test
// in a child process, and fails when fewer tests pass than the committed
// baseline records, or when any child crashes.
func TestConformanceRatchet(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultData, "node")); err != nil {
		t.Skipf("libonnx-testdata is not installed (%v)", err)
	}
	base, err := ReadBaseline(filepath.Join("..", "..", defaultBaseline))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := ListTests(DefaultData)
	if err != nil {
		t.Fatal(err)
	}
	// The children are the command itself, built without the race
	// detector even when this test runs under it: a race-built child
	// starts slowly, and a thousand of them take minutes.
	bin := filepath.Join(t.TempDir(), "onnx-conformance")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	r := &Runner{Jobs: runtime.NumCPU(), Limit: 2 * time.Minute, Command: func(ctx context.Context, dir string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, "-child", dir)
		cmd.Env = childEnv()
		return cmd
	}}
	results := r.Run(tests)
	var sb strings.Builder
	WriteTable(&sb, results, false)
	t.Logf("\n%s", sb.String())
	passed, _, crashed := Count(results)
	for _, res := range results {
		if res.Status == Crash || res.Status == Timeout {
			t.Errorf("%s: %s: %s", res.ID(), res.Status, res.Reason)
		}
	}
	for _, id := range base.Regressions(results) {
		t.Logf("regression: %s passed in the baseline", id)
	}
	if passed < base.Passed {
		t.Errorf("%d tests pass, the baseline (testdata/conformance/baseline.txt) has %d", passed, base.Passed)
	}
	if crashed > 0 {
		t.Errorf("%d child processes crashed or timed out", crashed)
	}
}

func f32(vs ...float32) []byte {
	out := make([]byte, 4*len(vs))
	for k, v := range vs {
		binary.LittleEndian.PutUint32(out[4*k:], math.Float32bits(v))
	}
	return out
}

func TestCompare(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name      string
		got, want onnx.Tensor
		ok        bool
	}{
		{"equal", onnx.Tensor{DataType: "FP32", Shape: []int64{2}, Data: f32(1, 2)}, onnx.Tensor{DataType: "FP32", Shape: []int64{2}, Data: f32(1, 2)}, true},
		{"within abs", onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(0.00005)}, onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(0)}, true},
		{"within rel", onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(1000.1)}, onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(1000)}, true},
		{"beyond", onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(1.001)}, onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(1)}, false},
		{"nan", onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(nan)}, onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(nan)}, true},
		{"nan vs 0", onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(nan)}, onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(0)}, false},
		{"inf", onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(inf)}, onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(inf)}, true},
		{"shape", onnx.Tensor{DataType: "FP32", Shape: []int64{1, 2}, Data: f32(1, 2)}, onnx.Tensor{DataType: "FP32", Shape: []int64{2}, Data: f32(1, 2)}, false},
		{"type", onnx.Tensor{DataType: "INT32", Shape: []int64{1}, Data: f32(1)}, onnx.Tensor{DataType: "FP32", Shape: []int64{1}, Data: f32(1)}, false},
		{"int exact", onnx.Tensor{DataType: "INT32", Shape: []int64{1}, Data: []byte{1, 0, 0, 0}}, onnx.Tensor{DataType: "INT32", Shape: []int64{1}, Data: []byte{2, 0, 0, 0}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := compare(tt.got, tt.want); (err == nil) != tt.ok {
				t.Errorf("compare: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestFamily(t *testing.T) {
	tests := []struct {
		name string
		ops  []string
		want string
	}{
		{"test_abs", []string{"Abs"}, "Abs"},
		{"test_reduce_sum_keepdims_example", []string{"ReduceSum"}, "ReduceSum"},
		{"test_softmax_cross_entropy_mean", []string{"SoftmaxCrossEntropyLoss"}, "SoftmaxCrossEntropyLoss"},
		{"test_layer_normalization_2d_axis0_expanded", []string{"Constant", "ReduceMean", "Sub"}, "(other) (expanded)"},
		{"test_shape_end_1", []string{"Shape"}, "Shape"},
		{"test_x", nil, "(unparsed)"},
	}
	for _, tt := range tests {
		if got := family(tt.name, tt.ops); got != tt.want {
			t.Errorf("family(%s, %v) = %q, want %q", tt.name, tt.ops, got, tt.want)
		}
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.txt")
	rs := []Result{{Suite: "node", Name: "test_b", Status: Pass}, {Suite: "node", Name: "test_a", Status: Pass},
		{Suite: "simple", Name: "test_c", Status: Fail}}
	if err := WriteBaseline(path, rs); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.Passed != 2 || strings.Join(b.Tests, ",") != "node/test_a,node/test_b" {
		t.Fatalf("baseline %+v", b)
	}
	rs[0].Status = Crash
	if reg := b.Regressions(rs); len(reg) != 1 || reg[0] != "node/test_b" {
		t.Fatalf("regressions %v", reg)
	}
}

// TestChildCountsCrash: a child that dies without an outcome line is a
// crash, not a pass, and does not stop the run.
func TestChildCountsCrash(t *testing.T) {
	r := &Runner{Jobs: 2, Limit: 10 * time.Second, Command: func(ctx context.Context, dir string) *exec.Cmd {
		if dir == "crash" {
			return exec.CommandContext(ctx, "sh", "-c", "echo 'OPS Abs'; kill -SEGV $$")
		}
		return exec.CommandContext(ctx, "sh", "-c", "echo 'OPS Abs'; echo PASS")
	}}
	rs := r.Run([]Test{{"node", "test_abs", "crash"}, {"node", "test_abs_ok", "ok"}})
	if rs[0].Status != Crash || rs[1].Status != Pass {
		t.Fatalf("statuses %s, %s (%s)", rs[0].Status, rs[1].Status, rs[0].Reason)
	}
}
