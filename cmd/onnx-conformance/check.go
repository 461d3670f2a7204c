package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gannet-ml/gannet/models/onnx"
)

// Tolerance of a floating-point comparison: |got-want| <= atol + rtol*|want|.
const (
	atol = 1e-4
	rtol = 1e-4
)

// checkTest runs one test folder (model.onnx and test_data_set_*) in this
// process and returns nil when every data set's outputs match.
func checkTest(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return err
	}
	m, err := onnx.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse: %w", err)
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test_data_set_* folder")
	}
	slices.Sort(sets)
	for _, set := range sets {
		if err := checkSet(m, set); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(set), err)
		}
	}
	return nil
}

// readTensors reads prefix_0.pb, prefix_1.pb, ... in order.
func readTensors(set, prefix string) ([]onnx.Tensor, error) {
	var out []onnx.Tensor
	for k := 0; ; k++ {
		b, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("%s_%d.pb", prefix, k)))
		if os.IsNotExist(err) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		t, err := onnx.ParseTensor(b)
		if err != nil {
			return nil, fmt.Errorf("%s_%d.pb: %w", prefix, k, err)
		}
		out = append(out, *t)
	}
}

func checkSet(m *onnx.Model, set string) error {
	ins, err := readTensors(set, "input")
	if err != nil {
		return err
	}
	wants, err := readTensors(set, "output")
	if err != nil {
		return err
	}
	infos := m.Inputs()
	if len(ins) != len(infos) {
		return fmt.Errorf("%d input files for %d graph inputs", len(ins), len(infos))
	}
	shapes := make([][]int64, len(ins))
	for i := range ins {
		shapes[i] = ins[i].Shape
		if ins[i].DataType != infos[i].DataType {
			return fmt.Errorf("input %d is %s, the graph declares %s", i, ins[i].DataType, infos[i].DataType)
		}
	}
	p, err := onnx.CompileStatic(m, shapes)
	if err != nil && (strings.Contains(err.Error(), "computed at run time") || strings.Contains(err.Error(), "empty inputs")) {
		// A shape operand (a Reshape's target, a Slice's starts) is a
		// graph input here: specialise the program on the integer inputs'
		// values, as an initializer would have fixed them.
		fixed := make([]*onnx.Tensor, len(ins))
		for i := range ins {
			if strings.HasPrefix(ins[i].DataType, "INT") {
				fixed[i] = &ins[i]
			}
		}
		p, err = onnx.CompileSpecialized(m, shapes, fixed)
	}
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	got, err := p.Exec(ins)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if len(got) != len(wants) {
		return fmt.Errorf("%d outputs, want %d", len(got), len(wants))
	}
	for i := range wants {
		if err := compare(got[i], wants[i]); err != nil {
			return fmt.Errorf("output %d (%s): %w", i, got[i].Name, err)
		}
	}
	return nil
}

// compare checks got against want: same datatype and shape, integers and
// BOOL exactly, floats within the tolerance (NaN matches NaN, an infinity
// the same infinity).
func compare(got, want onnx.Tensor) error {
	if got.DataType != want.DataType {
		return fmt.Errorf("datatype %s, want %s", got.DataType, want.DataType)
	}
	if !slices.Equal(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if len(got.Data) != len(want.Data) {
		return fmt.Errorf("%d bytes, want %d", len(got.Data), len(want.Data))
	}
	le := binary.LittleEndian
	switch got.DataType {
	case "FP32", "FP64":
		es := 4
		if got.DataType == "FP64" {
			es = 8
		}
		worst, at := 0.0, -1
		for k := 0; k < len(got.Data)/es; k++ {
			var g, w float64
			if es == 4 {
				g = float64(math.Float32frombits(le.Uint32(got.Data[4*k:])))
				w = float64(math.Float32frombits(le.Uint32(want.Data[4*k:])))
			} else {
				g = math.Float64frombits(le.Uint64(got.Data[8*k:]))
				w = math.Float64frombits(le.Uint64(want.Data[8*k:]))
			}
			switch {
			case math.IsNaN(w) || math.IsNaN(g):
				if math.IsNaN(w) != math.IsNaN(g) {
					return fmt.Errorf("element %d: got %v, want %v", k, g, w)
				}
			case math.IsInf(w, 0) || math.IsInf(g, 0):
				if g != w {
					return fmt.Errorf("element %d: got %v, want %v", k, g, w)
				}
			default:
				if d := math.Abs(g - w); d > atol+rtol*math.Abs(w) && d > worst {
					worst, at = d, k
				}
			}
		}
		if at >= 0 {
			return fmt.Errorf("element %d differs by %.3g (beyond %g + %g*|want|)", at, worst, atol, rtol)
		}
	default:
		for k := range got.Data {
			if got.Data[k] != want.Data[k] {
				return fmt.Errorf("byte %d differs (%s data)", k, strings.ToLower(got.DataType))
			}
		}
	}
	return nil
}
