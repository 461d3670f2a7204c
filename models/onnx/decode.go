package onnx

import (
	"bytes"
	"fmt"
)

// decodeModel decodes a ModelProto.
func decodeModel(b []byte) (*Model, error) {
	m := &Model{opsets: map[string]int64{}}
	var graph []byte
	hasGraph := false
	err := walk(b, "ModelProto", func(f field) error {
		var err error
		switch f.num {
		case fModelIRVersion:
			m.irVersion, err = f.int64("ModelProto", "ir_version")
		case fModelOpsetImport:
			var p []byte
			if p, err = f.bytes("ModelProto", "opset_import"); err == nil {
				err = m.decodeOpset(p)
			}
		case fModelGraph:
			// A repeated occurrence of a message field merges; ONNX writers
			// never split the graph, so keep the last and say so if there
			// were several.
			if hasGraph {
				return wireErr("ModelProto", "graph appears more than once")
			}
			graph, err = f.bytes("ModelProto", "graph")
			hasGraph = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !hasGraph {
		return nil, wireErr("ModelProto", "no graph")
	}
	g, err := decodeGraph(graph)
	if err != nil {
		return nil, err
	}
	m.graph = g
	return m, nil
}

func (m *Model) decodeOpset(b []byte) error {
	const what = "ModelProto.opset_import"
	var domain string
	var version int64
	err := walk(b, what, func(f field) error {
		var err error
		switch f.num {
		case fOpsetDomain:
			domain, err = f.str(what, "domain")
		case fOpsetVersion:
			version, err = f.int64(what, "version")
		}
		return err
	})
	if err != nil {
		return err
	}
	if domain == "ai.onnx" {
		domain = ""
	}
	if _, dup := m.opsets[domain]; dup {
		return wireErr(what, "domain %q is imported twice", domain)
	}
	m.opsets[domain] = version
	return nil
}

func decodeGraph(b []byte) (*graphProto, error) {
	const what = "GraphProto"
	g := &graphProto{}
	err := walk(b, what, func(f field) error {
		var p []byte
		var err error
		switch f.num {
		case fGraphName:
			g.name, err = f.str(what, "name")
			return err
		case fGraphSparseInit:
			g.sparseInits++
			return nil
		case fGraphNode, fGraphInitializer, fGraphInput, fGraphOutput, fGraphValueInfo:
		default:
			return nil
		}
		if p, err = f.bytes(what, "field"); err != nil {
			return err
		}
		switch f.num {
		case fGraphNode:
			var n *nodeProto
			if n, err = decodeNode(p, len(g.nodes)); err == nil {
				g.nodes = append(g.nodes, n)
			}
		case fGraphInitializer:
			var t *tensorProto
			if t, err = decodeTensor(p, fmt.Sprintf("initializer #%d", len(g.initializers))); err == nil {
				g.initializers = append(g.initializers, t)
			}
		case fGraphInput, fGraphOutput, fGraphValueInfo:
			var v *valueInfo
			if v, err = decodeValueInfo(p); err != nil {
				return err
			}
			switch f.num {
			case fGraphInput:
				g.inputs = append(g.inputs, v)
			case fGraphOutput:
				g.outputs = append(g.outputs, v)
			default:
				g.valueInfo = append(g.valueInfo, v)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func decodeNode(b []byte, index int) (*nodeProto, error) {
	what := fmt.Sprintf("node #%d", index)
	n := &nodeProto{index: index}
	err := walk(b, what, func(f field) error {
		var err error
		var s string
		switch f.num {
		case fNodeInput:
			if s, err = f.str(what, "input"); err == nil {
				n.inputs = append(n.inputs, s)
			}
		case fNodeOutput:
			if s, err = f.str(what, "output"); err == nil {
				n.outputs = append(n.outputs, s)
			}
		case fNodeName:
			n.name, err = f.str(what, "name")
		case fNodeOpType:
			n.opType, err = f.str(what, "op_type")
		case fNodeDomain:
			n.domain, err = f.str(what, "domain")
		case fNodeAttribute:
			var p []byte
			if p, err = f.bytes(what, "attribute"); err != nil {
				return err
			}
			var a *attribute
			if a, err = decodeAttr(p, what); err == nil {
				n.attrs = append(n.attrs, a)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if n.name != "" {
		what = fmt.Sprintf("node %q", n.name)
	}
	if n.opType == "" {
		return nil, wireErr(what, "no op_type")
	}
	return n, nil
}

func decodeAttr(b []byte, node string) (*attribute, error) {
	what := node + " attribute"
	a := &attribute{}
	err := walk(b, what, func(f field) error {
		var err error
		switch f.num {
		case fAttrName:
			a.name, err = f.str(what, "name")
		case fAttrType:
			a.typ, err = f.int32(what, "type")
			a.hasType = true
		case fAttrF:
			a.f, err = f.float32(what, "f")
		case fAttrI:
			a.i, err = f.int64(what, "i")
		case fAttrS:
			var s []byte
			if s, err = f.bytes(what, "s"); err == nil {
				a.s = bytes.Clone(s)
			}
		case fAttrT:
			var p []byte
			if p, err = f.bytes(what, "t"); err == nil {
				a.t, err = decodeTensor(p, what+" tensor")
			}
		case fAttrFloats:
			a.floats, err = f.appendFloats(a.floats, what, "floats")
		case fAttrInts:
			a.ints, err = appendVarints(a.ints, f, what, "ints", convInt64)
		case fAttrStrings:
			var s []byte
			if s, err = f.bytes(what, "strings"); err == nil {
				a.strings = append(a.strings, bytes.Clone(s))
			}
		case fAttrG, fAttrTensors, fAttrGraphs, 22, 23, 14, 15:
			a.nested++
		case fAttrRefName:
			a.refName, err = f.str(what, "ref_attr_name")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if a.name == "" {
		return nil, wireErr(what, "attribute without a name")
	}
	return a, nil
}

func decodeTensor(b []byte, what string) (*tensorProto, error) {
	t := &tensorProto{}
	err := walk(b, what, func(f field) error {
		var err error
		switch f.num {
		case fTensorDims:
			t.dims, err = appendVarints(t.dims, f, what, "dims", convInt64)
		case fTensorDataType:
			t.dataType, err = f.int32(what, "data_type")
		case fTensorSegment:
			t.segmented = true
		case fTensorFloatData:
			t.floatData, err = f.appendFloats(t.floatData, what, "float_data")
		case fTensorInt32Data:
			t.int32Data, err = appendVarints(t.int32Data, f, what, "int32_data", convInt32)
		case fTensorStringData:
			t.strings++
		case fTensorInt64Data:
			t.int64Data, err = appendVarints(t.int64Data, f, what, "int64_data", convInt64)
		case fTensorName:
			t.name, err = f.str(what, "name")
			if err == nil && t.name != "" {
				what = fmt.Sprintf("tensor %q", t.name)
			}
		case fTensorRawData:
			var p []byte
			if p, err = f.bytes(what, "raw_data"); err == nil {
				t.rawData = bytes.Clone(p)
				t.hasRaw = true
			}
		case fTensorDoubleData:
			t.doubleData, err = f.appendDoubles(t.doubleData, what, "double_data")
		case fTensorUint64Data:
			t.uint64Data, err = appendVarints(t.uint64Data, f, what, "uint64_data", convUint64)
		case fTensorExternalData:
			t.external = true
		case fTensorDataLocation:
			var v int64
			if v, err = f.int64(what, "data_location"); err == nil && v != 0 {
				t.external = true
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, d := range t.dims {
		if d < 0 {
			return nil, wireErr(what, "negative dimension in %v", t.dims)
		}
	}
	return t, nil
}

func decodeValueInfo(b []byte) (*valueInfo, error) {
	what := "ValueInfoProto"
	v := &valueInfo{}
	var typ []byte
	err := walk(b, what, func(f field) error {
		var err error
		switch f.num {
		case fValueName:
			v.name, err = f.str(what, "name")
		case fValueType:
			typ, err = f.bytes(what, "type")
			v.hasType = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.name == "" {
		return nil, wireErr(what, "value without a name")
	}
	what = fmt.Sprintf("value %q", v.name)
	if !v.hasType {
		return v, nil
	}
	// TypeProto: only tensor_type is decoded.
	var tensorType []byte
	err = walk(typ, what+" type", func(f field) error {
		var err error
		if f.num == fTypeTensor {
			tensorType, err = f.bytes(what, "tensor_type")
			v.isTensor = true
		}
		return err
	})
	if err != nil || !v.isTensor {
		return v, err
	}
	var shape []byte
	err = walk(tensorType, what+" tensor type", func(f field) error {
		var err error
		switch f.num {
		case fTensorTypeElem:
			v.elemType, err = f.int32(what, "elem_type")
		case fTensorTypeShape:
			shape, err = f.bytes(what, "shape")
			v.hasShape = true
		}
		return err
	})
	if err != nil || !v.hasShape {
		return v, err
	}
	err = walk(shape, what+" shape", func(f field) error {
		if f.num != fShapeDim {
			return nil
		}
		p, err := f.bytes(what, "dim")
		if err != nil {
			return err
		}
		var d dim
		err = walk(p, what+" dim", func(f field) error {
			var err error
			switch f.num {
			case fDimValue:
				d.value, err = f.int64(what, "dim_value")
				d.known = true
				d.param = ""
			case fDimParam:
				d.param, err = f.str(what, "dim_param")
				d.known = false
			}
			return err
		})
		if err != nil {
			return err
		}
		if d.known && d.value < 0 {
			return wireErr(what, "negative dimension %d", d.value)
		}
		v.dims = append(v.dims, d)
		return nil
	})
	return v, err
}
