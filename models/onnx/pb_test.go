package onnx

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A tiny ONNX encoder for hand-built test models. Field numbers are those of
// proto.go; each helper returns an encoded message.

type pb []byte

func (p pb) varint(num protowire.Number, v uint64) pb {
	p = protowire.AppendTag(p, num, protowire.VarintType)
	return protowire.AppendVarint(p, v)
}

func (p pb) bytes(num protowire.Number, b []byte) pb {
	p = protowire.AppendTag(p, num, protowire.BytesType)
	return protowire.AppendBytes(p, b)
}

func (p pb) str(num protowire.Number, s string) pb { return p.bytes(num, []byte(s)) }

func (p pb) fixed32(num protowire.Number, v uint32) pb {
	p = protowire.AppendTag(p, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(p, v)
}

func (p pb) packed(num protowire.Number, vs []int64) pb {
	var body []byte
	for _, v := range vs {
		body = protowire.AppendVarint(body, uint64(v))
	}
	return p.bytes(num, body)
}

// Attributes.

func attrI(name string, v int64) []byte {
	return pb(nil).str(fAttrName, name).varint(fAttrType, attrInt).varint(fAttrI, uint64(v))
}

func attrF(name string, v float32) []byte {
	return pb(nil).str(fAttrName, name).varint(fAttrType, attrFloat).fixed32(fAttrF, math.Float32bits(v))
}

func attrIs(name string, vs ...int64) []byte {
	return pb(nil).str(fAttrName, name).varint(fAttrType, attrInts).packed(fAttrInts, vs)
}

func attrS(name, v string) []byte {
	return pb(nil).str(fAttrName, name).varint(fAttrType, attrString).str(fAttrS, v)
}

func attrT(name string, t []byte) []byte {
	return pb(nil).str(fAttrName, name).varint(fAttrType, attrTensor).bytes(fAttrT, t)
}

// Tensors.

// floatTensor encodes an FP32 tensor as raw_data.
func floatTensor(name string, dims []int64, data []float32) []byte {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return pb(nil).str(fTensorName, name).packed(fTensorDims, dims).varint(fTensorDataType, dtFloat).bytes(fTensorRawData, raw)
}

// int64Tensor encodes an INT64 tensor as int64_data.
func int64Tensor(name string, dims []int64, data []int64) []byte {
	return pb(nil).str(fTensorName, name).packed(fTensorDims, dims).varint(fTensorDataType, dtInt64).packed(fTensorInt64Data, data)
}

// node encodes a NodeProto.
func node(name, op string, in, out []string, attrs ...[]byte) []byte {
	p := pb(nil)
	for _, s := range in {
		p = p.str(fNodeInput, s)
	}
	for _, s := range out {
		p = p.str(fNodeOutput, s)
	}
	if name != "" {
		p = p.str(fNodeName, name)
	}
	p = p.str(fNodeOpType, op)
	for _, a := range attrs {
		p = p.bytes(fNodeAttribute, a)
	}
	return p
}

// valueInfo encodes a tensor ValueInfoProto; a dim is an int (dim_value) or
// a string (dim_param).
func valueInfoPB(name string, elem int32, dims ...any) []byte {
	shape := pb(nil)
	for _, d := range dims {
		var dp pb
		switch d := d.(type) {
		case int:
			dp = dp.varint(fDimValue, uint64(d))
		case string:
			dp = dp.str(fDimParam, d)
		}
		shape = shape.bytes(fShapeDim, dp)
	}
	tt := pb(nil).varint(fTensorTypeElem, uint64(elem)).bytes(fTensorTypeShape, shape)
	typ := pb(nil).bytes(fTypeTensor, tt)
	return pb(nil).str(fValueName, name).bytes(fValueType, typ)
}

// graphSpec is a test model.
type graphSpec struct {
	opset   int64
	nodes   [][]byte
	inits   [][]byte
	inputs  [][]byte
	outputs [][]byte
}

func (g graphSpec) encode() []byte {
	gp := pb(nil).str(fGraphName, "test")
	for _, n := range g.nodes {
		gp = gp.bytes(fGraphNode, n)
	}
	for _, t := range g.inits {
		gp = gp.bytes(fGraphInitializer, t)
	}
	for _, v := range g.inputs {
		gp = gp.bytes(fGraphInput, v)
	}
	for _, v := range g.outputs {
		gp = gp.bytes(fGraphOutput, v)
	}
	opset := g.opset
	if opset == 0 {
		opset = 13
	}
	op := pb(nil).str(fOpsetDomain, "").varint(fOpsetVersion, uint64(opset))
	return pb(nil).varint(fModelIRVersion, 7).bytes(fModelOpsetImport, op).bytes(fModelGraph, gp)
}

// unaryGraph is x (batch, 4) -> nodes -> y, where the nodes read "x" and
// write "y".
func unaryGraph(nodes ...[]byte) graphSpec {
	return graphSpec{
		nodes:   nodes,
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
	}
}
