package synthetic

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

const ms = time.Millisecond

func spec() Spec {
	return Spec{Base: 5 * ms, PerItem: ms, Input: wire.TensorSpec{Name: "x", DataType: wire.TypeFP32, Shape: []int64{-1, 4}}, Output: "y"}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Spec)
		want string // "" means valid
	}{
		{"good", func(*Spec) {}, ""},
		{"zero latency", func(s *Spec) { s.Base, s.PerItem = 0, 0 }, ""},
		{"variable dims", func(s *Spec) { s.Input.Shape = []int64{-1, -1, 3} }, ""},
		{"batch only", func(s *Spec) { s.Input.Shape = []int64{-1} }, ""},
		{"negative base", func(s *Spec) { s.Base = -ms }, "synthetic.base -1ms"},
		{"huge per_item", func(s *Spec) { s.PerItem = 2 * time.Hour }, "synthetic.per_item 2h0m0s"},
		{"negative jitter", func(s *Spec) { s.Jitter = -1 }, "synthetic.jitter"},
		{"no input name", func(s *Spec) { s.Input.Name = "" }, "input.name"},
		{"no datatype", func(s *Spec) { s.Input.DataType = wire.TypeInvalid }, "input.datatype"},
		{"no shape", func(s *Spec) { s.Input.Shape = nil }, "input.shape: missing"},
		{"fixed batch", func(s *Spec) { s.Input.Shape = []int64{8, 4} }, "dimension 0 is the batch"},
		{"zero dim", func(s *Spec) { s.Input.Shape = []int64{-1, 0} }, "dimension 1 is 0"},
		{"negative dim", func(s *Spec) { s.Input.Shape = []int64{-1, 4, -2} }, "dimension 2 is -2"},
		{"rank", func(s *Spec) { s.Input.Shape = make([]int64, wire.MaxRank+1) }, "dimensions, at most"},
		{"no output", func(s *Spec) { s.Output = "" }, "synthetic.output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			tt.edit(&s)
			err := s.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	s := spec()
	s.Jitter, s.Seed, s.Input.Shape = 500*time.Microsecond, 42, []int64{-1, -1, 4}
	file := s.Encode()
	if !IsSpec(file) || !bytes.Equal(file, s.Encode()) {
		t.Fatalf("encoding %q is not a stable spec", file)
	}
	got, err := Decode(file)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(s) {
		t.Fatalf("Decode = %+v, %v; want %+v", got, err, s)
	}
	other := spec()
	other.Base++
	if bytes.Equal(other.Encode(), file) {
		t.Fatal("different specs encode alike")
	}
	for name, bad := range map[string]string{
		"onnx":          "\x08\x07\x12\x04",
		"no header":     `{"base_ns":1}`,
		"not json":      magic + "{",
		"unknown field": magic + `{"base_ns":1,"cpu":true}`,
		"datatype":      magic + `{"input":"x","datatype":"FP33","shape":[-1],"output":"y"}`,
		"invalid":       magic + `{"base_ns":-1,"input":"x","datatype":"FP32","shape":[-1],"output":"y"}`,
	} {
		if _, err := Decode([]byte(bad)); err == nil || !strings.Contains(err.Error(), "synthetic spec") {
			t.Errorf("%s: Decode = %v, want an error", name, err)
		}
	}
	if IsSpec([]byte("\x08\x07")) {
		t.Error("an ONNX-like file is taken for a spec")
	}
}

func fp32(shape []int64) wire.Tensor {
	n, _ := wire.ByteSize(wire.TypeFP32, shape, 0)
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i)
	}
	return wire.Tensor{Name: "x", DataType: wire.TypeFP32, Shape: shape, Data: data}
}

func TestRunEchoesAndSleeps(t *testing.T) {
	var slept []time.Duration
	r, err := New(spec(), func(d time.Duration) { slept = append(slept, d) })
	if err != nil {
		t.Fatal(err)
	}
	in := fp32([]int64{3, 4})
	out, err := r.Run(3, []wire.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != "y" || out[0].DataType != wire.TypeFP32 || fmt.Sprint(out[0].Shape) != "[3 4]" || !bytes.Equal(out[0].Data, in.Data) {
		t.Fatalf("Run = %+v, want the input echoed as y", out)
	}
	if _, err := r.Run(32, []wire.Tensor{fp32([]int64{32, 4})}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(slept) != "[8ms 37ms]" {
		t.Fatalf("slept %v, want base + per_item x rows: [8ms 37ms]", slept)
	}
	if p := r.Profile([]int{1, 2, 32}); fmt.Sprint(p) != "[{1 6000000} {2 7000000} {32 37000000}]" {
		t.Fatalf("Profile = %v", p)
	}
}

func TestRunRefusesBadInputs(t *testing.T) {
	s := spec()
	s.Input.Shape = []int64{-1, -1, 4}
	slept := 0
	r, err := New(s, func(time.Duration) { slept++ })
	if err != nil {
		t.Fatal(err)
	}
	short := fp32([]int64{2, 3, 4})
	short.Data = short.Data[1:]
	int32s := fp32([]int64{2, 3, 4})
	int32s.DataType = wire.TypeInt32
	for _, tt := range []struct {
		name   string
		rows   int
		inputs []wire.Tensor
		want   string
	}{
		{"no rows", 0, []wire.Tensor{fp32([]int64{0, 3, 4})}, "batch of 0 rows"},
		{"two inputs", 2, []wire.Tensor{fp32([]int64{2, 3, 4}), fp32([]int64{2, 3, 4})}, "2 inputs"},
		{"datatype", 2, []wire.Tensor{int32s}, "is INT32"},
		{"rank", 2, []wire.Tensor{fp32([]int64{2, 12})}, "shape [2 12]"},
		{"rows", 3, []wire.Tensor{fp32([]int64{2, 3, 4})}, "for 3 rows"},
		{"fixed dim", 2, []wire.Tensor{fp32([]int64{2, 3, 5})}, "want [-1 -1 4]"},
		{"bytes", 2, []wire.Tensor{short}, "95 bytes, want 96"},
	} {
		if _, err := r.Run(tt.rows, tt.inputs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Run = %v, want %q", tt.name, err, tt.want)
		}
	}
	if slept != 0 {
		t.Errorf("slept %d times for bad batches", slept)
	}
	// A variable dimension takes any size.
	if out, err := r.Run(2, []wire.Tensor{fp32([]int64{2, 7, 4})}); err != nil || fmt.Sprint(out[0].Shape) != "[2 7 4]" {
		t.Fatalf("variable dimension: %v, %v", out, err)
	}
}

func TestJitterIsSeededAndBounded(t *testing.T) {
	s := spec()
	s.Jitter, s.Seed = ms, 7
	delays := func(seed uint64) []time.Duration {
		s.Seed = seed
		r, _ := New(s, nil)
		var d []time.Duration
		for range 200 {
			d = append(d, r.Delay(2))
		}
		return d
	}
	a, b, c := delays(7), delays(7), delays(8)
	if fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("the jitter does not follow its seed")
	}
	low, high := false, false
	for _, d := range a {
		if d < 7*ms || d >= 8*ms {
			t.Fatalf("delay %v outside [7ms, 8ms)", d)
		}
		low, high = low || d < 7500*time.Microsecond, high || d >= 7500*time.Microsecond
	}
	if !low || !high {
		t.Fatal("200 draws all in one half of the jitter")
	}
	if m := s.Mean(2); m != 7500*time.Microsecond {
		t.Fatalf("Mean = %v", m)
	}
}

// TestRunTakesItsTime uses the real sleep: a batch takes at least its
// time (no upper bound: a loaded machine may oversleep).
func TestRunTakesItsTime(t *testing.T) {
	s := spec()
	s.Base, s.PerItem = 2*ms, 500*time.Microsecond
	r, _ := New(s, nil)
	start := time.Now()
	if _, err := r.Run(4, []wire.Tensor{fp32([]int64{4, 4})}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 4*ms {
		t.Fatalf("a batch of 4 took %v, want at least 4ms", el)
	}
}
