package onnx

import "slices"

// opTable lists the supported ops of the default domain: how to build each,
// the attributes it accepts (any other is refused) and its arity.
var opTable = map[string]opSpec{
	"Gemm":              {fn: opGemm, attrs: []string{"alpha", "beta", "transA", "transB"}, minIn: 2, maxIn: 3, maxOut: 1},
	"MatMul":            {fn: opMatMul, minIn: 2, maxIn: 2, maxOut: 1},
	"Add":               {fn: opBinary, attrs: []string{"broadcast", "axis"}, minIn: 2, maxIn: 2, maxOut: 1},
	"Sub":               {fn: opBinary, attrs: []string{"broadcast", "axis"}, minIn: 2, maxIn: 2, maxOut: 1},
	"Mul":               {fn: opBinary, attrs: []string{"broadcast", "axis"}, minIn: 2, maxIn: 2, maxOut: 1},
	"Div":               {fn: opBinary, attrs: []string{"broadcast", "axis"}, minIn: 2, maxIn: 2, maxOut: 1},
	"Flatten":           {fn: opFlatten, attrs: []string{"axis"}, minIn: 1, maxIn: 1, maxOut: 1},
	"Reshape":           {fn: opReshape, attrs: []string{"allowzero"}, minIn: 2, maxIn: 2, maxOut: 1},
	"Identity":          {fn: opIdentity, minIn: 1, maxIn: 1, maxOut: 1},
	"Dropout":           {fn: opDropout, attrs: []string{"ratio", "seed", "is_test"}, minIn: 1, maxIn: 3, maxOut: 2},
	"Shape":             {fn: opShape, attrs: []string{"start", "end"}, minIn: 1, maxIn: 1, maxOut: 1},
	"Unsqueeze":         {fn: opUnsqueeze, attrs: []string{"axes"}, minIn: 1, maxIn: 2, maxOut: 1},
	"Squeeze":           {fn: opSqueeze, attrs: []string{"axes"}, minIn: 1, maxIn: 2, maxOut: 1},
	"Cast":              {fn: opCast, attrs: []string{"to", "saturate"}, minIn: 1, maxIn: 1, maxOut: 1},
	"Constant":          {fn: opConstant, attrs: []string{"value", "value_float", "value_floats", "value_int", "value_ints"}, minIn: 0, maxIn: 0, maxOut: 1},
	"Conv":              {fn: opConv, attrs: []string{"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}, minIn: 2, maxIn: 3, maxOut: 1},
	"MaxPool":           {fn: opMaxPool, attrs: []string{"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}, minIn: 1, maxIn: 1, maxOut: 2},
	"AveragePool":       {fn: opAveragePool, attrs: []string{"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}, minIn: 1, maxIn: 1, maxOut: 1},
	"GlobalAveragePool": {fn: opGlobalPool, minIn: 1, maxIn: 1, maxOut: 1},
}

// SupportedOps returns the names of the ops Compile accepts.
func SupportedOps() []string {
	out := make([]string, 0, len(opTable))
	for name := range opTable {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}
