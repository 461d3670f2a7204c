package oip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strconv"
	"testing"
	"unsafe"

	"github.com/gannet-ml/gannet/wire"
)

// encodeRequest is a small test-only request encoder: it writes req as an
// OIP request, with every input as JSON "data" except FP16/BF16 inputs and
// those for which asBinary returns true, which go in the binary section.
// headerLen is -1 when there is no binary section.
func encodeRequest(req *Request, asBinary func(i int) bool) (body []byte, headerLen int64) {
	var js, bin []byte
	anyBinary := false
	js = append(js, '{')
	if req.ID != "" {
		js = append(js, `"id":`...)
		js = AppendJSONString(js, req.ID)
		js = append(js, ',')
	}
	js = append(js, `"parameters":{"binary_data_output":`...)
	js = strconv.AppendBool(js, req.BinaryOutput)
	js = append(js, `,"priority":`...)
	js = strconv.AppendInt(js, req.Priority, 10)
	js = append(js, `,"timeout":`...)
	js = strconv.AppendInt(js, req.TimeoutMicros, 10)
	js = append(js, `},"inputs":[`...)
	for i := range req.Inputs {
		t := &req.Inputs[i]
		if i > 0 {
			js = append(js, ',')
		}
		js = append(js, `{"name":`...)
		js = AppendJSONString(js, t.Name)
		js = append(js, `,"datatype":"`...)
		js = append(js, t.DataType.String()...)
		js = append(js, `","shape":`...)
		js = appendShape(js, t.Shape)
		if t.DataType == wire.TypeFP16 || t.DataType == wire.TypeBF16 || asBinary != nil && asBinary(i) {
			anyBinary = true
			js = append(js, `,"parameters":{"binary_data_size":`...)
			js = strconv.AppendInt(js, int64(len(t.Data)), 10)
			js = append(js, '}')
			bin = append(bin, t.Data...)
		} else {
			js = append(js, `,"data":`...)
			js = appendData(js, t)
		}
		js = append(js, '}')
	}
	js = append(js, ']')
	if req.Outputs != nil {
		js = append(js, `,"outputs":[`...)
		for i, o := range req.Outputs {
			if i > 0 {
				js = append(js, ',')
			}
			js = append(js, `{"name":`...)
			js = AppendJSONString(js, o.Name)
			js = append(js, `,"parameters":{"binary_data":`...)
			js = strconv.AppendBool(js, o.Binary)
			js = append(js, "}}"...)
		}
		js = append(js, ']')
	}
	js = append(js, '}')
	if !anyBinary {
		return js, -1
	}
	return append(js, bin...), int64(len(js))
}

// sameTensor compares two tensors; float NaNs compare equal whatever
// their payload (JSON has a single NaN).
func sameTensor(a, b *wire.Tensor) bool {
	if a.Name != b.Name || a.DataType != b.DataType || !slicesEqual(a.Shape, b.Shape) || len(a.Data) != len(b.Data) {
		return false
	}
	switch a.DataType {
	case wire.TypeFP32:
		for i := 0; i+4 <= len(a.Data); i += 4 {
			x := math.Float32frombits(binary.LittleEndian.Uint32(a.Data[i:]))
			y := math.Float32frombits(binary.LittleEndian.Uint32(b.Data[i:]))
			if !(x != x && y != y) && !bytes.Equal(a.Data[i:i+4], b.Data[i:i+4]) {
				return false
			}
		}
		return true
	case wire.TypeFP64:
		for i := 0; i+8 <= len(a.Data); i += 8 {
			x := math.Float64frombits(binary.LittleEndian.Uint64(a.Data[i:]))
			y := math.Float64frombits(binary.LittleEndian.Uint64(b.Data[i:]))
			if !(x != x && y != y) && !bytes.Equal(a.Data[i:i+8], b.Data[i:i+8]) {
				return false
			}
		}
		return true
	}
	return bytes.Equal(a.Data, b.Data)
}

func slicesEqual(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkDecoded verifies the invariants of a successfully decoded request:
// data sizes fit shapes, and no tensor aliases the body.
func checkDecoded(t *testing.T, req *Request, body []byte) {
	t.Helper()
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	hi := lo + uintptr(len(body))
	for i := range req.Inputs {
		in := &req.Inputs[i]
		size, err := wire.ByteSize(in.DataType, in.Shape, 0)
		if err != nil {
			t.Fatalf("input %q: %v", in.Name, err)
		}
		if int64(len(in.Data)) != size {
			t.Fatalf("input %q: %d data bytes for shape %v of %v (%d expected)", in.Name, len(in.Data), in.Shape, in.DataType, size)
		}
		if in.Data == nil {
			t.Fatalf("input %q: nil data", in.Name)
		}
		if len(in.Data) > 0 {
			p := uintptr(unsafe.Pointer(unsafe.SliceData(in.Data)))
			if p >= lo && p < hi {
				t.Fatalf("input %q: data aliases the request body", in.Name)
			}
		}
	}
	for _, o := range req.Outputs {
		_ = o.Name
	}
	if req.Priority < 0 || req.TimeoutMicros < 0 {
		t.Fatalf("negative priority %d or timeout %d", req.Priority, req.TimeoutMicros)
	}
}

// roundTrip re-encodes a decoded request and decodes it again: the result
// must be the same.
func roundTrip(t *testing.T, req *Request, lim Limits, asBinary func(int) bool) {
	t.Helper()
	body, hl := encodeRequest(req, asBinary)
	req2, err := DecodeRequest(body, hl, nil, lim)
	if err != nil {
		t.Fatalf("re-decoding %q (headerLen %d): %v", body, hl, err)
	}
	if req.ID != req2.ID || req.BinaryOutput != req2.BinaryOutput || req.Priority != req2.Priority ||
		req.TimeoutMicros != req2.TimeoutMicros || len(req.Inputs) != len(req2.Inputs) || len(req.Outputs) != len(req2.Outputs) ||
		(req.Outputs == nil) != (req2.Outputs == nil) {
		t.Fatalf("round trip changed the request:\n%+v\n%+v", req, req2)
	}
	for i := range req.Inputs {
		if !sameTensor(&req.Inputs[i], &req2.Inputs[i]) {
			t.Fatalf("round trip changed input %d:\n%+v\n%+v", i, req.Inputs[i], req2.Inputs[i])
		}
	}
	for i := range req.Outputs {
		if req.Outputs[i] != req2.Outputs[i] {
			t.Fatalf("round trip changed output %d: %+v, %+v", i, req.Outputs[i], req2.Outputs[i])
		}
	}
}

// kindOf returns the error's kind, failing the test if it is not a *wire.Error.
func kindOf(t *testing.T, err error) wire.Kind {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *wire.Error", err, err)
	}
	return we.Kind
}

// le encodes values little-endian.
func le(values ...any) []byte {
	var b []byte
	for _, v := range values {
		b, _ = binary.Append(b, binary.LittleEndian, v)
	}
	return b
}

type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
