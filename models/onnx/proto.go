package onnx

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is a hand-written decoder of the parts of onnx.proto that the
// package uses. Field numbers are those of onnx/onnx.proto (IR version 8).
// Unknown fields are skipped. Nothing here allocates more than a small
// multiple of the bytes it decodes, and nothing recurses more than a fixed
// depth: subgraphs (AttributeProto.g) are noted, not decoded.

// Field numbers.
const (
	// ModelProto
	fModelIRVersion   = 1
	fModelOpsetImport = 8
	fModelGraph       = 7

	// OperatorSetIdProto
	fOpsetDomain  = 1
	fOpsetVersion = 2

	// GraphProto
	fGraphNode        = 1
	fGraphName        = 2
	fGraphInitializer = 5
	fGraphInput       = 11
	fGraphOutput      = 12
	fGraphValueInfo   = 13
	fGraphSparseInit  = 15

	// NodeProto
	fNodeInput     = 1
	fNodeOutput    = 2
	fNodeName      = 3
	fNodeOpType    = 4
	fNodeAttribute = 5
	fNodeDomain    = 7

	// AttributeProto
	fAttrName    = 1
	fAttrF       = 2
	fAttrI       = 3
	fAttrS       = 4
	fAttrT       = 5
	fAttrG       = 6
	fAttrFloats  = 7
	fAttrInts    = 8
	fAttrStrings = 9
	fAttrTensors = 10
	fAttrGraphs  = 11
	fAttrType    = 20
	fAttrRefName = 21

	// TensorProto
	fTensorDims         = 1
	fTensorDataType     = 2
	fTensorSegment      = 3
	fTensorFloatData    = 4
	fTensorInt32Data    = 5
	fTensorStringData   = 6
	fTensorInt64Data    = 7
	fTensorName         = 8
	fTensorRawData      = 9
	fTensorDoubleData   = 10
	fTensorUint64Data   = 11
	fTensorExternalData = 13
	fTensorDataLocation = 14

	// ValueInfoProto
	fValueName = 1
	fValueType = 2

	// TypeProto
	fTypeTensor = 1
	// TypeProto.Tensor
	fTensorTypeElem  = 1
	fTensorTypeShape = 2
	// TensorShapeProto
	fShapeDim = 1
	// TensorShapeProto.Dimension
	fDimValue = 1
	fDimParam = 2
)

// AttributeProto.AttributeType values.
const (
	attrUndefined = 0
	attrFloat     = 1
	attrInt       = 2
	attrString    = 3
	attrTensor    = 4
	attrGraph     = 5
	attrFloats    = 6
	attrInts      = 7
	attrStrings   = 8
	attrTensors   = 9
	attrGraphs    = 10
)

var attrTypeNames = map[int32]string{
	attrUndefined: "UNDEFINED", attrFloat: "FLOAT", attrInt: "INT", attrString: "STRING",
	attrTensor: "TENSOR", attrGraph: "GRAPH", attrFloats: "FLOATS", attrInts: "INTS",
	attrStrings: "STRINGS", attrTensors: "TENSORS", attrGraphs: "GRAPHS",
	11: "SPARSE_TENSOR", 12: "SPARSE_TENSORS", 13: "TYPE_PROTO", 14: "TYPE_PROTOS",
}

func attrTypeName(t int32) string {
	if s, ok := attrTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", t)
}

type graphProto struct {
	name         string
	nodes        []*nodeProto
	initializers []*tensorProto
	inputs       []*valueInfo
	outputs      []*valueInfo
	valueInfo    []*valueInfo
	sparseInits  int
}

type nodeProto struct {
	index   int // position in the graph
	inputs  []string
	outputs []string
	name    string
	opType  string
	domain  string
	attrs   []*attribute
}

type attribute struct {
	name    string
	typ     int32
	hasType bool
	f       float32
	i       int64
	s       []byte
	t       *tensorProto
	floats  []float32
	ints    []int64
	strings [][]byte
	nested  int    // count of graphs, tensors lists and other unsupported payloads
	refName string // ref_attr_name (only valid in functions)
}

type tensorProto struct {
	name       string
	dims       []int64
	dataType   int32
	floatData  []float32
	int32Data  []int32
	int64Data  []int64
	doubleData []float64
	uint64Data []uint64
	rawData    []byte
	hasRaw     bool
	strings    int  // count of string_data entries
	external   bool // data_location = EXTERNAL or external_data present
	segmented  bool
}

type dim struct {
	value int64
	param string
	known bool // dim_value was set
}

type valueInfo struct {
	name     string
	hasType  bool
	isTensor bool
	elemType int32
	hasShape bool
	dims     []dim
}

// wireErr formats a decoding error of the message named by what.
func wireErr(what string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, what, fmt.Sprintf(format, args...))
}

// field is one decoded field: for varint and fixed types, x holds the value;
// for bytes, b holds the payload (aliasing the input).
type field struct {
	num protowire.Number
	typ protowire.Type
	x   uint64
	b   []byte
}

// walk calls fn for each field of the message in b. Groups are skipped.
func walk(b []byte, what string, fn func(f field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return wireErr(what, "bad field tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.x = uint64(v)
		case protowire.Fixed64Type:
			f.x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return wireErr(what, "field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue // groups carry nothing we use
		}
		if n < 0 {
			return wireErr(what, "field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// Typed accessors; each checks the wire type of the field.

func (f field) varint(what, name string) (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, wireErr(what, "field %s (%d) has wire type %d, want varint", name, f.num, f.typ)
	}
	return f.x, nil
}

func (f field) int64(what, name string) (int64, error) {
	v, err := f.varint(what, name)
	return int64(v), err
}

// int32 decodes an int32 field: protobuf sign-extends negative int32s to 64 bits.
func (f field) int32(what, name string) (int32, error) {
	v, err := f.varint(what, name)
	if err != nil {
		return 0, err
	}
	if int64(v) < math.MinInt32 || int64(v) > math.MaxInt32 {
		return 0, wireErr(what, "field %s = %d overflows int32", name, int64(v))
	}
	return int32(v), nil
}

func (f field) bytes(what, name string) ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, wireErr(what, "field %s (%d) has wire type %d, want length-delimited", name, f.num, f.typ)
	}
	return f.b, nil
}

func (f field) str(what, name string) (string, error) {
	b, err := f.bytes(what, name)
	return string(b), err
}

func (f field) float32(what, name string) (float32, error) {
	if f.typ != protowire.Fixed32Type {
		return 0, wireErr(what, "field %s (%d) has wire type %d, want fixed32", name, f.num, f.typ)
	}
	return math.Float32frombits(uint32(f.x)), nil
}

// appendFloats appends a repeated float field, packed or not.
func (f field) appendFloats(dst []float32, what, name string) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.x))), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return nil, wireErr(what, "packed %s has %d bytes, not a multiple of 4", name, len(f.b))
		}
		dst = growCap(dst, len(f.b)/4)
		for b := f.b; len(b) > 0; b = b[4:] {
			dst = append(dst, math.Float32frombits(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24))
		}
		return dst, nil
	}
	return nil, wireErr(what, "field %s (%d) has wire type %d, want fixed32 or packed", name, f.num, f.typ)
}

// appendDoubles appends a repeated double field, packed or not.
func (f field) appendDoubles(dst []float64, what, name string) ([]float64, error) {
	switch f.typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(f.x)), nil
	case protowire.BytesType:
		if len(f.b)%8 != 0 {
			return nil, wireErr(what, "packed %s has %d bytes, not a multiple of 8", name, len(f.b))
		}
		dst = growCap(dst, len(f.b)/8)
		for b := f.b; len(b) > 0; b = b[8:] {
			v, _ := protowire.ConsumeFixed64(b)
			dst = append(dst, math.Float64frombits(v))
		}
		return dst, nil
	}
	return nil, wireErr(what, "field %s (%d) has wire type %d, want fixed64 or packed", name, f.num, f.typ)
}

// appendVarints appends a repeated varint field, packed or not, calling conv
// on each value.
func appendVarints[T any](dst []T, f field, what, name string, conv func(uint64) (T, bool)) ([]T, error) {
	add := func(v uint64) error {
		t, ok := conv(v)
		if !ok {
			return wireErr(what, "%s value %d is out of range", name, int64(v))
		}
		dst = append(dst, t)
		return nil
	}
	switch f.typ {
	case protowire.VarintType:
		if err := add(f.x); err != nil {
			return nil, err
		}
		return dst, nil
	case protowire.BytesType:
		// Each varint takes at least one byte; count them to size dst once.
		count := 0
		for _, c := range f.b {
			if c < 0x80 {
				count++
			}
		}
		dst = growCap(dst, count)
		for b := f.b; len(b) > 0; {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, wireErr(what, "packed %s: %v", name, protowire.ParseError(n))
			}
			b = b[n:]
			if err := add(v); err != nil {
				return nil, err
			}
		}
		return dst, nil
	}
	return nil, wireErr(what, "field %s (%d) has wire type %d, want varint or packed", name, f.num, f.typ)
}

func convInt64(v uint64) (int64, bool)   { return int64(v), true }
func convUint64(v uint64) (uint64, bool) { return v, true }
func convInt32(v uint64) (int32, bool) {
	x := int64(v)
	return int32(x), x >= math.MinInt32 && x <= math.MaxInt32
}

// growCap makes room for n more elements (n is bounded by the input size).
func growCap[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	ns := make([]T, len(s), len(s)+n)
	copy(ns, s)
	return ns
}
