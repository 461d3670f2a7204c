package accel_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The tests read the real models' weights straight from their ONNX files
// (models/onnx keeps its initializers unexported): a minimal protobuf
// reader of ModelProto.graph(7).initializer(5) TensorProto fields dims(1),
// data_type(2), float_data(4), name(8), raw_data(9).

const testdata = "../testdata"

type onnxTensor struct {
	name  string
	dims  []int
	data  []float32
	dtype uint64
}

// readVarint decodes a protobuf varint at b[0:].
func readVarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("bad varint")
}

// fields calls fn for every field of message b; val is the payload of a
// length-delimited field, num the varint of a varint field.
func fields(b []byte, fn func(field int, wire int, val []byte, num uint64) error) error {
	for len(b) > 0 {
		key, n, err := readVarint(b)
		if err != nil {
			return err
		}
		b = b[n:]
		field, wire := int(key>>3), int(key&7)
		switch wire {
		case 0:
			v, n, err := readVarint(b)
			if err != nil {
				return err
			}
			b = b[n:]
			if err := fn(field, wire, nil, v); err != nil {
				return err
			}
		case 1:
			b = b[8:]
		case 5:
			if err := fn(field, wire, b[:4], 0); err != nil {
				return err
			}
			b = b[4:]
		case 2:
			l, n, err := readVarint(b)
			if err != nil || uint64(len(b)-n) < l {
				return errors.New("bad length")
			}
			if err := fn(field, wire, b[n:n+int(l)], 0); err != nil {
				return err
			}
			b = b[n+int(l):]
		default:
			return fmt.Errorf("wire type %d", wire)
		}
	}
	return nil
}

func decodeTensor(b []byte) (*onnxTensor, error) {
	t := &onnxTensor{}
	err := fields(b, func(f, w int, val []byte, num uint64) error {
		switch {
		case f == 1 && w == 0:
			t.dims = append(t.dims, int(num))
		case f == 1 && w == 2:
			for len(val) > 0 {
				v, n, err := readVarint(val)
				if err != nil {
					return err
				}
				t.dims, val = append(t.dims, int(v)), val[n:]
			}
		case f == 2:
			t.dtype = num
		case f == 4 && w == 2:
			for i := 0; i+4 <= len(val); i += 4 {
				t.data = append(t.data, math.Float32frombits(binary.LittleEndian.Uint32(val[i:])))
			}
		case f == 4 && w == 5:
			t.data = append(t.data, math.Float32frombits(binary.LittleEndian.Uint32(val)))
		case f == 8:
			t.name = string(val)
		case f == 9:
			for i := 0; i+4 <= len(val); i += 4 {
				t.data = append(t.data, math.Float32frombits(binary.LittleEndian.Uint32(val[i:])))
			}
		}
		return nil
	})
	return t, err
}

// loadWeights returns the FP32 initializers of a real model by shape
// ("256x784"), skipping the test if the model has not been made.
func loadWeights(tb testing.TB, model string) map[string]*onnxTensor {
	tb.Helper()
	path := filepath.Join(testdata, "models", model, "1", "model.onnx")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		tb.Skipf("%s is absent: run /usr/bin/python3 scripts/make_models.py", path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]*onnxTensor{}
	err = fields(data, func(f, w int, graph []byte, _ uint64) error {
		if f != 7 || w != 2 {
			return nil
		}
		return fields(graph, func(f, w int, init []byte, _ uint64) error {
			if f != 5 || w != 2 {
				return nil
			}
			t, err := decodeTensor(init)
			if err != nil {
				return err
			}
			if t.dtype == 1 { // FLOAT
				out[shapeKey(t.dims)] = t
			}
			return nil
		})
	})
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return out
}

func shapeKey(dims []int) string {
	s := ""
	for i, d := range dims {
		if i > 0 {
			s += "x"
		}
		s += fmt.Sprint(d)
	}
	return s
}

// weightOf returns the initializer of the given shape.
func weightOf(tb testing.TB, ws map[string]*onnxTensor, dims ...int) *onnxTensor {
	tb.Helper()
	t, ok := ws[shapeKey(dims)]
	if !ok || len(t.data) == 0 {
		keys := []string{}
		for k := range ws {
			keys = append(keys, k)
		}
		tb.Fatalf("no FP32 initializer of shape %v (have %v)", dims, keys)
	}
	return t
}

// loadReference returns the PyTorch logits of the first images.
func loadReference(tb testing.TB, model string) []float32 {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "reference", model+".logits.f32"))
	if err != nil {
		tb.Skip(err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

func readModel(tb testing.TB, model string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, "models", model, "1", "model.onnx"))
	if err != nil {
		tb.Skip(err)
	}
	return data
}
