package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
)

// constT is a tensor whose value is known at compile time: an initializer,
// a Constant node, or the folded result of ops on such tensors (including
// Shape, since every shape is static per bucket).
type constT struct {
	dt    int32 // dtFloat, or an integer type or dtBool
	shape []int
	f     []float32 // when dt == dtFloat
	d     []float64 // when dt == dtDouble
	i     []int64   // otherwise (every integer type, and BOOL as 0/1)
	// static: the value does not depend on the bucket, so it may be prepared
	// once and shared between the buckets' graphs.
	static bool
}

func (c *constT) isFloat() bool { return c.dt == dtFloat }
func (c *constT) isInt() bool   { return isIntType(c.dt) }
func (c *constT) size() int     { return shapeSize(c.shape) }

// ints returns the values as int64s (floats are truncated).
func (c *constT) ints() []int64 {
	if c.isInt() {
		return c.i
	}
	out := make([]int64, c.size())
	for k := range out {
		out[k] = int64(c.num(k))
	}
	return out
}

// take builds a tensor of the given shape from the elements at src.
func (c *constT) take(shape []int, src []int) *constT {
	out := &constT{dt: c.dt, shape: shape, static: c.static}
	switch c.dt {
	case dtFloat:
		out.f = make([]float32, len(src))
		for k, s := range src {
			out.f[k] = c.f[s]
		}
	case dtDouble:
		out.d = make([]float64, len(src))
		for k, s := range src {
			out.d[k] = c.d[s]
		}
	default:
		out.i = make([]int64, len(src))
		for k, s := range src {
			out.i[k] = c.i[s]
		}
	}
	return out
}

// reshaped returns c with another shape of the same size, sharing data.
func (c *constT) reshaped(shape []int) *constT {
	out := *c
	out.shape = shape
	return &out
}

func isIntType(dt int32) bool {
	switch dt {
	case dtInt64, dtInt32, dtInt16, dtInt8, dtUint8, dtUint16, dtUint32, dtUint64, dtBool:
		return true
	}
	return false
}

// maxConstElems bounds the size of a tensor that folding may create, so that
// a tiny model cannot ask for a huge allocation (e.g. via Expand-like shapes).
const maxConstElems = 1 << 28

// shapeSize is the product of dims (1 for a scalar).
func shapeSize(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// checkedSize is shapeSize for untrusted int64 dims: it fails on negative
// dims and on products above limit.
func checkedSize(dims []int64, limit int) (int, error) {
	n := 1
	for _, d := range dims {
		if d < 0 {
			return 0, invalid("negative dimension in %v", dims)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n != 0 && d > int64(limit/n) {
			return 0, unsupported("shape %v has more than %d elements", dims, limit)
		}
		n *= int(d)
	}
	return n, nil
}

// tensorConst converts a TensorProto to a constT. The data length must match
// the dims exactly.
func tensorConst(t *tensorProto) (*constT, error) {
	if t.external {
		return nil, unsupported("tensor %q: external data is not supported", t.name)
	}
	if t.segmented {
		return nil, unsupported("tensor %q: segmented tensors are not supported", t.name)
	}
	size, err := checkedSize(t.dims, math.MaxInt32)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.name, err)
	}
	c := &constT{dt: t.dataType, shape: make([]int, len(t.dims)), static: true}
	for k, d := range t.dims {
		c.shape[k] = int(d)
	}
	elem := 0
	switch t.dataType {
	case dtFloat, dtInt32, dtUint32:
		elem = 4
	case dtDouble:
		elem = 8
	case dtInt64, dtUint64:
		elem = 8
	case dtInt16, dtUint16:
		elem = 2
	case dtInt8, dtUint8, dtBool:
		elem = 1
	default:
		return nil, unsupported("tensor %q has datatype %s; only FP32, FP64, integer and BOOL tensors are supported", t.name, dtypeName(t.dataType))
	}
	mismatch := func(field string, n int) error {
		return invalid("tensor %q: %s holds %d values, dims %v need %d", t.name, field, n, t.dims, size)
	}
	if t.hasRaw {
		if len(t.rawData) != size*elem {
			return nil, invalid("tensor %q: raw_data holds %d bytes, dims %v of %s need %d", t.name, len(t.rawData), t.dims, dtypeName(t.dataType), size*elem)
		}
		return c, c.fromRaw(t.rawData)
	}
	switch t.dataType {
	case dtFloat:
		if len(t.floatData) != size {
			return nil, mismatch("float_data", len(t.floatData))
		}
		c.f = append([]float32(nil), t.floatData...)
	case dtDouble:
		if len(t.doubleData) != size {
			return nil, mismatch("double_data", len(t.doubleData))
		}
		c.d = append([]float64(nil), t.doubleData...)
	case dtInt64:
		if len(t.int64Data) != size {
			return nil, mismatch("int64_data", len(t.int64Data))
		}
		c.i = append([]int64(nil), t.int64Data...)
	case dtUint32, dtUint64:
		if len(t.uint64Data) != size {
			return nil, mismatch("uint64_data", len(t.uint64Data))
		}
		c.i = make([]int64, size)
		for k, v := range t.uint64Data {
			if v > math.MaxInt64 {
				return nil, unsupported("tensor %q: value %d does not fit int64", t.name, v)
			}
			c.i[k] = int64(v)
		}
	default: // the types stored in int32_data
		if len(t.int32Data) != size {
			return nil, mismatch("int32_data", len(t.int32Data))
		}
		c.i = make([]int64, size)
		for k, v := range t.int32Data {
			c.i[k] = int64(v)
		}
	}
	c.fillEmpty()
	return c, nil
}

func (c *constT) fromRaw(raw []byte) error {
	le := binary.LittleEndian
	n := c.size()
	if c.dt == dtFloat {
		c.f = make([]float32, n)
		for k := range c.f {
			c.f[k] = math.Float32frombits(le.Uint32(raw[4*k:]))
		}
		return nil
	}
	if c.dt == dtDouble {
		c.d = make([]float64, n)
		for k := range c.d {
			c.d[k] = math.Float64frombits(le.Uint64(raw[8*k:]))
		}
		return nil
	}
	c.i = make([]int64, n)
	for k := range c.i {
		switch c.dt {
		case dtInt64:
			c.i[k] = int64(le.Uint64(raw[8*k:]))
		case dtUint64:
			v := le.Uint64(raw[8*k:])
			if v > math.MaxInt64 {
				return unsupported("UINT64 value %d does not fit int64", v)
			}
			c.i[k] = int64(v)
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
			if raw[k] != 0 {
				c.i[k] = 1
			}
		}
	}
	return nil
}

// castInt converts v to integer type dt the way C casts do (wrapping).
func castInt(v int64, dt int32) int64 {
	switch dt {
	case dtInt32:
		return int64(int32(v))
	case dtInt16:
		return int64(int16(v))
	case dtInt8:
		return int64(int8(v))
	case dtUint8:
		return int64(uint8(v))
	case dtUint16:
		return int64(uint16(v))
	case dtUint32:
		return int64(uint32(v))
	case dtBool:
		if v != 0 {
			return 1
		}
		return 0
	}
	return v
}

// strides returns row-major strides of shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for k := len(shape) - 1; k >= 0; k-- {
		s[k] = acc
		acc *= shape[k]
	}
	return s
}

// forEachIndex calls fn with every multi-index of shape in row-major order.
func forEachIndex(shape []int, fn func(idx []int)) {
	n := shapeSize(shape)
	if n == 0 {
		return
	}
	idx := make([]int, len(shape))
	for k := 0; k < n; k++ {
		fn(idx)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// broadcastShape is numpy's multidirectional broadcast of a and b.
func broadcastShape(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for k := 0; k < r; k++ {
		da, db := 1, 1
		if i := k - (r - len(a)); i >= 0 {
			da = a[i]
		}
		if i := k - (r - len(b)); i >= 0 {
			db = b[i]
		}
		switch {
		case da == db, db == 1:
			out[k] = da
		case da == 1:
			out[k] = db
		default:
			return nil, invalid("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// broadcastIndex maps each element of out (a broadcast of in) to its
// source element in in.
func broadcastIndex(in, out []int) []int {
	st := strides(in)
	off := len(out) - len(in)
	src := make([]int, 0, shapeSize(out))
	forEachIndex(out, func(idx []int) {
		s := 0
		for k := range in {
			if in[k] != 1 {
				s += idx[k+off] * st[k]
			}
		}
		src = append(src, s)
	})
	return src
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, invalid("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}
