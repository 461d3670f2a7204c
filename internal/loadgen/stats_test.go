package loadgen

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1)
	}
	for _, c := range []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"none", nil, 0.5, 0},
		{"one", []int64{7}, 0.999, 7},
		{"p50 of 1..100", hundred, 0.5, 50},
		{"p90 of 1..100", hundred, 0.9, 90},
		{"p99 of 1..100", hundred, 0.99, 99},
		{"p99.9 of 1..100 is the max", hundred, 0.999, 100},
		{"p100", hundred, 1, 100},
		{"tiny p is the min", hundred, 1e-9, 1},
		{"p50 of two is the lower", []int64{1, 2}, 0.5, 1},
		{"p50 of three", []int64{1, 2, 3}, 0.5, 2},
		{"p99.9 of 1000 (nearest rank)", seq(1000), 0.999, 999},
		{"p99.9 of 1001", seq(1001), 0.999, 1000},
	} {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i + 1)
	}
	return s
}

func TestSummarize(t *testing.T) {
	ms := int64(time.Millisecond)
	run := &Run{
		Warm: 2, Start: 1e9, Duration: 2 * time.Second,
		Kinds:   []string{"ok", "http_503", "timeout"},
		Reasons: []string{"", "exceeds maximum queue size"},
		CPU:     time.Millisecond,
	}
	add := func(at int64, s Sample) {
		run.Schedule = append(run.Schedule, at)
		run.Samples = append(run.Samples, s)
	}
	add(0, Sample{Latency: 900 * ms})   // warm-up: not counted
	add(5e8, Sample{Latency: 900 * ms}) // warm-up
	for i := range 10 {                 // 10 OK, 1..10 ms, at 1.0 .. 1.9 s
		add(1e9+int64(i)*1e8, Sample{Latency: int64(i+1) * ms, Lag: ms / 2})
	}
	add(2.0e9, Sample{Latency: 30 * ms})                   // OK over the 20 ms SLO
	add(2.1e9, Sample{Latency: 40 * ms})                   // OK over the SLO
	add(2.2e9, Sample{Latency: ms, Outcome: 1, Reason: 1}) // refused
	add(2.3e9, Sample{Latency: ms, Outcome: 1, Reason: 1}) // refused
	add(2.4e9, Sample{Latency: 10000 * ms, Outcome: 2})    // timed out
	add(2.9e9, Sample{Outcome: NotSent})                   // interrupted
	r := Summarize(run, 20*time.Millisecond)
	check := func(name string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("requests", float64(r.Requests), 15)
	check("ok", float64(r.OK), 12)
	check("within_slo", float64(r.WithinSLO), 10)
	check("rate", r.Rate, 7.5)
	check("throughput", r.Throughput, 6)
	check("goodput", r.Goodput, 5)
	check("slo_share", r.SLOShare, 10.0/15)
	check("p50", r.P50MS, 6)
	check("p90", r.P90MS, 30)
	check("p99", r.P99MS, 40)
	check("p999", r.P999MS, 40)
	check("max", r.MaxMS, 40)
	check("service p50", r.ServiceP50MS, 5.5)
	check("error p50", r.ErrorP50MS, 1) // the two refusals and the timeout
	check("error p99", r.ErrorP99MS, 10000)
	check("warm-up", r.WarmupS, 1)
	check("not sent", float64(r.Generator.NotSent), 1)
	if r.Errors["http_503"] != 2 || r.Errors["timeout"] != 1 || len(r.Errors) != 2 {
		t.Errorf("errors %v", r.Errors)
	}
	if r.Refusals["exceeds maximum queue size"] != 2 || len(r.Refusals) != 1 {
		t.Errorf("refusals %v", r.Refusals)
	}
	if len(r.Windows) != 20 {
		t.Fatalf("%d windows, want 20 of 100 ms", len(r.Windows))
	}
	if w := r.Windows[0]; w.Sent != 1 || w.OK != 1 || w.P50MS != 1 || w.TS != 0 {
		t.Errorf("first window %+v", w)
	}
	if w := r.Windows[12]; w.Sent != 1 || w.Errors != 1 || w.TS != 1.2 {
		t.Errorf("window 12 %+v", w)
	}
	// The --json line: errors is an object even when empty.
	empty := Summarize(&Run{Schedule: []int64{0}, Samples: []Sample{{Latency: ms}}, Duration: time.Second}, time.Second)
	b, _ := json.Marshal(empty)
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rate", "throughput", "goodput", "p50_ms", "p90_ms", "p99_ms", "p999_ms"} {
		if _, ok := back[k].(float64); !ok {
			t.Errorf("%s missing from %s", k, b)
		}
	}
	if e, ok := back["errors"].(map[string]any); !ok || len(e) != 0 {
		t.Errorf("errors = %v, want {}", back["errors"])
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"error":"exceeds maximum queue size"}`, "exceeds maximum queue size"},
		{`{"error": "model \"m\": worker w-1234 did not answer"}`, `model "m": worker w-N did not answer`},
		{`{"error":"predicted wait 12.5ms exceeds the deadline 10ms"}`, "predicted wait N.Nms exceeds the deadline Nms"},
		{"queue full\n", "queue full "},
		{``, "(no reason given)"},
	} {
		if got := string(Reason(nil, []byte(c.body))); got != c.want {
			t.Errorf("Reason(%q) = %q, want %q", c.body, got, c.want)
		}
	}
	long := make([]byte, 500)
	for i := range long {
		long[i] = 'x'
	}
	if got := Reason(nil, long); len(got) != maxReason {
		t.Errorf("a long reason kept %d bytes, want %d", len(got), maxReason)
	}
}

func TestBodies(t *testing.T) {
	specs := []wire.TensorSpec{
		{Name: "x", DataType: wire.TypeFP32, Shape: []int64{-1, 3}},
		{Name: "ids", DataType: wire.TypeInt64, Shape: []int64{-1, -1}},
		{Name: "mask", DataType: wire.TypeBool, Shape: []int64{-1, 2}},
	}
	in, err := MakeInputs(specs, 2, 3, nil, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 3 || len(in[0]) != 3 || len(in[0][1].Data) != 2*1*8 {
		t.Fatalf("inputs %+v", in)
	}
	body, err := JSONBody(in[0], 2500)
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		Inputs []struct {
			Name     string
			Datatype string
			Shape    []int64
			Data     []any
		}
		Parameters map[string]any
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if len(req.Inputs) != 3 || req.Inputs[0].Datatype != "FP32" || len(req.Inputs[0].Data) != 6 ||
		len(req.Inputs[1].Shape) != 2 || req.Inputs[1].Shape[1] != 1 || len(req.Inputs[2].Data) != 4 || req.Parameters["timeout"] != 2500.0 {
		t.Errorf("JSON body %s", body)
	}
	if _, ok := req.Inputs[2].Data[0].(bool); !ok {
		t.Errorf("BOOL data %v", req.Inputs[2].Data)
	}
	bin, n := BinaryBody(in[0], 0)
	var hdr struct {
		Inputs []struct {
			Parameters map[string]int
		}
		Parameters map[string]any
	}
	if err := json.Unmarshal(bin[:n], &hdr); err != nil {
		t.Fatalf("%s: %v", bin[:n], err)
	}
	if want := 2*3*4 + 2*8 + 2*2; len(bin)-n != want || hdr.Inputs[0].Parameters["binary_data_size"] != 24 ||
		hdr.Parameters["binary_data_output"] != true || hdr.Parameters["timeout"] != nil {
		t.Errorf("binary body: header %s, %d data bytes", bin[:n], len(bin)-n)
	}
	half := []wire.TensorSpec{{Name: "h", DataType: wire.TypeFP16, Shape: []int64{-1, 1}}}
	hin, _ := MakeInputs(half, 1, 1, nil, rand.New(rand.NewPCG(1, 1)))
	if _, err := JSONBody(hin[0], 0); err == nil {
		t.Error("FP16 in JSON: no error")
	}
}

func TestImageInputs(t *testing.T) {
	images := make([][]float32, 3)
	for i := range images {
		images[i] = make([]float32, 784)
		images[i][0] = float32(i + 1)
	}
	in, err := MakeInputs(FashionMNISTInputs, 2, 2, images, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Request 0 has images 0 and 1, request 1 images 2 and 0.
	for _, c := range []struct{ r, row int }{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
		want := float32((c.r*2+c.row)%3 + 1)
		if got := f32(in[c.r][0].Data[c.row*784*4:]); got != want {
			t.Errorf("request %d row %d starts with %v, want %v", c.r, c.row, got, want)
		}
	}
	if s := in[0][0].Shape; len(s) != 4 || s[0] != 2 || s[1] != 1 || s[2] != 28 {
		t.Errorf("shape %v", s)
	}
	if _, err := MakeInputs([]wire.TensorSpec{{Name: "x", DataType: wire.TypeFP32, Shape: []int64{-1, 10}}}, 1, 1, images, nil); err == nil {
		t.Error("images for a model that does not take them: no error")
	}
	md, err := ParseMetadata([]byte(`{"name":"m","versions":["1"],"platform":"onnx_onnxv1","inputs":[{"name":"input","datatype":"FP32","shape":[-1,1,28,28]}],"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,10]}]}`))
	if err != nil || !IsImageModel(md.Inputs) {
		t.Errorf("metadata %+v, %v", md, err)
	}
}

func f32(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// TestInputsBounded: shapes from a server's metadata that would overflow
// or take more than MaxInputBytes in all are refused before any
// allocation (the first panicked in make, the second ran out of memory).
func TestInputsBounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		shape       []int64
		rows, count int
		want        string
	}{
		{[]int64{-1, 1e10, 1e10}, 1, 1, "a request"},
		{[]int64{-1, 1 << 62, 4}, 1, 1, "a request"},
		{[]int64{-1, 1e8}, 1, 256, "--inputs"},
		{[]int64{-1, 4}, 1 << 40, 1, "a request"},
	} {
		specs := []wire.TensorSpec{{Name: "x", DataType: wire.TypeFP32, Shape: c.shape}}
		if _, err := MakeInputs(specs, c.rows, c.count, nil, rng); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shape %v, %d rows, %d requests: error %v, want one saying %q", c.shape, c.rows, c.count, err, c.want)
		}
	}
	in, err := MakeInputs([]wire.TensorSpec{{Name: "x", DataType: wire.TypeFP32, Shape: []int64{-1, 0, 3}}}, 2, 2, nil, rng)
	if err != nil || len(in) != 2 || len(in[0][0].Data) != 0 {
		t.Errorf("a dimension of 0: %v, %v", in, err)
	}
}
