package oip

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/gannet-ml/gannet/wire"
)

var testOutputs = []wire.Tensor{
	{Name: "logits", DataType: wire.TypeFP32, Shape: []int64{1, 3}, Data: le(float32(0.5), float32(-1e-7), float32(3))},
	{Name: "label", DataType: wire.TypeInt64, Shape: []int64{1}, Data: le(int64(-7))},
	{Name: "mask", DataType: wire.TypeBool, Shape: []int64{2}, Data: []byte{1, 0}},
}

func TestAppendResponseJSON(t *testing.T) {
	prefix := []byte("xyz")
	got, hl, err := AppendResponse(prefix, "m\"1", "2", &Request{ID: "req-1"}, testOutputs)
	if err != nil {
		t.Fatal(err)
	}
	want := `xyz{"model_name":"m\"1","model_version":"2","id":"req-1","outputs":[` +
		`{"name":"logits","datatype":"FP32","shape":[1,3],"data":[0.5,-1e-07,3]},` +
		`{"name":"label","datatype":"INT64","shape":[1],"data":[-7]},` +
		`{"name":"mask","datatype":"BOOL","shape":[2],"data":[true,false]}]}`
	if string(got) != want || hl != -1 {
		t.Fatalf("got %d\n%s\nwant\n%s", hl, got, want)
	}
	if !json.Valid(got[3:]) {
		t.Fatal("invalid JSON")
	}
	// No version, no id, nil request; selection and order.
	got, _, _ = AppendResponse(nil, "m", "", nil, testOutputs[1:2])
	if want := `{"model_name":"m","outputs":[{"name":"label","datatype":"INT64","shape":[1],"data":[-7]}]}`; string(got) != want {
		t.Fatalf("got %s", got)
	}
	got, _, _ = AppendResponse(nil, "m", "", &Request{Outputs: []Output{{Name: "mask"}, {Name: "label"}}}, testOutputs)
	if want := `{"model_name":"m","outputs":[{"name":"mask","datatype":"BOOL","shape":[2],"data":[true,false]},{"name":"label","datatype":"INT64","shape":[1],"data":[-7]}]}`; string(got) != want {
		t.Fatalf("got %s", got)
	}
}

func TestAppendResponseBinary(t *testing.T) {
	// All binary via binary_data_output.
	got, hl, err := AppendResponse(nil, "m", "", &Request{BinaryOutput: true}, testOutputs)
	if err != nil {
		t.Fatal(err)
	}
	header := `{"model_name":"m","outputs":[` +
		`{"name":"logits","datatype":"FP32","shape":[1,3],"parameters":{"binary_data_size":12}},` +
		`{"name":"label","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":8}},` +
		`{"name":"mask","datatype":"BOOL","shape":[2],"parameters":{"binary_data_size":2}}]}`
	wantBin := append(append(append([]byte{}, testOutputs[0].Data...), testOutputs[1].Data...), testOutputs[2].Data...)
	if hl != len(header) || string(got[:hl]) != header || !bytes.Equal(got[hl:], wantBin) {
		t.Fatalf("got %d %q", hl, got)
	}
	// Per-output override, decoded from a request.
	req := mustDecode(t, `{"inputs":[],"parameters":{"binary_data_output":true},"outputs":[{"name":"label","parameters":{"binary_data":false}},{"name":"logits"}]}`, -1)
	got, hl, err = AppendResponse([]byte("!"), "m", "", req, testOutputs)
	if err != nil {
		t.Fatal(err)
	}
	header = `{"model_name":"m","outputs":[` +
		`{"name":"label","datatype":"INT64","shape":[1],"data":[-7]},` +
		`{"name":"logits","datatype":"FP32","shape":[1,3],"parameters":{"binary_data_size":12}}]}`
	if hl != len(header) || string(got[1:1+hl]) != header || !bytes.Equal(got[1+hl:], testOutputs[0].Data) {
		t.Fatalf("got %d %q", hl, got)
	}
}

func TestAppendResponseErrors(t *testing.T) {
	dst := []byte("keep")
	got, hl, err := AppendResponse(dst, "m", "", &Request{Outputs: []Output{{Name: "nope"}}}, testOutputs)
	if err == nil || wire.KindOf(err) != wire.KindInvalid || !strings.Contains(err.Error(), `unknown output "nope"`) || string(got) != "keep" || hl != -1 {
		t.Fatalf("unknown output: %v %q", err, got)
	}
	invalidType := []wire.Tensor{{Name: "o", DataType: wire.TypeInvalid, Shape: []int64{1}, Data: []byte{1}}}
	if _, _, err := AppendResponse(nil, "m", "", nil, invalidType); wire.KindOf(err) != wire.KindInternal {
		t.Fatalf("invalid datatype: %v", err)
	}
	bad := []wire.Tensor{{Name: "o", DataType: wire.TypeFP32, Shape: []int64{2}, Data: []byte{1, 2, 3}}}
	if _, _, err := AppendResponse(nil, "m", "", nil, bad); wire.KindOf(err) != wire.KindInternal || !strings.Contains(err.Error(), `output "o": 3 bytes of data for shape [2] of FP32`) {
		t.Fatalf("bad output: %v", err)
	}
}

func TestAppendResponseFloats(t *testing.T) {
	outs := []wire.Tensor{
		{Name: "f32", DataType: wire.TypeFP32, Shape: []int64{4}, Data: le(float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(0.1))},
		{Name: "f64", DataType: wire.TypeFP64, Shape: []int64{2}, Data: le(0.1, math.Copysign(0, -1))},
		{Name: "f16", DataType: wire.TypeFP16, Shape: []int64{5}, Data: le(uint16(0x3c00), uint16(0xc000), uint16(0x0001), uint16(0x7bff), uint16(0x7e00))},
		{Name: "bf16", DataType: wire.TypeBF16, Shape: []int64{2}, Data: le(uint16(0x3f80), uint16(0xbfc0))},
		{Name: "ints", DataType: wire.TypeUint64, Shape: []int64{1}, Data: le(uint64(math.MaxUint64))},
	}
	got, _, err := AppendResponse(nil, "m", "", nil, outs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"data":[NaN,Infinity,-Infinity,0.1]`,
		`"data":[0.1,-0]`,
		`"data":[1,-2,5.9604645e-08,65504,NaN]`,
		`"data":[1,-1.5]`,
		`"data":[18446744073709551615]`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("%s does not contain %s", got, want)
		}
	}
}

// TestResponseRoundTrip sends every JSON datatype through AppendResponse
// and reads the data back with DecodeRequest.
func TestResponseRoundTrip(t *testing.T) {
	for _, c := range dtCases {
		if c.json == "" {
			continue
		}
		shape := []int64{int64(len(c.want) / c.dt.Size())}
		out := wire.Tensor{Name: "o", DataType: c.dt, Shape: shape, Data: c.want}
		resp, _, err := AppendResponse(nil, "m", "", nil, []wire.Tensor{out})
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(resp, []byte(`"data":`))
		data := resp[i+7 : len(resp)-3]
		body := `{"inputs":[{"name":"o","datatype":"` + c.dt.String() + `","shape":` + formatShape(shape) + `,"data":` + string(data) + `}]}`
		req := mustDecode(t, body, -1)
		if !sameTensor(&req.Inputs[0], &out) {
			t.Errorf("%v: %s gave % x, want % x", c.dt, data, req.Inputs[0].Data, c.want)
		}
	}
}

func TestAppendError(t *testing.T) {
	for _, msg := range []string{"plain", "quote \" back \\ nl \n tab \t nul \x00 \x1f", "utf8 é 😀 \u2028", "bad \xff\xfe utf8"} {
		got := AppendError([]byte("p"), msg)
		var v struct{ Error string }
		if err := json.Unmarshal(got[1:], &v); err != nil {
			t.Fatalf("%q: %v", got, err)
		}
		if want := strings.ToValidUTF8(msg, "\uFFFD"); v.Error != want && !strings.Contains(msg, "\xff") {
			t.Errorf("got %q, want %q", v.Error, want)
		}
		if strings.Contains(msg, "\xff") && v.Error != "bad \uFFFD\uFFFD utf8" {
			t.Errorf("got %q", v.Error)
		}
	}
	if got := string(AppendError(nil, `a"b`)); got != `{"error":"a\"b"}` {
		t.Errorf("got %s", got)
	}
}

func TestAppendMetadata(t *testing.T) {
	got := string(AppendServerMetadata(nil, "gannet", "0.1.0", []string{"binary_tensor_data", "schedule_policy"}))
	if want := `{"name":"gannet","version":"0.1.0","extensions":["binary_tensor_data","schedule_policy"]}`; got != want {
		t.Errorf("got %s", got)
	}
	if got := string(AppendServerMetadata(nil, "g", "1", nil)); got != `{"name":"g","version":"1","extensions":[]}` {
		t.Errorf("got %s", got)
	}
	m := &wire.ModelMetadata{
		Name: "fashion", Version: "1", Versions: []string{"1", "2"}, Platform: "onnx_onnxv1",
		Inputs:  []wire.TensorSpec{{Name: "input", DataType: wire.TypeFP32, Shape: []int64{-1, 1, 28, 28}}},
		Outputs: []wire.TensorSpec{{Name: "logits", DataType: wire.TypeFP32, Shape: []int64{-1, 10}}},
	}
	got = string(AppendModelMetadata(nil, m))
	want := `{"name":"fashion","versions":["1","2"],"platform":"onnx_onnxv1",` +
		`"inputs":[{"name":"input","datatype":"FP32","shape":[-1,1,28,28]}],` +
		`"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,10]}]}`
	if got != want {
		t.Errorf("got %s", got)
	}
	m.Versions = nil
	if got := string(AppendModelMetadata(nil, m)); !strings.Contains(got, `"versions":["1"]`) {
		t.Errorf("got %s", got)
	}
	if got := string(AppendModelMetadata(nil, &wire.ModelMetadata{Name: "x"})); got != `{"name":"x","platform":"","inputs":[],"outputs":[]}` {
		t.Errorf("got %s", got)
	}
}

func TestAppendResponseAllocs(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for _, req := range []*Request{{ID: "x"}, {BinaryOutput: true}, {Outputs: []Output{{Name: "mask", Binary: true}, {Name: "logits"}}}} {
		allocs := testing.AllocsPerRun(20, func() {
			var err error
			if buf, _, err = AppendResponse(buf[:0], "m", "1", req, testOutputs); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%+v: %v allocations", req, allocs)
		}
	}
}
