// Package onnx loads ONNX models and runs them on the CPU with gorgonia.
//
// It owns three steps: Parse decodes an ONNX ModelProto (a hand-written
// protowire decoder of only the fields it needs, which never panics on bad
// input and never allocates more than the input's size); Compile checks every
// node and builds one gorgonia ExprGraph and TapeMachine per batch-size
// bucket, sharing one copy of the weights; and Program.Run executes a batch,
// padding it to the smallest bucket that holds it.
//
// Dimension 0 of every graph input and output is the batch dimension. Shapes
// are static per bucket, so shape computations (Shape, Gather, Concat, ...)
// are folded at compile time. FP32, FP64, the integer types and BOOL flow at
// run time (see tensor.go); most ops are Go kernels run by a gorgonia op
// (kernel.go), the heavy FP32 ones (Conv, Gemm, MatMul, pools) gorgonia and
// BLAS paths. CompileStatic compiles a graph at fixed shapes, without a
// batch dimension, for ONNX's conformance tests (cmd/onnx-conformance).
//
// A Program is not safe for concurrent use: callers serialise Run (one
// Program per worker). A Model is immutable after Parse and may be shared.
package onnx

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap one of them.
var (
	// ErrMalformed: the bytes are not a well-formed ONNX model.
	ErrMalformed = errors.New("onnx: malformed model")
	// ErrInvalid: the model is well-formed but inconsistent (a value used
	// before it is produced, shapes that do not match, ...).
	ErrInvalid = errors.New("onnx: invalid model")
	// ErrUnsupported: the model is valid but uses something this package
	// cannot run (an op, an attribute value, a datatype).
	ErrUnsupported = errors.New("onnx: unsupported")
	// ErrBadInput: the arguments of Run do not fit the program.
	ErrBadInput = errors.New("onnx: bad input")
	// ErrInternal: gorgonia failed or panicked.
	ErrInternal = errors.New("onnx: internal error")
)

// NodeError is an error about one node of the graph.
type NodeError struct {
	Node string // the node's name, or "#<index>" when it has none
	Op   string // its op_type
	Err  error
}

func (e *NodeError) Error() string { return fmt.Sprintf("node %q (%s): %v", e.Node, e.Op, e.Err) }
func (e *NodeError) Unwrap() error { return e.Err }

// Model is a parsed ONNX model.
type Model struct {
	irVersion int64
	opsets    map[string]int64 // by domain; "" is the default domain
	graph     *graphProto

	inits   map[string]*tensorProto
	inputs  []TensorInfo // graph inputs that are not initializers
	inVals  []*valueInfo
	outputs []TensorInfo
	outVals []*valueInfo
}

// TensorInfo describes a graph input or output. DataType is the KServe OIP v2
// name ("FP32", "FP64", "INT64", "INT32", "INT16", "INT8", "UINT8", "UINT16",
// "UINT32", "UINT64", "BOOL", "FP16", "BF16", "BYTES"). Shape: -1 for a
// symbolic or unknown dimension.
type TensorInfo struct {
	Name     string
	DataType string
	Shape    []int64
}

// ONNX TensorProto.DataType values.
const (
	dtFloat    = 1
	dtUint8    = 2
	dtInt8     = 3
	dtUint16   = 4
	dtInt16    = 5
	dtInt32    = 6
	dtInt64    = 7
	dtString   = 8
	dtBool     = 9
	dtFloat16  = 10
	dtDouble   = 11
	dtUint32   = 12
	dtUint64   = 13
	dtBfloat16 = 16
)

var oipNames = map[int32]string{
	dtFloat: "FP32", dtUint8: "UINT8", dtInt8: "INT8", dtUint16: "UINT16", dtInt16: "INT16",
	dtInt32: "INT32", dtInt64: "INT64", dtString: "BYTES", dtBool: "BOOL", dtFloat16: "FP16",
	dtDouble: "FP64", dtUint32: "UINT32", dtUint64: "UINT64", dtBfloat16: "BF16",
}

// dtypeName names an ONNX data type for messages.
func dtypeName(t int32) string {
	if s, ok := oipNames[t]; ok {
		return s
	}
	switch t {
	case 14:
		return "COMPLEX64"
	case 15:
		return "COMPLEX128"
	}
	return fmt.Sprintf("unknown datatype %d", t)
}

// Parse decodes an ONNX model. It does not keep a reference to data.
func Parse(data []byte) (*Model, error) {
	m, err := decodeModel(data)
	if err != nil {
		return nil, err
	}
	if err := m.index(); err != nil {
		return nil, err
	}
	return m, nil
}

// index validates the graph's interface and builds the lookup tables.
func (m *Model) index() error {
	g := m.graph
	m.inits = make(map[string]*tensorProto, len(g.initializers))
	for i, t := range g.initializers {
		if t.name == "" {
			return fmt.Errorf("%w: initializer #%d has no name", ErrMalformed, i)
		}
		if _, dup := m.inits[t.name]; dup {
			return fmt.Errorf("%w: initializer %q appears twice", ErrMalformed, t.name)
		}
		m.inits[t.name] = t
	}
	seen := map[string]bool{}
	for _, v := range g.inputs {
		if seen[v.name] {
			return fmt.Errorf("%w: graph input %q appears twice", ErrMalformed, v.name)
		}
		seen[v.name] = true
		if _, isInit := m.inits[v.name]; isInit {
			continue // a weight listed as an input (IR < 4 style)
		}
		info, err := tensorInfo("input", v)
		if err != nil {
			return err
		}
		m.inputs = append(m.inputs, info)
		m.inVals = append(m.inVals, v)
	}
	if len(g.outputs) == 0 {
		return fmt.Errorf("%w: the graph has no outputs", ErrMalformed)
	}
	for _, v := range g.outputs {
		info, err := tensorInfo("output", v)
		if err != nil {
			return err
		}
		m.outputs = append(m.outputs, info)
		m.outVals = append(m.outVals, v)
	}
	return nil
}

func tensorInfo(kind string, v *valueInfo) (TensorInfo, error) {
	if !v.hasType {
		return TensorInfo{}, fmt.Errorf("%w: graph %s %q has no type", ErrMalformed, kind, v.name)
	}
	if !v.isTensor {
		return TensorInfo{}, fmt.Errorf("%w: graph %s %q is not a tensor (sequences, maps and optionals are not supported)", ErrUnsupported, kind, v.name)
	}
	dt, ok := oipNames[v.elemType]
	if !ok {
		return TensorInfo{}, fmt.Errorf("%w: graph %s %q has %s", ErrUnsupported, kind, v.name, dtypeName(v.elemType))
	}
	info := TensorInfo{Name: v.name, DataType: dt}
	if v.hasShape {
		info.Shape = make([]int64, len(v.dims))
		for i, d := range v.dims {
			info.Shape[i] = -1
			if d.known {
				info.Shape[i] = d.value
			}
		}
	}
	return info, nil
}

// Inputs describes the graph inputs that are not initializers, in graph order.
func (m *Model) Inputs() []TensorInfo { return cloneInfos(m.inputs) }

// Outputs describes the graph outputs, in graph order.
func (m *Model) Outputs() []TensorInfo { return cloneInfos(m.outputs) }

// Opset is the version of the default ("" or "ai.onnx") operator set
// imported by the model, or 0 when it imports none.
func (m *Model) Opset() int64 { return m.opsets[""] }

// IRVersion is the model's ONNX IR version.
func (m *Model) IRVersion() int64 { return m.irVersion }

func cloneInfos(in []TensorInfo) []TensorInfo {
	out := make([]TensorInfo, len(in))
	for i, t := range in {
		t.Shape = append([]int64(nil), t.Shape...)
		out[i] = t
	}
	return out
}

// OpTypes lists the op of every node, in graph order; an op of another
// domain than the default is written domain:op.
func (m *Model) OpTypes() []string {
	out := make([]string, len(m.graph.nodes))
	for i, n := range m.graph.nodes {
		out[i] = n.opType
		if n.domain != "" && n.domain != "ai.onnx" {
			out[i] = n.domain + ":" + n.opType
		}
	}
	return out
}
