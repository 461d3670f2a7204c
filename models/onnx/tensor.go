package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Storage of tensors. Every datatype the compiler runs is held in one of
// three Go slices: FP32 in []float32, FP64 in []float64, and every integer
// type and BOOL in []int64 (values wrapped to the type's range; BOOL as 0 or
// 1). The ONNX datatype travels beside the data (constT.dt at compile time,
// value.dt and kernOp's specs at run time), so gorgonia only ever sees
// Float32, Float64 and Int64 tensors.

// runnable reports whether dt can be computed with.
func runnable(dt int32) bool { return dt == dtFloat || dt == dtDouble || isIntType(dt) }

// isFloatType reports whether dt is FP32 or FP64.
func isFloatType(dt int32) bool { return dt == dtFloat || dt == dtDouble }

// gDtype is the gorgonia dtype that holds dt.
func gDtype(dt int32) tensor.Dtype {
	switch dt {
	case dtFloat:
		return tensor.Float32
	case dtDouble:
		return tensor.Float64
	}
	return tensor.Int64
}

// elemSize is the byte size of one element of dt on the wire.
func elemSize(dt int32) int {
	switch dt {
	case dtInt64, dtUint64, dtDouble:
		return 8
	case dtFloat, dtInt32, dtUint32:
		return 4
	case dtInt16, dtUint16:
		return 2
	}
	return 1
}

// newConst allocates a zero tensor.
func newConst(dt int32, shape []int) *constT {
	c := &constT{dt: dt, shape: shape}
	n := shapeSize(shape)
	switch dt {
	case dtFloat:
		c.f = make([]float32, n)
	case dtDouble:
		c.d = make([]float64, n)
	default:
		c.i = make([]int64, n)
	}
	return c
}

// fillEmpty gives an empty tensor a non-nil slice of its type.
func (c *constT) fillEmpty() {
	switch {
	case c.dt == dtFloat && c.f == nil:
		c.f = []float32{}
	case c.dt == dtDouble && c.d == nil:
		c.d = []float64{}
	case isIntType(c.dt) && c.i == nil:
		c.i = []int64{}
	}
}

// num returns element k as a float64.
func (c *constT) num(k int) float64 {
	switch c.dt {
	case dtFloat:
		return float64(c.f[k])
	case dtDouble:
		return c.d[k]
	}
	return float64(c.i[k])
}

// setNum stores v at k, converted to c's type (integers are truncated and
// wrapped; NaN becomes 0; BOOL is v != 0).
func (c *constT) setNum(k int, v float64) {
	switch c.dt {
	case dtFloat:
		c.f[k] = float32(v)
	case dtDouble:
		c.d[k] = v
	case dtBool:
		c.i[k] = b2i(v != 0)
	default:
		if v != v {
			v = 0
		}
		c.i[k] = castInt(int64(v), c.dt)
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// copyElem copies element s of src to element k of c (same type).
func (c *constT) copyElem(k int, src *constT, s int) {
	switch c.dt {
	case dtFloat:
		c.f[k] = src.f[s]
	case dtDouble:
		c.d[k] = src.d[s]
	default:
		c.i[k] = src.i[s]
	}
}

// data returns the backing slice.
func (c *constT) data() any {
	switch c.dt {
	case dtFloat:
		return c.f
	case dtDouble:
		return c.d
	}
	return c.i
}

// clone copies c (data included).
func (c *constT) clone() *constT {
	out := &constT{dt: c.dt, shape: slices.Clone(c.shape), static: c.static}
	out.f, out.d, out.i = slices.Clone(c.f), slices.Clone(c.d), slices.Clone(c.i)
	out.fillEmpty()
	return out
}

// gShape is the gorgonia shape of a tensor of logical shape s: gorgonia has
// no rank-0 tensors, so a scalar is held as shape (1).
func gShape(s []int) tensor.Shape {
	if len(s) == 0 {
		return tensor.Shape{1}
	}
	return tensor.Shape(slices.Clone(s))
}

// toDense wraps c's data in a Dense of c's gorgonia shape (no copy).
func toDense(c *constT) *tensor.Dense {
	return tensor.New(tensor.WithShape(gShape(c.shape)...), tensor.WithBacking(c.data()))
}

// fromGValue views a gorgonia value as a tensor of type dt and logical shape
// (no copy when the value is a contiguous Dense).
func fromGValue(v G.Value, dt int32, shape []int) (*constT, error) {
	c := &constT{dt: dt, shape: shape}
	n := shapeSize(shape)
	switch x := v.(type) {
	case *tensor.Dense:
		if x.RequiresIterator() {
			m, ok := x.Materialize().(*tensor.Dense)
			if !ok {
				return nil, fmt.Errorf("cannot materialise a view")
			}
			x = m
		}
		switch d := x.Data().(type) {
		case []float32:
			c.f = d
		case []float64:
			c.d = d
		case []int64:
			c.i = d
		case float32:
			c.f = []float32{d}
		case float64:
			c.d = []float64{d}
		case int64:
			c.i = []int64{d}
		default:
			return nil, fmt.Errorf("value holds %T", d)
		}
	case *G.F32:
		c.f = []float32{float32(*x)}
	case *G.F64:
		c.d = []float64{float64(*x)}
	case *G.I64:
		c.i = []int64{int64(*x)}
	default:
		return nil, fmt.Errorf("value is %T", v)
	}
	got := 0
	switch dt {
	case dtFloat:
		got = len(c.f)
	case dtDouble:
		got = len(c.d)
	default:
		got = len(c.i)
	}
	if got < n {
		return nil, fmt.Errorf("value of %s holds %d elements, want %d (shape %v)", dtypeName(dt), got, n, shape)
	}
	switch dt {
	case dtFloat:
		c.f = c.f[:n]
	case dtDouble:
		c.d = c.d[:n]
	default:
		c.i = c.i[:n]
	}
	return c, nil
}

// decodeInto fills c (already allocated) from raw little-endian bytes of
// ONNX type dt. len(raw) must be c.size()*elemSize(dt).
func (c *constT) decodeInto(raw []byte, dt int32) {
	le := binary.LittleEndian
	n := len(raw) / elemSize(dt)
	for k := 0; k < n; k++ {
		switch dt {
		case dtFloat:
			c.f[k] = math.Float32frombits(le.Uint32(raw[4*k:]))
		case dtDouble:
			c.d[k] = math.Float64frombits(le.Uint64(raw[8*k:]))
		case dtInt64, dtUint64:
			c.i[k] = int64(le.Uint64(raw[8*k:]))
		case dtInt32:
			c.i[k] = int64(int32(le.Uint32(raw[4*k:])))
		case dtUint32:
			c.i[k] = int64(le.Uint32(raw[4*k:]))
		case dtInt16:
			c.i[k] = int64(int16(le.Uint16(raw[2*k:])))
		case dtUint16:
			c.i[k] = int64(le.Uint16(raw[2*k:]))
		case dtInt8:
			c.i[k] = int64(int8(raw[k]))
		case dtUint8:
			c.i[k] = int64(raw[k])
		case dtBool:
			c.i[k] = b2i(raw[k] != 0)
		}
	}
}

// encode returns the first n elements of c as raw little-endian bytes of
// c's type.
func (c *constT) encode(n int) []byte {
	le := binary.LittleEndian
	es := elemSize(c.dt)
	out := make([]byte, n*es)
	for k := 0; k < n; k++ {
		switch c.dt {
		case dtFloat:
			le.PutUint32(out[4*k:], math.Float32bits(c.f[k]))
		case dtDouble:
			le.PutUint64(out[8*k:], math.Float64bits(c.d[k]))
		case dtInt64, dtUint64:
			le.PutUint64(out[8*k:], uint64(c.i[k]))
		case dtInt32, dtUint32:
			le.PutUint32(out[4*k:], uint32(c.i[k]))
		case dtInt16, dtUint16:
			le.PutUint16(out[2*k:], uint16(c.i[k]))
		default:
			out[k] = byte(c.i[k])
		}
	}
	return out
}

// Tensor is a dense tensor in raw form: Data holds the row-major
// little-endian elements of DataType (a KServe OIP v2 name, as in
// TensorInfo; BOOL as one byte per element).
type Tensor struct {
	Name     string
	DataType string
	Shape    []int64
	Data     []byte
}

// ParseTensor decodes a serialised ONNX TensorProto (the input_N.pb and
// output_N.pb files of the ONNX backend test data) into raw form.
func ParseTensor(b []byte) (*Tensor, error) {
	tp, err := decodeTensor(b, "TensorProto")
	if err != nil {
		return nil, err
	}
	name, ok := oipNames[tp.dataType]
	if !ok {
		return nil, unsupported("tensor %q has %s", tp.name, dtypeName(tp.dataType))
	}
	if !runnable(tp.dataType) {
		return nil, unsupported("tensor %q has datatype %s, which is not supported", tp.name, name)
	}
	c, err := tensorConst(tp)
	if err != nil {
		return nil, err
	}
	return &Tensor{Name: tp.name, DataType: name, Shape: slices.Clone(tp.dims), Data: c.encode(c.size())}, nil
}

// dtypeOf maps an OIP datatype name back to the ONNX type.
func dtypeOf(name string) (int32, bool) {
	for k, v := range oipNames {
		if v == name {
			return k, true
		}
	}
	return 0, false
}
