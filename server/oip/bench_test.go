package oip

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/gannet-ml/gannet/wire"
)

// fashionRequest builds a Fashion-MNIST-sized request: input "input", FP32,
// shape [1,1,28,28], pixel values k/255 as a client would send them.
func fashionRequest(nested bool) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := []byte(`{"id":"bench-1","inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","data":`)
	if nested {
		b = append(b, "[[["...)
	} else {
		b = append(b, '[')
	}
	for row := 0; row < 28; row++ {
		if row > 0 {
			b = append(b, ',')
		}
		if nested {
			b = append(b, '[')
		}
		for col := 0; col < 28; col++ {
			if col > 0 {
				b = append(b, ',')
			}
			k := 0
			if rng.IntN(2) == 0 { // about half the pixels are background
				k = rng.IntN(256)
			}
			b = strconv.AppendFloat(b, float64(float32(k)/255), 'g', -1, 32)
		}
		if nested {
			b = append(b, ']')
		}
	}
	if nested {
		b = append(b, "]]]"...)
	} else {
		b = append(b, ']')
	}
	return append(b, `}]}`...)
}

func BenchmarkDecodeJSON28x28(b *testing.B) {
	for _, v := range []struct {
		name   string
		nested bool
	}{{"flat", false}, {"nested", true}} {
		body := fashionRequest(v.nested)
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req, err := DecodeRequest(body, -1, nil, Limits{})
				if err != nil || len(req.Inputs[0].Data) != 784*4 {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeBinary28x28(b *testing.B) {
	header := `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":true}}`
	body := append([]byte(header), make([]byte, 3136)...)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeRequest(body, int64(len(header)), nil, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	logits := make([]byte, 0, 40)
	for i := 0; i < 10; i++ {
		logits = append(logits, le(float32(i)*1.7-8.123456)...)
	}
	outs := []wire.Tensor{{Name: "logits", DataType: wire.TypeFP32, Shape: []int64{1, 10}, Data: logits}}
	for _, v := range []struct {
		name string
		req  *Request
	}{{"json", &Request{ID: "bench-1"}}, {"binary", &Request{ID: "bench-1", BinaryOutput: true}}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				var err error
				buf, _, err = AppendResponse(buf[:0], "fashion-mnist-mlp", "1", v.req, outs)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodeAllocs pins the allocation counts of the hot path: the Request
// (with room for one input), the id, the name, the shape and the data.
func TestDecodeAllocs(t *testing.T) {
	header := `{"inputs":[{"name":"input","shape":[1,1,28,28],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":true}}`
	bin := append([]byte(header), make([]byte, 3136)...)
	extra := []byte(`{"id":"a","parameters":{"x":"y","priority":1,"timeout":5},"future":{"a":[1,{"b":[null,true,"s"]}]},` +
		`"inputs":[{"name":"x","shape":[2],"datatype":"INT8","data":[1,2],"parameters":{"p":"q"},"more":[[[]]]}]}`)
	for _, c := range []struct {
		name string
		body []byte
		hl   int64
		max  float64
	}{
		{"json", fashionRequest(false), -1, 5},
		{"nested", fashionRequest(true), -1, 5},
		{"binary", bin, int64(len(header)), 5}, // no id; the binary sizes instead
		{"unknown members", extra, -1, 5},
	} {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := DecodeRequest(c.body, c.hl, nil, Limits{}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > c.max {
			t.Errorf("%s: %v allocations, want at most %v", c.name, allocs, c.max)
		}
	}
}
