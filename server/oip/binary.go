package oip

import (
	"bytes"

	"github.com/gannet-ml/gannet/wire"
)

// decodeRaw decodes a raw binary body (Inference-Header-Content-Length: 0):
// the whole body is the data of the model's only input, whose single
// variable dimension (if any) is deduced from the length.
func decodeRaw(body []byte, meta *wire.ModelMetadata, lim Limits) (*Request, error) {
	if meta == nil {
		return nil, invalid("raw binary request (Inference-Header-Content-Length 0) needs the model's metadata")
	}
	if len(meta.Inputs) != 1 {
		return nil, invalid("raw binary request (Inference-Header-Content-Length 0) needs a model with exactly 1 input, but model %q has %d",
			meta.Name, len(meta.Inputs))
	}
	spec := &meta.Inputs[0]
	size := spec.DataType.Size()
	if size == 0 {
		return nil, invalid("raw input %q has unsupported datatype %v", spec.Name, spec.DataType)
	}
	if int64(len(body)) > lim.MaxTensorBytes {
		return nil, invalid("raw input %q: %d bytes exceed maximum size of %d bytes", spec.Name, len(body), lim.MaxTensorBytes)
	}
	shape := make([]int64, len(spec.Shape))
	copy(shape, spec.Shape)
	variable := -1
	fixed := int64(size) // bytes per unit of the variable dimension
	for i, d := range shape {
		switch {
		case d < 0 && variable >= 0:
			return nil, invalid("the shape of raw input %q cannot be deduced: %s has more than one variable-sized dimension",
				spec.Name, formatShape(spec.Shape))
		case d < 0:
			variable = i
		default:
			var err error
			if fixed, err = wire.ByteSize(wire.TypeUint8, []int64{fixed, d}, lim.MaxTensorBytes); err != nil {
				return nil, invalid("raw input %q: shape %s exceeds maximum size of %d bytes", spec.Name, formatShape(spec.Shape), lim.MaxTensorBytes)
			}
		}
	}
	n := int64(len(body))
	if variable < 0 {
		if n != fixed {
			return nil, invalid("raw input %q: %d bytes for shape %s of %v (%d expected)",
				spec.Name, n, formatShape(shape), spec.DataType, fixed)
		}
	} else {
		if fixed == 0 || n%fixed != 0 {
			return nil, invalid("raw input %q: %d bytes is not a whole number of elements of shape %s of %v (%d bytes each along dimension %d)",
				spec.Name, n, formatShape(spec.Shape), spec.DataType, fixed, variable)
		}
		shape[variable] = n / fixed
	}
	t := wire.Tensor{Name: spec.Name, DataType: spec.DataType, Shape: shape, Data: append([]byte{}, body...)}
	if t.DataType == wire.TypeBool {
		if err := checkBool(&t); err != nil {
			return nil, err
		}
	}
	return &Request{Inputs: []wire.Tensor{t}, BinaryOutput: true}, nil
}

// binaryData gives the binary inputs their bytes from the binary section.
func (d *decoder) binaryData(req *Request, bin []byte) error {
	var sum int64
	for _, n := range d.binSizes {
		if n > 0 {
			sum += n // sizes are bounded by MaxTensorBytes in total: no overflow
		}
	}
	if sum != int64(len(bin)) {
		return invalid("binary data is %d bytes but the inputs' binary_data_size add up to %d", len(bin), sum)
	}
	if sum == 0 {
		for i, n := range d.binSizes {
			if n == 0 {
				req.Inputs[i].Data = []byte{}
			}
		}
		return nil
	}
	buf := bytes.Clone(bin) // no zeroing before the copy
	off := int64(0)
	for i, n := range d.binSizes {
		if n < 0 {
			continue
		}
		t := &req.Inputs[i]
		t.Data = buf[off : off+n : off+n]
		off += n
		if t.DataType == wire.TypeBool {
			if err := checkBool(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkBool(t *wire.Tensor) error {
	for i, b := range t.Data {
		if b > 1 {
			return invalid("input %q: BOOL element %d is %d (must be 0 or 1)", t.Name, i, b)
		}
	}
	return nil
}
