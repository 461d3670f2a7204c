package wire

import (
	"fmt"
	"math"
	"math/bits"
)

// DataType is a tensor element type, named as in the KServe Open Inference
// Protocol v2. The numeric values are wire-stable: they appear in ZeroMQ
// frames (see docs/protocol.md).
type DataType uint8

// Element types. TypeInvalid (0) is never valid on the wire.
const (
	TypeInvalid DataType = iota
	TypeBool             // BOOL: one byte, 0 or 1
	TypeUint8            // UINT8
	TypeUint16           // UINT16
	TypeUint32           // UINT32
	TypeUint64           // UINT64
	TypeInt8             // INT8
	TypeInt16            // INT16
	TypeInt32            // INT32
	TypeInt64            // INT64
	TypeFP16             // FP16: IEEE half, binary transport only
	TypeFP32             // FP32
	TypeFP64             // FP64
	TypeBF16             // BF16: bfloat16, binary transport only
	numTypes
)

var typeNames = [numTypes]string{"", "BOOL", "UINT8", "UINT16", "UINT32", "UINT64",
	"INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BF16"}

var typeSizes = [numTypes]int{0, 1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 2}

// String returns the OIP v2 name ("FP32"), or "INVALID(n)".
func (d DataType) String() string {
	if d.Valid() {
		return typeNames[d]
	}
	return fmt.Sprintf("INVALID(%d)", uint8(d))
}

// Valid reports whether d is a known element type.
func (d DataType) Valid() bool { return d > TypeInvalid && d < numTypes }

// Size is the size of one element in bytes (0 for an invalid type).
func (d DataType) Size() int {
	if d.Valid() {
		return typeSizes[d]
	}
	return 0
}

// ParseDataType maps an OIP v2 datatype name ("FP32") to its DataType.
// Names are case-sensitive, as in the protocol.
func ParseDataType(name string) (DataType, bool) {
	for i := TypeBool; i < numTypes; i++ {
		if typeNames[i] == name {
			return i, true
		}
	}
	return TypeInvalid, false
}

// MaxRank bounds the number of dimensions of any tensor on any path.
const MaxRank = 16

// Tensor is a named, typed, shaped block of elements. Data holds the
// elements in row-major order, little-endian, without padding: its length is
// NumElements(Shape) * DataType.Size().
type Tensor struct {
	Name     string
	DataType DataType
	Shape    []int64
	Data     []byte
}

// ByteSize returns the number of data bytes the tensor's shape and datatype
// call for. It fails (naming the reason) for a negative dimension, a rank
// above MaxRank, or a size that does not fit in limit bytes; limit <= 0
// means math.MaxInt64.
func ByteSize(dt DataType, shape []int64, limit int64) (int64, error) {
	if !dt.Valid() {
		return 0, fmt.Errorf("invalid datatype %v", dt)
	}
	if limit <= 0 {
		limit = math.MaxInt64
	}
	if len(shape) > MaxRank {
		return 0, fmt.Errorf("shape %v has %d dimensions, more than the %d allowed", shape, len(shape), MaxRank)
	}
	n := uint64(dt.Size())
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > uint64(limit) {
			return 0, fmt.Errorf("shape %v of %v exceeds the maximum size of %d bytes", shape, dt, limit)
		}
		n = lo
	}
	if n > uint64(limit) {
		return 0, fmt.Errorf("shape %v of %v exceeds the maximum size of %d bytes", shape, dt, limit)
	}
	return int64(n), nil
}

// NumElements is the product of the dimensions of shape; shapes must
// already be validated by ByteSize.
func NumElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// TensorSpec describes a model input or output: -1 marks a variable
// dimension (the batch dimension first, for batching models).
type TensorSpec struct {
	Name     string
	DataType DataType
	Shape    []int64
}

// ModelMetadata is what the frontend knows of a served model.
type ModelMetadata struct {
	Name         string
	Version      string // the served version
	Versions     []string
	Platform     string // e.g. "onnx_onnxv1"
	Inputs       []TensorSpec
	Outputs      []TensorSpec
	MaxBatchSize int // largest batch dimension a request or batch may have
}
