package synthetic

import (
	"reflect"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// FuzzDecode: a model file sent in LOAD decodes into a valid spec or is
// refused with an error; a decoded spec encodes canonically (decoding its
// encoding gives it back) and runs with delays within its profile.
func FuzzDecode(f *testing.F) {
	for _, s := range []Spec{
		{Base: 5 * time.Millisecond, PerItem: time.Millisecond, Input: wire.TensorSpec{Name: "x", DataType: wire.TypeFP32, Shape: []int64{-1, 4}}, Output: "y"},
		{Jitter: time.Millisecond, Seed: 7, Input: wire.TensorSpec{Name: "t", DataType: wire.TypeUint8, Shape: []int64{-1, -1, 3}}, Output: "o"},
	} {
		f.Add(s.Encode())
	}
	f.Add([]byte(magic + `{"base_ns":-1}` + "\n"))
	f.Add([]byte(magic + `{"shape":[-1,0]} {}`))
	f.Add([]byte("\x08\x07onnx"))
	f.Fuzz(func(t *testing.T, file []byte) {
		s, err := Decode(file)
		if err != nil {
			return
		}
		again, err := Decode(s.Encode())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("%q decodes to %+v, whose encoding decodes to %+v, %v", file, s, again, err)
		}
		r, err := New(s, func(time.Duration) {})
		if err != nil {
			t.Fatalf("%q decodes to %+v, which New refuses: %v", file, s, err)
		}
		for _, rows := range []int{1, 2, 1 << 16} {
			if d := r.Delay(rows); d < s.Latency(rows) || d < 0 || s.Jitter > 0 && d >= s.Latency(rows)+s.Jitter {
				t.Fatalf("%+v: delay %v for %d rows, latency %v, jitter %v", s, d, rows, s.Latency(rows), s.Jitter)
			}
		}
	})
}
