package oip

import (
	"strconv"
	"testing"

	"github.com/gannet-ml/gannet/wire"
)

// fuzzLimits keep the fuzzer's allocations small.
var fuzzLimits = Limits{MaxTensorBytes: 1 << 20}

var fuzzMeta = &wire.ModelMetadata{Name: "m", Inputs: []wire.TensorSpec{{Name: "in", DataType: wire.TypeFP32, Shape: []int64{-1, 2}}}}

// checkFuzzResult checks a DecodeRequest result: errors are 400s; a
// decoded request has consistent sizes, owns its memory and survives a
// re-encode/decode round trip.
func checkFuzzResult(t *testing.T, body []byte, req *Request, err error) {
	if err != nil {
		if k := kindOf(t, err); k != wire.KindInvalid {
			t.Fatalf("error kind %v: %v", k, err)
		}
		if req != nil {
			t.Fatal("request and error")
		}
		return
	}
	checkDecoded(t, req, body)
	roundTrip(t, req, fuzzLimits, nil)
	roundTrip(t, req, fuzzLimits, func(i int) bool { return i%2 == 1 })
	// The response encoder accepts the decoded tensors as outputs.
	if _, _, err := AppendResponse(nil, "m", "1", req, req.Inputs); err != nil && wire.KindOf(err) != wire.KindInvalid {
		t.Fatalf("AppendResponse: %v", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, c := range badCases {
		if c.headerLen == 0 {
			f.Add([]byte(c.body))
		}
	}
	for _, c := range dtCases {
		if c.json != "" {
			f.Add([]byte(`{"inputs":[{"name":"x","shape":` + c.shape + `,"datatype":"` + c.dt.String() + `","data":` + c.json + `}]}`))
		}
	}
	f.Add([]byte(`{"id":"a\"\u00e9\ud83d\ude00","parameters":{"binary_data_output":true,"priority":2,"timeout":10},` +
		`"inputs":[{"data":[[1,2],[3,4]],"name":"x","shape":[2,2],"datatype":"INT32"}],"outputs":[{"name":"o","parameters":{"binary_data":false}}]}`))
	f.Add([]byte(`{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP64","data":[[[1]],2,[[3,4]]]}],"future":{"a":[1,{"b":null}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body, -1, nil, fuzzLimits)
		checkFuzzResult(t, body, req, err)
	})
}

func FuzzDecodeBinary(f *testing.F) {
	for _, c := range badCases {
		body, hl := c.bodyAndHeader()
		f.Add(body, hl)
	}
	for _, c := range dtCases {
		header := `{"inputs":[{"name":"x","shape":` + c.shape + `,"datatype":"` + c.dt.String() + `","parameters":{"binary_data_size":` + strconv.Itoa(len(c.want)) + `}}]}`
		f.Add(append([]byte(header), c.want...), int64(len(header)))
	}
	header := `{"inputs":[{"name":"a","shape":[2],"datatype":"INT16","data":[1,-1]},{"name":"b","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}`
	f.Add(append([]byte(header), le(float32(1.25), float32(-2))...), int64(len(header)))
	f.Add(le(float32(1), float32(2), float32(3), float32(4)), int64(0))
	f.Add([]byte{1, 2, 3}, int64(0))
	f.Add([]byte(`{"inputs":[]}`), int64(99999999999))
	f.Fuzz(func(t *testing.T, body []byte, headerLen int64) {
		req, err := DecodeRequest(body, headerLen, fuzzMeta, fuzzLimits)
		checkFuzzResult(t, body, req, err)
	})
}
