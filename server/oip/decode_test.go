package oip

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gannet-ml/gannet/wire"
)

// dtCase is one datatype round trip: JSON data text and the bytes it means.
type dtCase struct {
	dt    wire.DataType
	shape string
	json  string // "" for binary-only types
	want  []byte
}

var dtCases = []dtCase{
	{wire.TypeBool, "[3]", "[true,false,true]", []byte{1, 0, 1}},
	{wire.TypeUint8, "[3]", "[0,255,7]", []byte{0, 255, 7}},
	{wire.TypeUint16, "[2]", "[0,65535]", le(uint16(0), uint16(65535))},
	{wire.TypeUint32, "[2]", "[1,4294967295]", le(uint32(1), uint32(4294967295))},
	{wire.TypeUint64, "[2]", "[0,18446744073709551615]", le(uint64(0), uint64(math.MaxUint64))},
	{wire.TypeInt8, "[3]", "[-128,127,0]", le(int8(-128), int8(127), int8(0))},
	{wire.TypeInt16, "[2]", "[-32768,32767]", le(int16(-32768), int16(32767))},
	{wire.TypeInt32, "[3]", "[-2147483648,2147483647,-0]", le(int32(math.MinInt32), int32(math.MaxInt32), int32(0))},
	{wire.TypeInt64, "[2]", "[-9223372036854775808,9223372036854775807]", le(int64(math.MinInt64), int64(math.MaxInt64))},
	{wire.TypeFP32, "[2,5]", "[0.003921569,-1.5,1e-45,3.4028235e38,0,-0,1E10,123456789,7,-2.5e-3]",
		le(float32(0.003921569), float32(-1.5), float32(1e-45), float32(3.4028235e38), float32(0),
			float32(math.Copysign(0, -1)), float32(1e10), float32(123456789), float32(7), float32(-2.5e-3))},
	{wire.TypeFP32, "[3]", "[NaN,Infinity,-Infinity]", le(float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)))},
	{wire.TypeFP32, "[2]", "[0.1000000000000000055511151231257827021181583404541015625,16777217]", le(float32(0.1), float32(16777216))},
	{wire.TypeFP64, "[5]", "[0.1,-2.5e-300,1.7976931348623157e308,5e-324,12345678901234567890]",
		le(0.1, -2.5e-300, 1.7976931348623157e308, 5e-324, 12345678901234567890.0)},
	{wire.TypeFP16, "[2]", "", le(uint16(0x3c00), uint16(0xfbff))},
	{wire.TypeBF16, "[2]", "", le(uint16(0x3f80), uint16(0x7f80))},
}

func mustDecode(t *testing.T, body string, headerLen int64) *Request {
	t.Helper()
	req, err := DecodeRequest([]byte(body), headerLen, nil, Limits{})
	if err != nil {
		t.Fatalf("DecodeRequest(%s): %v", body, err)
	}
	checkDecoded(t, req, []byte(body))
	return req
}

func TestDecodeDatatypes(t *testing.T) {
	for _, c := range dtCases {
		t.Run(c.dt.String()+c.json, func(t *testing.T) {
			if c.json != "" {
				body := fmt.Sprintf(`{"inputs":[{"name":"x","shape":%s,"datatype":"%v","data":%s}]}`, c.shape, c.dt, c.json)
				req := mustDecode(t, body, -1)
				if got := req.Inputs[0]; got.DataType != c.dt || !sameTensor(&got, &wire.Tensor{Name: "x", DataType: c.dt, Shape: got.Shape, Data: c.want}) {
					t.Fatalf("JSON: got % x, want % x", got.Data, c.want)
				}
				roundTrip(t, req, Limits{}, nil)
			}
			// Binary.
			header := fmt.Sprintf(`{"inputs":[{"name":"x","shape":%s,"datatype":"%v","parameters":{"binary_data_size":%d}}]}`, c.shape, c.dt, len(c.want))
			body := header + string(c.want)
			req := mustDecode(t, body, int64(len(header)))
			if got := req.Inputs[0].Data; !bytes.Equal(got, c.want) {
				t.Fatalf("binary: got % x, want % x", got, c.want)
			}
			roundTrip(t, req, Limits{}, func(int) bool { return true })
		})
	}
}

func TestDecodeNestedFlat(t *testing.T) {
	const tmpl = `{"inputs":[{"name":"x","shape":[2,2],"datatype":"INT32","data":%s}]}`
	flat := mustDecode(t, fmt.Sprintf(tmpl, "[1,2,3,4]"), -1).Inputs[0].Data
	for _, data := range []string{"[[1,2],[3,4]]", "[[[1]],2,[[3,4]]]", " [ [ 1 , 2 ] , [ 3 , 4 ] , [ ] ] ", "[[],[1,2,3,4]]"} {
		if got := mustDecode(t, fmt.Sprintf(tmpl, data), -1).Inputs[0].Data; !bytes.Equal(got, flat) {
			t.Errorf("data %s: got % x, want % x", data, got, flat)
		}
	}
	if !bytes.Equal(flat, le(int32(1), int32(2), int32(3), int32(4))) {
		t.Errorf("flat: % x", flat)
	}
}

func TestDecodeMemberOrder(t *testing.T) {
	// "data" before "datatype" and "shape" (deferred parse), and keys
	// written with escapes.
	for _, body := range []string{
		`{"inputs":[{"data":[[1.5,2],[3,4]],"name":"x","shape":[2,2],"datatype":"FP64"}]}`,
		`{"inputs":[{"name":"x","data":[1.5,2,3,4],"datatype":"FP64","shape":[2,2]}]}`,
		`{"inputs":[{"shape":[2,2],"d\u0061ta":[1.5,2,3,4],"datatype":"FP64","\u006eame":"x"}]}`,
		`{"outputs":null,"inputs":[{"name":"x","shape":[2,2],"datatype":"FP64","data":[1.5,2,3,4],"parameters":null}],"id":null}`,
	} {
		req := mustDecode(t, body, -1)
		want := le(1.5, 2.0, 3.0, 4.0)
		if got := req.Inputs[0]; got.Name != "x" || !bytes.Equal(got.Data, want) || !slicesEqual(got.Shape, []int64{2, 2}) {
			t.Errorf("%s: got %+v", body, got)
		}
	}
}

func TestDecodeMixedJSONBinary(t *testing.T) {
	header := `{"id":"m","inputs":[` +
		`{"name":"a","shape":[2],"datatype":"INT16","data":[1,-1]},` +
		`{"name":"b","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}},` +
		`{"name":"c","shape":[3],"datatype":"UINT8","data":[7,8,9]},` +
		`{"name":"d","shape":[0],"datatype":"FP64","parameters":{"binary_data_size":0}},` +
		`{"name":"e","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}}]}`
	bin := append(le(float32(1.25), float32(-2)), 0x00, 0x3c, 0x00, 0xbc)
	body := header + string(bin)
	req := mustDecode(t, body, int64(len(header)))
	want := [][]byte{le(int16(1), int16(-1)), le(float32(1.25), float32(-2)), {7, 8, 9}, {}, {0x00, 0x3c, 0x00, 0xbc}}
	if len(req.Inputs) != len(want) {
		t.Fatalf("got %d inputs", len(req.Inputs))
	}
	for i, w := range want {
		if !bytes.Equal(req.Inputs[i].Data, w) {
			t.Errorf("input %d: got % x, want % x", i, req.Inputs[i].Data, w)
		}
	}
	// The binary inputs must not be able to grow into each other.
	if cap(req.Inputs[1].Data) != 8 {
		t.Errorf("cap %d", cap(req.Inputs[1].Data))
	}
	roundTrip(t, req, Limits{}, func(i int) bool { return i == 1 })
	// A header length with no binary inputs and no binary data is fine.
	mustDecode(t, `{"inputs":[]}`, int64(len(`{"inputs":[]}`)))
}

func TestDecodeRaw(t *testing.T) {
	meta := &wire.ModelMetadata{Name: "m", Inputs: []wire.TensorSpec{{Name: "in", DataType: wire.TypeFP32, Shape: []int64{-1, 4}}}}
	body := le(float32(0), float32(1), float32(2), float32(3), float32(4), float32(5), float32(6), float32(7))
	req, err := DecodeRequest(body, 0, meta, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkDecoded(t, req, body)
	in := req.Inputs[0]
	if in.Name != "in" || in.DataType != wire.TypeFP32 || !slicesEqual(in.Shape, []int64{2, 4}) || !bytes.Equal(in.Data, body) || !req.BinaryOutput {
		t.Fatalf("got %+v", req)
	}
	if meta.Inputs[0].Shape[0] != -1 {
		t.Fatal("meta shape modified")
	}
	fixed := &wire.ModelMetadata{Name: "m", Inputs: []wire.TensorSpec{{Name: "in", DataType: wire.TypeInt8, Shape: []int64{2, 3}}}}
	if req, err := DecodeRequest([]byte{1, 2, 3, 4, 5, 6}, 0, fixed, Limits{}); err != nil || !slicesEqual(req.Inputs[0].Shape, []int64{2, 3}) {
		t.Fatalf("fixed shape: %v %+v", err, req)
	}

	bad := []struct {
		name string
		meta *wire.ModelMetadata
		body []byte
		want string
	}{
		{"nil meta", nil, body, "needs the model's metadata"},
		{"two inputs", &wire.ModelMetadata{Name: "m", Inputs: []wire.TensorSpec{{Name: "a", DataType: wire.TypeFP32}, {Name: "b", DataType: wire.TypeFP32}}}, body, "exactly 1 input, but model \"m\" has 2"},
		{"two variable dims", &wire.ModelMetadata{Inputs: []wire.TensorSpec{{Name: "in", DataType: wire.TypeFP32, Shape: []int64{-1, -1}}}}, body, "more than one variable-sized dimension"},
		{"not whole", meta, body[:12], "not a whole number of elements"},
		{"fixed mismatch", fixed, []byte{1, 2, 3}, "3 bytes for shape [2,3] of INT8 (6 expected)"},
		{"bool", &wire.ModelMetadata{Inputs: []wire.TensorSpec{{Name: "in", DataType: wire.TypeBool, Shape: []int64{-1}}}}, []byte{0, 1, 2}, "BOOL element 2 is 2"},
		{"too large", meta, make([]byte, 1<<20+16), "exceed maximum size"},
	}
	for _, c := range bad {
		_, err := DecodeRequest(c.body, 0, c.meta, Limits{MaxTensorBytes: 1 << 20})
		if err == nil || kindOf(t, err) != wire.KindInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestDecodeOutputsAndParameters(t *testing.T) {
	const in = `"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[true]}]`
	cases := []struct {
		body     string
		outputs  []Output
		binary   bool
		priority int64
		timeout  int64
	}{
		{`{` + in + `}`, nil, false, 0, 0},
		{`{` + in + `,"outputs":[]}`, nil, false, 0, 0},
		{`{"parameters":{"binary_data_output":true},` + in + `}`, nil, true, 0, 0},
		{`{` + in + `,"outputs":[{"name":"a"},{"name":"b","parameters":{"binary_data":false}}],"parameters":{"binary_data_output":true,"priority":1,"timeout":1500}}`,
			[]Output{{"a", true}, {"b", false}}, true, 1, 1500},
		{`{` + in + `,"outputs":[{"name":"b","parameters":{"binary_data":true,"classification":3}},{"name":"a"}]}`,
			[]Output{{"b", true}, {"a", false}}, false, 0, 0},
		{`{"parameters":{"sequence_id":"abc","x":1.5,"y":false,"priority":0},` + in + `,"future":{"a":[1,{"b":null}]}}`, nil, false, 0, 0},
	}
	for _, c := range cases {
		req := mustDecode(t, c.body, -1)
		if fmt.Sprint(req.Outputs) != fmt.Sprint(c.outputs) || (req.Outputs == nil) != (c.outputs == nil) ||
			req.BinaryOutput != c.binary || req.Priority != c.priority || req.TimeoutMicros != c.timeout {
			t.Errorf("%s: got %+v", c.body, req)
		}
	}
}

func TestDecodeStrings(t *testing.T) {
	body := `{"id":"a\"b\\c\/\u00e9\ud83d\ude00\n\t\u0000z\ud800x","inputs":[{"name":"ïn put\u2028","shape":[],"datatype":"INT64","data":[5]}]}`
	req := mustDecode(t, body, -1)
	if want := "a\"b\\c/é😀\n\t\x00z\uFFFDx"; req.ID != want {
		t.Errorf("id %q, want %q", req.ID, want)
	}
	if want := "ïn put\u2028"; req.Inputs[0].Name != want {
		t.Errorf("name %q, want %q", req.Inputs[0].Name, want)
	}
	if len(req.Inputs[0].Shape) != 0 || !bytes.Equal(req.Inputs[0].Data, le(int64(5))) {
		t.Errorf("scalar: %+v", req.Inputs[0])
	}
	roundTrip(t, req, Limits{}, nil)
	// Invalid UTF-8 in a name becomes U+FFFD (found by FuzzDecodeJSON: it
	// could not survive a round trip through the JSON encoder).
	req = mustDecode(t, "{\"id\":\"\xff\\n\",\"inputs\":[{\"name\":\"a\x95b\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[NaN]}]}", -1)
	if req.Inputs[0].Name != "a\uFFFDb" || req.ID != "\uFFFD\n" {
		t.Errorf("invalid UTF-8: name %q, id %q", req.Inputs[0].Name, req.ID)
	}
	roundTrip(t, req, Limits{}, nil)
}

// nest wraps v in n arrays.
func nest(n int, v string) string {
	return strings.Repeat("[", n) + v + strings.Repeat("]", n)
}

func TestDecodeDepth(t *testing.T) {
	// The request object, "inputs" and the input object make 3 levels.
	body := func(dataDepth int) string {
		return `{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":` + nest(dataDepth, "7") + `}]}`
	}
	mustDecode(t, body(97), -1) // 100 levels
	_, err := DecodeRequest([]byte(body(98)), -1, nil, Limits{})
	if err == nil || !strings.Contains(err.Error(), "JSON nesting depth exceeds maximum allowed limit (100)") {
		t.Fatalf("depth 101: %v", err)
	}
	// The same with the data first (deferred), and in an unknown member.
	deferred := `{"inputs":[{"data":` + nest(98, "7") + `,"name":"x","shape":[1],"datatype":"INT64"}]}`
	if _, err := DecodeRequest([]byte(deferred), -1, nil, Limits{}); err == nil || !strings.Contains(err.Error(), "depth") {
		t.Fatalf("deferred depth 101: %v", err)
	}
	mustDecode(t, `{"x":`+nest(99, "1")+`,"inputs":[]}`, -1)
	mixed := strings.Repeat(`{"a":[`, 49) + "1" + strings.Repeat(`]}`, 49) // 98 levels
	mustDecode(t, `{"x":[`+mixed+`],"inputs":[]}`, -1)
	if _, err := DecodeRequest([]byte(`{"x":[[`+mixed+`]],"inputs":[]}`), -1, nil, Limits{}); err == nil {
		t.Fatal("mixed depth 101: no error")
	}
	if _, err := DecodeRequest([]byte(`{"x":`+nest(100, "1")+`,"inputs":[]}`), -1, nil, Limits{}); err == nil || !strings.Contains(err.Error(), "depth") {
		t.Fatalf("unknown member depth 101: %v", err)
	}
	// Very deep input must fail cleanly, not exhaust the stack.
	deep := `{"x":` + nest(250000, "1") + `,"inputs":[]}`
	if _, err := DecodeRequest([]byte(deep), -1, nil, Limits{MaxDepth: 1 << 20}); err != nil {
		t.Fatalf("deep with a high limit: %v", err)
	}
	if _, err := DecodeRequest([]byte(deep), -1, nil, Limits{}); err == nil {
		t.Fatal("deep: no error")
	}
	// A custom limit.
	if _, err := DecodeRequest([]byte(body(2)), -1, nil, Limits{MaxDepth: 4}); err == nil || !strings.Contains(err.Error(), "(4)") {
		t.Fatalf("limit 4: %v", err)
	}
	mustDecodeLim(t, body(1), Limits{MaxDepth: 4})
}

func mustDecodeLim(t *testing.T, body string, lim Limits) {
	t.Helper()
	if _, err := DecodeRequest([]byte(body), -1, nil, lim); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
}

// badCase is a request that must be refused with a 400 naming the problem.
type badCase struct {
	name      string
	body      string
	headerLen int64 // 0 in the table means -1 (no header); use hl() for others
	want      string
}

const hlAuto = math.MinInt64 // headerLen = len of the body up to the first \x00

var badCases = []badCase{
	{"empty", ``, 0, "empty request JSON"},
	{"not object", `[1]`, 0, "must be an object"},
	{"bad JSON", `{"inputs":[{"name":"x",]}`, 0, "invalid JSON at offset 23"},
	{"bad JSON truncated", `{"inputs":[{"name":"x"`, 0, "unexpected end of input"},
	{"bad literal", `{"inputs":[], "x": tru}`, 0, "invalid literal"},
	{"bad number", `{"inputs":[], "x": 01}`, 0, "expected ',' or '}'"},
	{"bad escape", `{"id":"\x","inputs":[]}`, 0, "invalid escape"},
	{"control char", "{\"id\":\"a\nb\",\"inputs\":[]}", 0, "control character in string"},
	{"trailing garbage", `{"inputs":[]} x`, 0, "unexpected data after the request object"},
	{"two objects", `{"inputs":[]}{}`, 0, "unexpected data after"},
	{"trailing NUL", "{\"inputs\":[]}\x00", 0, "unexpected data after"},
	{"NUL in data", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[\x00]}]}", 0, "data element 0"},
	{"no inputs", `{"id":"a"}`, 0, `no "inputs"`},
	{"inputs not array", `{"inputs":{}}`, 0, `"inputs" must be an array`},
	{"id number", `{"id":1,"inputs":[]}`, 0, `"id" must be a string`},
	{"no name", `{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}`, 0, `input 0 has no "name"`},
	{"no shape", `{"inputs":[{"name":"x","datatype":"FP32","data":[1]}]}`, 0, `input "x" has no "shape"`},
	{"no datatype", `{"inputs":[{"name":"x","shape":[1],"data":[1]}]}`, 0, `input "x" has no "datatype"`},
	{"no data", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}`, 0, `input "x" has no "data"`},
	{"unknown datatype", `{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["a"]}]}`, 0, `input "x": unsupported datatype "BYTES"`},
	{"lowercase datatype", `{"inputs":[{"name":"x","shape":[1],"datatype":"fp32","data":[1]}]}`, 0, `unsupported datatype "fp32"`},
	{"count short", `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10]}]}`, 0, `input "input": 10 values for shape [1,784] (784 expected)`},
	{"count long", `{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2,3]}]}`, 0, `input "x": 3 values for shape [2] (2 expected)`},
	{"count deferred", `{"inputs":[{"name":"x","data":[[1],[2]],"shape":[3],"datatype":"FP32"}]}`, 0, `input "x": 2 values for shape [3] (3 expected)`},
	{"negative dim", `{"inputs":[{"name":"x","shape":[2,-5],"datatype":"FP32","data":[1]}]}`, 0, `input "x": shape dimension -5 is negative`},
	{"fraction dim", `{"inputs":[{"name":"x","shape":[2.5],"datatype":"FP32","data":[1]}]}`, 0, `shape dimension 2.5 is not an integer`},
	{"string dim", `{"inputs":[{"name":"x","shape":["2"],"datatype":"FP32","data":[1]}]}`, 0, `shape dimension 0 must be an integer`},
	{"overflow dims", `{"inputs":[{"name":"x","shape":[16,1152921504606846978],"datatype":"FP32","data":[1.0]}]}`, 0, `input "x": shape [16,1152921504606846978] of FP32 exceeds maximum size`},
	{"overflow dims 4", `{"inputs":[{"name":"x","shape":[4,1152921504606846978],"datatype":"FP32","data":[1.0]}]}`, 0, `exceeds maximum size`},
	{"overflow dims deferred", `{"inputs":[{"name":"x","data":[1.0],"shape":[16,1152921504606846978],"datatype":"FP32"}]}`, 0, `exceeds maximum size`},
	{"huge dim", `{"inputs":[{"name":"x","shape":[99999999999999999999],"datatype":"FP32","data":[1.0]}]}`, 0, `exceeds maximum size`},
	{"over limit", `{"inputs":[{"name":"x","shape":[16777217],"datatype":"FP32","data":[1.0]}]}`, 0, `exceeds maximum size of 67108864 bytes`},
	{"rank", `{"inputs":[{"name":"x","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"datatype":"FP32","data":[1]}]}`, 0, `more than 16 dimensions`},
	{"header > body", `{"inputs":[]}`, 100, "Inference-Header-Content-Length 100 exceeds the body length 13"},
	{"header absurd", `{"inputs":[]}`, 99999999999, "Inference-Header-Content-Length 99999999999 exceeds"},
	{"header negative", `{"inputs":[]}`, -5, "Inference-Header-Content-Length -5 is negative"},
	{"header cuts JSON", `{"inputs":[]}`, 5, "unexpected end of input"},
	{"depth 101", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":` + nest(98, "1") + `}]}`, 0, "JSON nesting depth exceeds maximum allowed limit (100)"},
	{"duplicate outputs", `{"inputs":[],"outputs":[{"name":"a"},{"name":"b"},{"name":"a"}]}`, 0, `duplicate output name "a"`},
	{"duplicate inputs", `{"inputs":[{"name":"a","shape":[0],"datatype":"FP32","data":[]},{"name":"a","shape":[0],"datatype":"FP32","data":[]}]}`, 0, `duplicate input name "a"`},
	{"duplicate key", `{"inputs":[{"name":"a","name":"b","shape":[0],"datatype":"FP32","data":[]}]}`, 0, `input "a" has "name" twice`},
	{"duplicate inputs key", `{"inputs":[],"inputs":[]}`, 0, `request has "inputs" twice`},
	{"output no name", `{"inputs":[],"outputs":[{}]}`, 0, `output 0 has no "name"`},
	{"parameter object", `{"parameters":{"x":{"a":1}},"inputs":[]}`, 0, `request parameter "x" must be a string, number or boolean, not an object`},
	{"parameter array", `{"inputs":[{"name":"x","shape":[0],"datatype":"FP32","data":[],"parameters":{"y":[1]}}]}`, 0, `input "x": parameter "y" must be a string, number or boolean, not an array`},
	{"parameter null", `{"inputs":[],"outputs":[{"name":"a","parameters":{"z":null}}]}`, 0, `output 0: parameter "z" must be a string, number or boolean, not null`},
	{"parameters not object", `{"parameters":[],"inputs":[]}`, 0, `request "parameters" must be an object`},
	{"priority negative", `{"parameters":{"priority":-1},"inputs":[]}`, 0, `request parameter "priority" must be a non-negative integer, not -1`},
	{"priority string", `{"parameters":{"priority":"1"},"inputs":[]}`, 0, `parameter "priority" must be a non-negative integer, not a string`},
	{"timeout fraction", `{"parameters":{"timeout":1.5},"inputs":[]}`, 0, `parameter "timeout" must be a non-negative integer, not 1.5`},
	{"binary_data_output string", `{"parameters":{"binary_data_output":"true"},"inputs":[]}`, 0, `parameter "binary_data_output" must be a boolean`},
	{"binary_data not bool", `{"inputs":[],"outputs":[{"name":"a","parameters":{"binary_data":1}}]}`, 0, `output 0: parameter "binary_data" must be a boolean`},
	{"fp16 json", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[1]}]}`, 0, `input "x": FP16 data must use the binary tensor extension`},
	{"bf16 json deferred", `{"inputs":[{"data":[1],"name":"x","shape":[1],"datatype":"BF16"}]}`, 0, `input "x": BF16 data must use the binary tensor extension`},
	{"int8 range", `{"inputs":[{"name":"x","shape":[2],"datatype":"INT8","data":[1,128]}]}`, 0, `input "x": data element 1: 128 is out of range for INT8`},
	{"int8 range neg", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[-129]}]}`, 0, `-129 is out of range for INT8`},
	{"uint8 range", `{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}]}`, 0, `data element 0: 256 is out of range for UINT8`},
	{"uint8 negative", `{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[-1]}]}`, 0, `-1 is out of range for UINT8`},
	{"uint64 range", `{"inputs":[{"name":"x","shape":[1],"datatype":"UINT64","data":[18446744073709551616]}]}`, 0, `out of range for UINT64`},
	{"int64 range", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[9223372036854775808]}]}`, 0, `out of range for INT64`},
	{"int32 fraction", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]}`, 0, `input "x": data element 0: 1.5 is not an integer (INT32)`},
	{"int32 exponent", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1e3]}]}`, 0, `1e3 is not an integer`},
	{"int NaN", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[NaN]}]}`, 0, `NaN and Infinity are not allowed for INT32`},
	{"fp32 overflow", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1e39]}]}`, 0, `1e39 is out of range for FP32`},
	{"fp64 overflow", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1e309]}]}`, 0, `1e309 is out of range for FP64`},
	{"bool number", `{"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]}`, 0, `expected true or false (BOOL), got the number 1`},
	{"bool in int", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[true]}]}`, 0, `expected an integer (INT32), got a boolean`},
	{"string element", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["1"]}]}`, 0, `data element 0: expected a number (FP32), got a string`},
	{"null element", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[null]}]}`, 0, `got null`},
	{"object element", `{"inputs":[{"name":"x","data":[{}],"shape":[1],"datatype":"FP32"}]}`, 0, `got an object`},
	{"data not array", `{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":1}]}`, 0, `"data" must be an array, not a number`},
	{"data bad sep", `{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1 2]}]}`, 0, `expected ',' or ']' in "data"`},
	{"data trailing comma", `{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2,]}]}`, 0, `invalid value`},
	{"data and binary", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[1],\"parameters\":{\"binary_data_size\":1}}]}\x00\x01", hlAuto, `input "x" has both "data" and parameter binary_data_size`},
	{"binary without header", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","parameters":{"binary_data_size":1}}]}`, 0, `has parameter binary_data_size but the request has no Inference-Header-Content-Length`},
	{"binary size mismatch", "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":4}}]}\x00\x01\x02\x03", hlAuto, `input "x": binary_data_size 4 does not match shape [2] of FP32 (8 bytes)`},
	{"binary sum short", "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"INT8\",\"parameters\":{\"binary_data_size\":2}}]}\x00\x01", hlAuto, `binary data is 1 bytes but the inputs' binary_data_size add up to 2`},
	{"binary extra", "{\"inputs\":[]}\x00\x01\x02", hlAuto, `binary data is 2 bytes but the inputs' binary_data_size add up to 0`},
	{"binary negative size", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT8\",\"parameters\":{\"binary_data_size\":-1}}]}\x00\x01", hlAuto, `parameter "binary_data_size" must be a non-negative integer, not -1`},
	{"binary bool", "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"BOOL\",\"parameters\":{\"binary_data_size\":2}}]}\x00\x01\x05", hlAuto, `input "x": BOOL element 1 is 5`},
	{"trailing garbage in header", "{\"inputs\":[]} x\x00", hlAuto, "unexpected data after"},
}

func (c *badCase) bodyAndHeader() ([]byte, int64) {
	switch c.headerLen {
	case 0:
		return []byte(c.body), -1
	case hlAuto:
		i := strings.IndexByte(c.body, 0)
		return []byte(c.body[:i] + c.body[i+1:]), int64(i)
	}
	return []byte(c.body), c.headerLen
}

func TestDecodeBad(t *testing.T) {
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			body, hl := c.bodyAndHeader()
			req, err := DecodeRequest(body, hl, nil, Limits{})
			if err == nil {
				t.Fatalf("no error; got %+v", req)
			}
			if k := kindOf(t, err); k != wire.KindInvalid {
				t.Errorf("kind %v, want invalid", k)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	// Per input and in total.
	one := `{"name":"%s","shape":[256],"datatype":"FP32","parameters":{"binary_data_size":1024}}`
	header := `{"inputs":[` + fmt.Sprintf(one, "a") + "," + fmt.Sprintf(one, "b") + `]}`
	body := append([]byte(header), make([]byte, 2048)...)
	if _, err := DecodeRequest(body, int64(len(header)), nil, Limits{MaxTensorBytes: 2048}); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeRequest(body, int64(len(header)), nil, Limits{MaxTensorBytes: 2047})
	if err == nil || !strings.Contains(err.Error(), `input "b": inputs total more than maximum size of 2047 bytes`) {
		t.Fatalf("total: %v", err)
	}
	_, err = DecodeRequest(body, int64(len(header)), nil, Limits{MaxTensorBytes: 1000})
	if err == nil || !strings.Contains(err.Error(), `input "a": shape [256] of FP32 exceeds maximum size of 1000 bytes`) {
		t.Fatalf("per input: %v", err)
	}
	// A small body claiming a big shape is refused without a big allocation.
	small := []byte(`{"inputs":[{"name":"x","shape":[16000000],"datatype":"FP32","data":[1,2,3]}]}`)
	allocs := testing.AllocsPerRun(1, func() {
		_, err = DecodeRequest(small, -1, nil, Limits{})
	})
	if err == nil || !strings.Contains(err.Error(), "3 values for shape [16000000] (16000000 expected)") {
		t.Fatalf("small body: %v", err)
	}
	var ms1, ms2 runtimeMem
	ms1.read()
	for i := 0; i < 10; i++ {
		DecodeRequest(small, -1, nil, Limits{})
	}
	ms2.read()
	if d := ms2.total - ms1.total; d > 1<<20 {
		t.Errorf("10 refused small requests allocated %d bytes (%v allocs each)", d, allocs)
	}
}
