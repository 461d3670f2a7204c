package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gannet-ml/gannet/wire"
)

// validateInputs checks a request's inputs against the model: every model
// input exactly once, the model's datatype, the model's shape (with -1
// free), and one batch size, 1 to max_batch_size, across inputs. It returns
// the inputs in the model's order and the batch size.
func validateInputs(meta *wire.ModelMetadata, inputs []wire.Tensor) ([]wire.Tensor, int, error) {
	if len(inputs) != len(meta.Inputs) {
		return nil, 0, wire.Errorf(wire.KindInvalid, "model %q expects %d inputs (%s), the request has %d",
			meta.Name, len(meta.Inputs), specNames(meta.Inputs), len(inputs))
	}
	ordered := inputs
	for i := range meta.Inputs {
		if inputs[i].Name != meta.Inputs[i].Name {
			ordered = nil // not in model order: sort below
			break
		}
	}
	if ordered == nil {
		ordered = make([]wire.Tensor, len(inputs))
		for _, in := range inputs {
			i := specIndex(meta.Inputs, in.Name)
			if i < 0 {
				return nil, 0, wire.Errorf(wire.KindInvalid, "model %q has no input %q; its inputs are %s", meta.Name, in.Name, specNames(meta.Inputs))
			}
			if ordered[i].Name != "" {
				return nil, 0, wire.Errorf(wire.KindInvalid, "input %q appears more than once", in.Name)
			}
			ordered[i] = in
		}
	}
	rows := int64(-1)
	for i := range ordered {
		in, spec := &ordered[i], &meta.Inputs[i]
		if in.DataType != spec.DataType {
			return nil, 0, wire.Errorf(wire.KindInvalid, "input %q has datatype %v, the model expects %v", in.Name, in.DataType, spec.DataType)
		}
		if in.DataType == wire.TypeBool {
			for _, b := range in.Data {
				if b > 1 {
					return nil, 0, wire.Errorf(wire.KindInvalid, "input %q: BOOL elements must be 0 or 1, got %d", in.Name, b)
				}
			}
		}
		if !shapeFits(in.Shape, spec.Shape) {
			return nil, 0, wire.Errorf(wire.KindInvalid, "input %q has shape %s, the model expects %s", in.Name, shapeString(in.Shape), shapeString(spec.Shape))
		}
		switch b := in.Shape[0]; {
		case b < 1 || b > int64(meta.MaxBatchSize):
			return nil, 0, wire.Errorf(wire.KindInvalid, "input %q has batch size %d, the model takes 1 to %d", in.Name, b, meta.MaxBatchSize)
		case rows >= 0 && b != rows:
			return nil, 0, wire.Errorf(wire.KindInvalid, "input %q has batch size %d, input %q has %d", in.Name, b, ordered[0].Name, rows)
		default:
			rows = b
		}
	}
	return ordered, int(rows), nil
}

// validateOutputs checks that every requested output exists, once.
func validateOutputs(meta *wire.ModelMetadata, names []string) error {
	for i, n := range names {
		if specIndex(meta.Outputs, n) < 0 {
			return wire.Errorf(wire.KindInvalid, "model %q has no output %q; its outputs are %s", meta.Name, n, specNames(meta.Outputs))
		}
		if slices.Contains(names[:i], n) {
			return wire.Errorf(wire.KindInvalid, "output %q is requested more than once", n)
		}
	}
	return nil
}

func shapeFits(shape, spec []int64) bool {
	if len(shape) != len(spec) {
		return false
	}
	for i, d := range spec {
		if d >= 0 && shape[i] != d {
			return false
		}
	}
	return true
}

func specIndex(specs []wire.TensorSpec, name string) int {
	for i := range specs {
		if specs[i].Name == name {
			return i
		}
	}
	return -1
}

func specNames(specs []wire.TensorSpec) string {
	names := make([]string, len(specs))
	for i := range specs {
		names[i] = fmt.Sprintf("%q", specs[i].Name)
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func shapeString(s []int64) string {
	return strings.ReplaceAll(fmt.Sprint(s), " ", ",")
}
