package onnx

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func compileSpec(t *testing.T, g graphSpec, buckets ...int) (*Program, error) {
	t.Helper()
	m, err := Parse(g.encode())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(buckets) == 0 {
		buckets = []int{1, 2}
	}
	return Compile(m, Options{Buckets: buckets})
}

// convGraph is x (batch, 2, 6, 6) -> Conv "Conv_3" with weights (4, 2, 3, 3)
// -> y, with the given attributes.
func convGraph(attrs ...[]byte) graphSpec {
	w := make([]float32, 4*2*3*3)
	return graphSpec{
		nodes:   [][]byte{node("Conv_3", "Conv", []string{"x", "w"}, []string{"y"}, attrs...)},
		inits:   [][]byte{floatTensor("w", []int64{4, 2, 3, 3}, w)},
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 2, 6, 6)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4, 4, 4)},
	}
}

func poolGraph(op string, attrs ...[]byte) graphSpec {
	return graphSpec{
		nodes:   [][]byte{node("pool", op, []string{"x"}, []string{"y"}, attrs...)},
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 2, 6, 6)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 2, 3, 3)},
	}
}

// TestRefusals checks that what cannot run is refused at Compile with an
// error naming the node, its op and the reason.
func TestRefusals(t *testing.T) {
	gemmInits := [][]byte{floatTensor("w", []int64{4, 4}, make([]float32, 16))}
	tests := []struct {
		name   string
		g      graphSpec
		node   string // `node "<name>" (<op>)`
		reason string
		kind   error
	}{
		{"unsupported op", unaryGraph(node("lstm_1", "LSTM", []string{"x"}, []string{"y"})),
			`node "lstm_1" (LSTM)`, "op LSTM is not supported", ErrUnsupported},
		{"unnamed node", unaryGraph(node("", "Unique", []string{"x"}, []string{"y"})),
			`node "#0" (Unique)`, "op Unique is not supported", ErrUnsupported},
		{"foreign domain", unaryGraph(append(node("q", "Relu", []string{"x"}, []string{"y"}), pb(nil).str(fNodeDomain, "com.microsoft")...)),
			`node "q" (Relu)`, `domain "com.microsoft" is not supported`, ErrUnsupported},
		{"kernel_shape mismatch", convGraph(attrIs("kernel_shape", 5, 5)),
			`node "Conv_3" (Conv)`, "kernel_shape=[5 5] does not match", ErrInvalid},
		{"strides of zero", convGraph(attrIs("strides", 0, 1)),
			`node "Conv_3" (Conv)`, "strides=[0 1]: values must be >= 1", ErrInvalid},
		{"unknown attribute", unaryGraph(node("r", "Relu", []string{"x"}, []string{"y"}, attrI("alpha", 1))),
			`node "r" (Relu)`, `attribute "alpha" is not supported`, ErrUnsupported},
		{"attribute of the wrong type", graphSpec{
			nodes:   [][]byte{node("fc", "Gemm", []string{"x", "w"}, []string{"y"}, attrI("alpha", 2))},
			inits:   gemmInits,
			inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
		}, `node "fc" (Gemm)`, `attribute "alpha" has type INT, want FLOAT`, ErrInvalid},
		{"bad transB", graphSpec{
			nodes:   [][]byte{node("fc", "Gemm", []string{"x", "w"}, []string{"y"}, attrI("transB", 2))},
			inits:   gemmInits,
			inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
		}, `node "fc" (Gemm)`, "transB=2", ErrInvalid},
		{"shapes that do not multiply", graphSpec{
			nodes:   [][]byte{node("fc", "Gemm", []string{"x", "w"}, []string{"y"})},
			inits:   [][]byte{floatTensor("w", []int64{3, 4}, make([]float32, 12))},
			inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
		}, `node "fc" (Gemm)`, "do not multiply", ErrInvalid},
		{"cast to unknown datatype", unaryGraph(node("c", "Cast", []string{"x"}, []string{"y"}, attrI("to", 99))),
			`node "c" (Cast)`, "cast to unknown datatype 99 is not supported", ErrUnsupported},
		{"cast to FP16", unaryGraph(node("c", "Cast", []string{"x"}, []string{"y"}, attrI("to", dtFloat16))),
			`node "c" (Cast)`, "cast to FP16 is not supported", ErrUnsupported},
		{"constant of unknown datatype", unaryGraph(
			node("k", "Constant", nil, []string{"k"}, attrT("value", pb(nil).packed(fTensorDims, []int64{1}).varint(fTensorDataType, 99).bytes(fTensorRawData, []byte{0}))),
			node("a", "Add", []string{"x", "k"}, []string{"y"})),
			`node "k" (Constant)`, "unknown datatype 99", ErrUnsupported},
		{"constant of FP16", unaryGraph(
			node("k", "Constant", nil, []string{"k"}, attrT("value", pb(nil).packed(fTensorDims, []int64{1}).varint(fTensorDataType, dtFloat16).bytes(fTensorRawData, []byte{0, 0}))),
			node("a", "Add", []string{"x", "k"}, []string{"y"})),
			`node "k" (Constant)`, "datatype FP16", ErrUnsupported},
		{"int constant in float math", unaryGraph(
			node("k", "Constant", nil, []string{"k"}, attrT("value", int64Tensor("", []int64{4}, []int64{1, 2, 3, 4}))),
			node("a", "Add", []string{"x", "k"}, []string{"y"})),
			`node "a" (Add)`, "operands are FP32 and INT64", ErrInvalid},
		{"no kernel_shape", poolGraph("MaxPool"),
			`node "pool" (MaxPool)`, "kernel_shape is missing", ErrInvalid},
		{"too many inputs", unaryGraph(node("r", "Relu", []string{"x", "x"}, []string{"y"})),
			`node "r" (Relu)`, "has 2 inputs, want 1", ErrInvalid},
		{"use before definition", unaryGraph(node("r", "Relu", []string{"z"}, []string{"y"})),
			`node "r" (Relu)`, `value "z" is used before it is produced`, ErrInvalid},
		{"training dropout", unaryGraph(
			node("t", "Constant", nil, []string{"t"}, attrT("value", pb(nil).varint(fTensorDataType, dtBool).bytes(fTensorRawData, []byte{1}))),
			node("d", "Dropout", []string{"x", "", "t"}, []string{"y"})),
			`node "d" (Dropout)`, "training_mode=true is not supported", ErrUnsupported},
		{"reshape to a bad size", unaryGraph(
			node("s", "Constant", nil, []string{"s"}, attrT("value", int64Tensor("", []int64{2}, []int64{-1, 3}))),
			node("rs", "Reshape", []string{"x", "s"}, []string{"y"})),
			`node "rs" (Reshape)`, "cannot reshape", ErrInvalid},
		{"gather out of range", unaryGraph(
			node("sh", "Shape", []string{"x"}, []string{"sh"}),
			node("i", "Constant", nil, []string{"i"}, attrT("value", int64Tensor("", nil, []int64{5}))),
			node("g", "Gather", []string{"sh", "i"}, []string{"y"})),
			`node "g" (Gather)`, "index 5 is out of range", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compileSpec(t, tt.g)
			if err == nil {
				t.Fatalf("Compile succeeded, want an error about %s", tt.node)
			}
			if p != nil {
				t.Error("Compile returned a Program with its error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.node) || !strings.Contains(msg, tt.reason) {
				t.Errorf("error %q does not name %s and %q", msg, tt.node, tt.reason)
			}
			var ne *NodeError
			if !errors.As(err, &ne) {
				t.Errorf("error %q is not a *NodeError", msg)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %q does not wrap %v", msg, tt.kind)
			}
		})
	}
}

// The example of the package's brief, verbatim.
func TestRefusalMessage(t *testing.T) {
	_, err := compileSpec(t, convGraph(attrI("group", 2)))
	if err == nil || err.Error() != `node "Conv_3" (Conv): weights [4 2 3 3] do not fit 2 input channels in 2 groups` {
		t.Errorf("got %v", err)
	}
}

func TestGraphRefusals(t *testing.T) {
	tests := []struct {
		name, want string
		g          graphSpec
		buckets    []int
	}{
		{"FP16 input", `input "x" is FP16`, graphSpec{
			nodes:   [][]byte{node("c", "Cast", []string{"x"}, []string{"y"}, attrI("to", dtFloat))},
			inputs:  [][]byte{valueInfoPB("x", dtFloat16, "batch", 4)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
		}, nil},
		{"symbolic row dimension", `input "x": dimension 1 must be static`, graphSpec{
			nodes:   [][]byte{node("r", "Relu", []string{"x"}, []string{"y"})},
			inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", "n")},
			outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", "n")},
		}, nil},
		{"fixed batch", `fixed batch dimension 1`, graphSpec{
			nodes:   [][]byte{node("r", "Relu", []string{"x"}, []string{"y"})},
			inputs:  [][]byte{valueInfoPB("x", dtFloat, 1, 4)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, 1, 4)},
		}, nil},
		{"missing output", `value "z" is used before it is produced`, graphSpec{
			nodes:   [][]byte{node("r", "Relu", []string{"x"}, []string{"y"})},
			inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
			outputs: [][]byte{valueInfoPB("z", dtFloat, "batch", 4)},
		}, nil},
		{"output without batch", `dimension 0 must be the batch`, unaryGraph(
			node("t", "Transpose", []string{"x"}, []string{"y"})), nil},
		{"opset", `opset 22 is not supported`, graphSpec{
			opset:   22,
			nodes:   [][]byte{node("r", "Relu", []string{"x"}, []string{"y"})},
			inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
		}, nil},
		{"no buckets", "Buckets is empty", unaryGraph(node("r", "Relu", []string{"x"}, []string{"y"})), []int{}},
		{"zero bucket", "bucket 0 is out of range", unaryGraph(node("r", "Relu", []string{"x"}, []string{"y"})), []int{0, 1}},
		{"unsorted buckets", "not strictly ascending", unaryGraph(node("r", "Relu", []string{"x"}, []string{"y"})), []int{4, 2}},
		{"bad initializer", `initializer "w": tensor "w": raw_data holds 8 bytes`, graphSpec{
			nodes:   [][]byte{node("fc", "MatMul", []string{"x", "w"}, []string{"y"})},
			inits:   [][]byte{floatTensor("w", []int64{4, 4}, []float32{1, 2})},
			inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.g.encode())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			buckets := tt.buckets
			if buckets == nil {
				buckets = []int{1, 2}
			}
			_, err = Compile(m, Options{Buckets: buckets})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestWeightsSurviveRuns builds graphs where a weight is the operand that
// gorgonia's elementwise ops overwrite in place, and checks that repeated
// runs give the same, correct results.
func TestWeightsSurviveRuns(t *testing.T) {
	w := []float32{1, -2, 3, -4, 5, -6, 7, -8}
	winit := floatTensor("w", []int64{2, 4}, w)
	x := []float32{0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4}
	tests := []struct {
		name  string
		nodes [][]byte
		want  func(i int) float32
	}{
		{"w-x", [][]byte{node("s", "Sub", []string{"w", "x"}, []string{"y"})},
			func(i int) float32 { return w[i] - x[i] }},
		{"w/x", [][]byte{node("d", "Div", []string{"w", "x"}, []string{"y"})},
			func(i int) float32 { return w[i] / x[i] }},
		{"w*x", [][]byte{node("m", "Mul", []string{"w", "x"}, []string{"y"})},
			func(i int) float32 { return w[i] * x[i] }},
		{"relu(w)+x", [][]byte{
			node("r", "Relu", []string{"w"}, []string{"rw"}),
			node("a", "Add", []string{"rw", "x"}, []string{"y"})},
			func(i int) float32 { return max(w[i], 0) + x[i] }},
		{"sigmoid(w)-x", [][]byte{
			node("s", "Sigmoid", []string{"w"}, []string{"sw"}),
			node("a", "Sub", []string{"sw", "x"}, []string{"y"})},
			func(i int) float32 { return float32(1/(1+math.Exp(-float64(w[i])))) - x[i] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := graphSpec{
				nodes:   tt.nodes,
				inits:   [][]byte{winit},
				inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4)},
				outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 4)},
			}
			p, err := compileSpec(t, g, 2)
			if err != nil {
				t.Fatal(err)
			}
			for run := 0; run < 3; run++ {
				outs, _, err := p.Run(2, [][]byte{f32Bytes(x)})
				if err != nil {
					t.Fatal(err)
				}
				got := bytesF32(outs[0])
				for i, v := range got {
					if math.Abs(float64(v-tt.want(i))) > 1e-6 {
						t.Fatalf("run %d: y[%d] = %v, want %v", run, i, v, tt.want(i))
					}
				}
			}
		})
	}
}

func TestRunChecksInputs(t *testing.T) {
	p, err := compileSpec(t, unaryGraph(node("r", "Relu", []string{"x"}, []string{"y"})), 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]byte, 16)
	for _, tc := range []struct {
		n      int
		inputs [][]byte
		want   string
	}{
		{0, [][]byte{nil}, "batch of 0 rows"},
		{5, [][]byte{make([]byte, 80)}, "batch of 5 rows"},
		{1, nil, "0 inputs given"},
		{1, [][]byte{row, row}, "2 inputs given"},
		{2, [][]byte{row}, `input "x": 16 bytes, want 32`},
	} {
		_, _, err := p.Run(tc.n, tc.inputs)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadInput) {
			t.Errorf("Run(%d, %d inputs): got %v, want %q", tc.n, len(tc.inputs), err, tc.want)
		}
	}
	// RunInto checks the inputs alike, and its output buffers.
	for _, tc := range []struct {
		n       int
		inputs  [][]byte
		outputs [][]byte
		want    string
	}{
		{2, [][]byte{row}, [][]byte{make([]byte, 32)}, `input "x": 16 bytes, want 32`},
		{1, [][]byte{row}, nil, "0 output buffers given, the model has 1"},
		{1, [][]byte{row}, [][]byte{make([]byte, 15)}, `output "y": buffer of 15 bytes, want 16`},
		{2, [][]byte{f32Bytes(make([]float32, 8))}, [][]byte{row}, `output "y": buffer of 16 bytes, want 32`},
	} {
		err := p.RunInto(tc.n, tc.inputs, tc.outputs)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadInput) {
			t.Errorf("RunInto(%d, %d inputs, %d outputs): got %v, want %q", tc.n, len(tc.inputs), len(tc.outputs), err, tc.want)
		}
	}
	// Padding rows must not leak into results: run 3 rows after 1.
	x := []float32{-1, 2, -3, 4, 5, -6, 7, -8, 9, 10, -11, 12}
	for _, n := range []int{3, 1, 3} {
		outs, shapes, err := p.Run(n, [][]byte{f32Bytes(x[:4*n])})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(shapes) != fmt.Sprintf("[[%d 4]]", n) {
			t.Errorf("shapes %v", shapes)
		}
		for i, v := range bytesF32(outs[0]) {
			if v != max(x[i], 0) {
				t.Fatalf("n=%d: y[%d] = %v", n, i, v)
			}
		}
	}
}

func TestModelInfo(t *testing.T) {
	g := graphSpec{
		nodes: [][]byte{node("fc", "Gemm", []string{"x", "w", "b"}, []string{"y"}, attrI("transB", 1))},
		inits: [][]byte{floatTensor("w", []int64{3, 4}, make([]float32, 12)), floatTensor("b", []int64{3}, []float32{1, 2, 3})},
		// A weight listed among the inputs (IR < 4 style) is not an input.
		inputs:  [][]byte{valueInfoPB("x", dtFloat, "batch", 4), valueInfoPB("w", dtFloat, 3, 4)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "N", 3)},
	}
	m, err := Parse(g.encode())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(m.Inputs()); got != "[{x FP32 [-1 4]}]" {
		t.Errorf("Inputs() = %s", got)
	}
	if got := fmt.Sprint(m.Outputs()); got != "[{y FP32 [-1 3]}]" {
		t.Errorf("Outputs() = %s", got)
	}
	if m.Opset() != 13 {
		t.Errorf("Opset() = %d", m.Opset())
	}
	p, err := Compile(m, Options{Buckets: []int{1, 2, 4}})
	if err != nil {
		t.Fatal(err)
	}
	outs, _, err := p.Run(3, [][]byte{make([]byte, 3*16)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(bytesF32(outs[0])); got != "[1 2 3 1 2 3 1 2 3]" {
		t.Errorf("Run = %s", got)
	}
	// Outputs are fresh: changing one must not change the next run's.
	outs[0][0] = 0xff
	outs2, _, _ := p.Run(3, [][]byte{make([]byte, 3*16)})
	if bytesF32(outs2[0])[0] != 1 {
		t.Error("output memory is shared between runs")
	}
}

func TestParseErrors(t *testing.T) {
	valid := unaryGraph(node("r", "Relu", []string{"x"}, []string{"y"})).encode()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no graph"},
		{"truncated", valid[:len(valid)-3], "malformed"},
		{"bad tag", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "bad field tag"},
		{"graph as varint", pb(nil).varint(fModelGraph, 1), "want length-delimited"},
		{"huge length", append(protowire.AppendTag(nil, fModelGraph, protowire.BytesType), 0xff, 0xff, 0xff, 0xff, 0x0f), "malformed"},
		{"node without op", graphSpec{nodes: [][]byte{pb(nil).str(fNodeInput, "x")},
			outputs: [][]byte{valueInfoPB("y", dtFloat, 1)}}.encode(), "no op_type"},
		{"unknown elem type", graphSpec{inputs: [][]byte{valueInfoPB("x", 99, "batch")},
			outputs: [][]byte{valueInfoPB("y", dtFloat, 1)}}.encode(), `input "x" has unknown datatype 99`},
		{"no outputs", graphSpec{}.encode(), "no outputs"},
		{"negative dim", graphSpec{inits: [][]byte{floatTensor("w", []int64{-1}, nil)},
			outputs: [][]byte{valueInfoPB("y", dtFloat, 1)}}.encode(), "negative dimension"},
		{"odd packed floats", graphSpec{inits: [][]byte{pb(nil).str(fTensorName, "w").bytes(fTensorFloatData, []byte{1, 2, 3})},
			outputs: [][]byte{valueInfoPB("y", dtFloat, 1)}}.encode(), "not a multiple of 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", m)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
