package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func fp32(vals ...float32) []byte {
	b := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestWorkerRoundTrip(t *testing.T) {
	in := Tensor{Name: "input", DataType: TypeFP32, Shape: []int64{2, 2}, Data: fp32(1, 2, 3, 4)}
	out := Tensor{Name: "logits", DataType: TypeInt64, Shape: []int64{2, 1}, Data: make([]byte, 16)}
	var digest [32]byte
	digest[0], digest[31] = 7, 9
	msgs := []WorkerMessage{
		&Hello{WorkerID: "w1", Device: "cpu:2", Capacity: 2, Version: "v1", Model: "m", HeartbeatMS: 250, Cached: [][32]byte{digest}},
		&Hello{WorkerID: "w2"},
		&Load{Model: "m", Version: "1", Digest: digest, MaxBatchSize: 32, HeartbeatMS: 250, Bytes: []byte("onnx bytes")},
		&Load{Model: "m", Version: "1", Digest: digest, MaxBatchSize: 32},
		&Loaded{Model: "m", Digest: digest},
		&Loaded{Model: "m", Digest: digest, Kind: KindInvalid, Message: "node \"x\" (Foo): unsupported"},
		&Loaded{Model: "m", Digest: digest, Profile: []BucketTime{{Rows: 1, NS: 120000}, {Rows: 32, NS: 2500000}}},
		&Batch{ID: 42, Model: "m", Deadline: 1234567890, Rows: 2, Inputs: []Tensor{in}},
		&Batch{ID: 43, Model: "m", Deadline: 1234567890, Rows: 2, Items: []Item{{1, 1234567000}, {1, 1234567890}}, Inputs: []Tensor{in}},
		&Result{ID: 42, ComputeNS: 99, Outputs: []Tensor{out, in}},
		&Result{ID: 43, ComputeNS: 99, Dropped: []uint16{0, 3}, Outputs: []Tensor{out}},
		&BatchError{ID: 42, Kind: KindDeadline, Message: "late"},
		&Heartbeat{},
		&Disconnect{Reason: "bye"},
	}
	for _, m := range msgs {
		frames := m.AppendFrames(nil)
		got, err := DecodeWorker(frames, 0)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%T: round trip\n got %+v\nwant %+v", m, got, m)
		}
	}
}

func TestClientRoundTrip(t *testing.T) {
	in := Tensor{Name: "x", DataType: TypeBool, Shape: []int64{3}, Data: []byte{1, 0, 1}}
	msgs := []ClientMessage{
		&Request{ID: 1, Model: "m", Version: "2", TimeoutMicros: 5000, Priority: 1, Outputs: []string{"a", "b"}, Inputs: []Tensor{in}},
		&Request{ID: 2, Model: "m", Inputs: []Tensor{in}},
		&Response{ID: 1, Model: "m", Version: "2", Outputs: []Tensor{in}},
		&Failure{ID: 1, Kind: KindNotFound, Message: "unknown model"},
	}
	for _, m := range msgs {
		got, err := DecodeClient(m.AppendFrames(nil), 0)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%T: round trip\n got %+v\nwant %+v", m, got, m)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	batch := (&Batch{ID: 1, Model: "m", Rows: 1, Inputs: []Tensor{{Name: "x", DataType: TypeFP32, Shape: []int64{1, 2}, Data: fp32(1, 2)}}}).AppendFrames(nil)
	withData := func(data ...[]byte) [][]byte { return append([][]byte{batch[0]}, data...) }
	hdr := func(f [][]byte, edit func([]byte) []byte) [][]byte {
		return append([][]byte{edit(bytes.Clone(f[0]))}, f[1:]...)
	}
	// BATCH header: prefix 4, id 8, model 2+1, deadline 8, rows 4, item
	// count 2 (no items), tensor count 2, then the dtype.
	const dtypeAt = 4 + 8 + 3 + 8 + 4 + 2 + 2
	lastDim := func(v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint64(b[len(b)-8:], v); return b }
	}
	tests := []struct {
		name   string
		frames [][]byte
		limit  int64
		want   string
	}{
		{"empty", nil, 0, "empty message"},
		{"bad magic", [][]byte{[]byte("XW\x01\x07")}, 0, "does not start"},
		{"client frame on worker socket", (&Failure{ID: 1}).AppendFrames(nil), 0, "does not start"},
		{"version", [][]byte{[]byte("GW\x09\x07")}, 0, "protocol version 9"},
		{"unknown command", [][]byte{[]byte("GW\x01\x7f")}, 0, "unknown worker command 0x7f"},
		{"truncated", hdr(batch, func(b []byte) []byte { return b[:10] }), 0, "truncated"},
		{"trailing", hdr(batch, func(b []byte) []byte { return append(b, 0) }), 0, "trailing"},
		{"missing data frame", withData(), 0, "1 tensors but 0 data frames"},
		{"extra data frame", withData(fp32(1, 2), nil), 0, "1 tensors but 2 data frames"},
		{"short data", withData(fp32(1)), 0, "needs 8"},
		{"over limit", batch, 4, "exceeds the maximum size"},
		{"heartbeat with data", [][]byte{[]byte("GW\x01\x07"), {1}}, 0, "takes no data frames"},
		{"load flag mismatch", [][]byte{(&Load{Model: "m"}).AppendFrames(nil)[0], {1}}, 0, "has-bytes flag"},
		{"bad dtype", hdr(batch, func(b []byte) []byte { b[dtypeAt] = 99; return b }), 0, "unknown datatype code 99"},
		{"negative dim", hdr(batch, lastDim(math.MaxUint64)), 0, "negative dimension"},
		{"overflowing dims", hdr(batch, lastDim(1<<62)), 0, "exceeds the maximum size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeWorker(tt.frames, tt.limit)
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tt.want)
			}
		})
	}
}

func TestRequestIDOfMalformedRequest(t *testing.T) {
	frames := (&Request{ID: 77, Model: "m", Inputs: []Tensor{{Name: "x", DataType: TypeUint8, Shape: []int64{2}, Data: []byte{1, 2}}}}).AppendFrames(nil)
	frames = frames[:1] // the data frame is missing
	if _, err := DecodeClient(frames, 0); err == nil {
		t.Fatal("decoded a request without its data frame")
	}
	if id, ok := RequestID(frames); !ok || id != 77 {
		t.Fatalf("RequestID = %d, %v", id, ok)
	}
	if _, ok := RequestID([][]byte{[]byte("GC\x01\x01")}); ok {
		t.Fatal("an id from a header too short to hold one")
	}
}

func TestRequestCheck(t *testing.T) {
	ok := Tensor{Name: "x", DataType: TypeInt16, Shape: []int64{3}, Data: make([]byte, 6)}
	tests := []struct {
		req  Request
		want string
	}{
		{Request{Model: "m", Inputs: []Tensor{ok}}, ""},
		{Request{Model: "m", Inputs: []Tensor{{Name: "x", DataType: TypeInt16, Shape: []int64{3}, Data: make([]byte, 5)}}}, "needs 6"},
		{Request{Model: "m", Inputs: []Tensor{{Name: "x", Shape: []int64{3}}}}, "invalid datatype"},
		{Request{Model: strings.Repeat("m", 70000)}, "longer than"},
		{Request{Model: "m", Outputs: []string{strings.Repeat("o", 70000)}}, "longer than"},
	}
	for _, tt := range tests {
		err := tt.req.Check()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check() = %v, want %q", err, tt.want)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		dt    DataType
		shape []int64
		limit int64
		want  int64
		err   string
	}{
		{TypeFP32, []int64{1, 1, 28, 28}, 0, 3136, ""},
		{TypeBool, nil, 0, 1, ""},
		{TypeFP64, []int64{0, 5}, 0, 0, ""},
		{TypeFP32, []int64{16, 1<<60 + 2}, 0, 0, "exceeds"},
		{TypeFP32, []int64{-1, 3}, 0, 0, "negative"},
		{TypeUint8, []int64{100}, 99, 0, "exceeds the maximum size of 99"},
		{TypeInvalid, []int64{1}, 0, 0, "invalid datatype"},
		{TypeInt8, make([]int64, MaxRank+1), 0, 0, "dimensions"},
	}
	for _, tt := range tests {
		got, err := ByteSize(tt.dt, tt.shape, tt.limit)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ByteSize(%v, %v) err = %v, want %q", tt.dt, tt.shape, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ByteSize(%v, %v) = %d, %v; want %d", tt.dt, tt.shape, got, err, tt.want)
		}
	}
}

func TestDataTypeNames(t *testing.T) {
	for dt := TypeBool; dt < numTypes; dt++ {
		got, ok := ParseDataType(dt.String())
		if !ok || got != dt {
			t.Errorf("ParseDataType(%q) = %v, %v", dt.String(), got, ok)
		}
	}
	if _, ok := ParseDataType("fp32"); ok {
		t.Error("datatype names are case-sensitive")
	}
	if _, ok := ParseDataType("BYTES"); ok {
		t.Error("BYTES is not a fixed-size type")
	}
}

func TestKindOf(t *testing.T) {
	base := Errorf(KindUnavailable, "queue full")
	if k := KindOf(errors.Join(errors.New("x"), base)); k != KindUnavailable {
		t.Errorf("KindOf(joined) = %v", k)
	}
	if k := KindOf(errors.New("plain")); k != KindUnknown {
		t.Errorf("KindOf(plain) = %v", k)
	}
}

// splitFrames turns fuzz bytes into frames: each frame is a 1-byte length
// followed by that many bytes.
func splitFrames(b []byte) [][]byte {
	var frames [][]byte
	for len(b) > 0 {
		n := min(int(b[0]), len(b)-1)
		frames = append(frames, b[1:1+n])
		b = b[1+n:]
	}
	return frames
}

func joinFrames(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		if len(f) > 255 {
			f = f[:255]
		}
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return b
}

func FuzzDecodeWorker(f *testing.F) {
	in := Tensor{Name: "x", DataType: TypeFP32, Shape: []int64{1, 2}, Data: fp32(1, 2)}
	for _, m := range []WorkerMessage{
		&Hello{WorkerID: "w", Cached: [][32]byte{{1}}}, &Load{Model: "m", Bytes: []byte{1}}, &Loaded{Model: "m"},
		&Loaded{Model: "m", Profile: []BucketTime{{Rows: 1, NS: 5}}},
		&Batch{ID: 1, Model: "m", Rows: 1, Inputs: []Tensor{in}}, &Result{ID: 1, Outputs: []Tensor{in}},
		&Batch{ID: 1, Model: "m", Rows: 1, Items: []Item{{1, 5}}, Inputs: []Tensor{in}}, &Result{ID: 1, Dropped: []uint16{1}, Outputs: []Tensor{in}},
		&BatchError{ID: 1, Message: "x"}, &Heartbeat{}, &Disconnect{Reason: "r"},
	} {
		f.Add(joinFrames(m.AppendFrames(nil)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		frames := splitFrames(b)
		m, err := DecodeWorker(frames, 1<<20)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same frames.
		again, err := DecodeWorker(m.AppendFrames(nil), 1<<20)
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(m)) {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
	})
}

func FuzzDecodeClient(f *testing.F) {
	in := Tensor{Name: "x", DataType: TypeInt32, Shape: []int64{1}, Data: []byte{1, 2, 3, 4}}
	for _, m := range []ClientMessage{
		&Request{ID: 1, Model: "m", Outputs: []string{"y"}, Inputs: []Tensor{in}},
		&Response{ID: 1, Model: "m", Outputs: []Tensor{in}}, &Failure{ID: 1, Message: "x"},
	} {
		f.Add(joinFrames(m.AppendFrames(nil)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeClient(splitFrames(b), 1<<20)
		if err != nil {
			return
		}
		again, err := DecodeClient(m.AppendFrames(nil), 1<<20)
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(m)) {
			t.Fatalf("re-encoding %#v: %v", m, err)
		}
	})
}

// normalize maps empty slices to nil so DeepEqual compares content.
func normalize(m any) any {
	switch v := m.(type) {
	case *Load:
		c := *v
		if c.Bytes != nil && len(c.Bytes) == 0 {
			c.Bytes = []byte{}
		}
		return &c
	case *Batch:
		c := *v
		c.Inputs = normTensors(c.Inputs)
		return &c
	case *Result:
		c := *v
		c.Outputs = normTensors(c.Outputs)
		return &c
	case *Request:
		c := *v
		c.Inputs = normTensors(c.Inputs)
		return &c
	case *Response:
		c := *v
		c.Outputs = normTensors(c.Outputs)
		return &c
	}
	return m
}

func normTensors(ts []Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		if len(t.Data) == 0 {
			t.Data = nil
		}
		out[i] = t
	}
	return out
}

func TestItemsAndDroppedAreChecked(t *testing.T) {
	in := Tensor{Name: "x", DataType: TypeFP32, Shape: []int64{2, 1}, Data: fp32(1, 2)}
	bad := []WorkerMessage{
		&Batch{ID: 1, Model: "m", Rows: 2, Items: []Item{{1, 0}, {2, 0}}, Inputs: []Tensor{in}}, // 3 rows of items, batch of 2
		&Result{ID: 1, Dropped: []uint16{2, 1}, Outputs: []Tensor{in}},                          // not ascending
	}
	for _, m := range bad {
		if _, err := DecodeWorker(m.AppendFrames(nil), 1<<20); !errors.Is(err, ErrMalformed) {
			t.Errorf("%#v: %v, want ErrMalformed", m, err)
		}
	}
}
