package onnx

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func int64Bytes(v ...int64) []byte {
	out := make([]byte, 8*len(v))
	for k, x := range v {
		binary.LittleEndian.PutUint64(out[8*k:], uint64(x))
	}
	return out
}

// embeddingGraph: token ids (INT64, batch x 3) -> Gather from a 5 x 2
// table -> FP32 (batch x 3 x 2), plus Equal(ids, 2) -> BOOL (batch x 3).
func embeddingGraph() graphSpec {
	table := []float32{0, 1, 10, 11, 20, 21, 30, 31, 40, 41}
	return graphSpec{
		nodes: [][]byte{
			node("emb", "Gather", []string{"table", "ids"}, []string{"y"}),
			node("two", "Constant", nil, []string{"two"}, attrT("value", int64Tensor("", nil, []int64{2}))),
			node("eq", "Equal", []string{"ids", "two"}, []string{"is2"}),
		},
		inits:  [][]byte{floatTensor("table", []int64{5, 2}, table)},
		inputs: [][]byte{valueInfoPB("ids", dtInt64, "batch", 3)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, "batch", 3, 2),
			valueInfoPB("is2", dtBool, "batch", 3)},
	}
}

// TestIntInputs: INT64 token ids in, FP32 and BOOL out, through the
// batched path (Run pads 3 rows to bucket 4).
func TestIntInputs(t *testing.T) {
	p, err := compileSpec(t, embeddingGraph(), 1, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if in := p.Inputs()[0]; in.DataType != "INT64" || !slices.Equal(in.Shape, []int64{-1, 3}) {
		t.Fatalf("input %+v", in)
	}
	outs, shapes, err := p.Run(3, [][]byte{int64Bytes(0, 1, 2, 4, 3, 2, -1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	wantY := []float32{0, 1, 10, 11, 20, 21, 40, 41, 30, 31, 20, 21, 40, 41, 0, 1, 0, 1}
	if got := bytesF32(outs[0]); !slices.Equal(got, wantY) || !slices.Equal(shapes[0], []int64{3, 3, 2}) {
		t.Errorf("y = %v %v, want %v", got, shapes[0], wantY)
	}
	if want := []byte{0, 0, 1, 0, 0, 1, 0, 0, 0}; !slices.Equal(outs[1], want) || !slices.Equal(shapes[1], []int64{3, 3}) {
		t.Errorf("is2 = %v %v, want %v", outs[1], shapes[1], want)
	}
	// A run-time index out of range is an error, not a panic of the worker.
	if _, _, err := p.Run(1, [][]byte{int64Bytes(0, 5, 0)}); err == nil || !errors.Is(err, ErrInternal) {
		t.Errorf("index 5 of 5: got %v, want an internal error", err)
	}
	if _, _, err := p.Run(1, [][]byte{make([]byte, 12)}); !errors.Is(err, ErrBadInput) {
		t.Errorf("12 bytes for 3 INT64: got %v", err)
	}
}

// TestStatic: CompileStatic runs a graph at fixed shapes (no batch
// dimension), and CompileSpecialized folds a shape operand given as input.
func TestStatic(t *testing.T) {
	m, err := Parse(embeddingGraph().encode())
	if err != nil {
		t.Fatal(err)
	}
	p, err := CompileStatic(m, [][]int64{{1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := p.Exec([]Tensor{{DataType: "INT64", Shape: []int64{1, 3}, Data: int64Bytes(4, 0, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := bytesF32(outs[0].Data); !slices.Equal(got, []float32{40, 41, 0, 1, 20, 21}) || outs[1].DataType != "BOOL" {
		t.Errorf("outputs %+v", outs)
	}
	if _, _, err := p.Run(1, nil); !errors.Is(err, ErrBadInput) {
		t.Errorf("Run on a static program: %v", err)
	}

	reshape := graphSpec{
		nodes:   [][]byte{node("r", "Reshape", []string{"x", "s"}, []string{"y"})},
		inputs:  [][]byte{valueInfoPB("x", dtFloat, 2, 3), valueInfoPB("s", dtInt64, 2)},
		outputs: [][]byte{valueInfoPB("y", dtFloat, 3, 2)},
	}
	m, err = Parse(reshape.encode())
	if err != nil {
		t.Fatal(err)
	}
	shapes := [][]int64{{2, 3}, {2}}
	if _, err := CompileStatic(m, shapes); err == nil {
		t.Fatal("a run-time Reshape target compiled without its value")
	}
	s := Tensor{DataType: "INT64", Shape: []int64{2}, Data: int64Bytes(3, -1)}
	p, err = CompileSpecialized(m, shapes, []*Tensor{nil, &s})
	if err != nil {
		t.Fatal(err)
	}
	x := Tensor{DataType: "FP32", Shape: []int64{2, 3}, Data: f32Bytes([]float32{1, 2, 3, 4, 5, 6})}
	outs, err = p.Exec([]Tensor{x, s})
	if err != nil || !slices.Equal(outs[0].Shape, []int64{3, 2}) {
		t.Fatalf("Exec: %v %+v", err, outs)
	}
	other := Tensor{DataType: "INT64", Shape: []int64{2}, Data: int64Bytes(-1, 3)}
	if _, err := p.Exec([]Tensor{x, other}); !errors.Is(err, ErrBadInput) {
		t.Errorf("another shape value: got %v, want a bad-input error", err)
	}
}
