package oip

import (
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/gannet-ml/gannet/wire"
)

// AppendResponse appends an infer response body to dst: the JSON header
//
//	{"model_name":..,"model_version":..,"id":..,"outputs":[{"name","datatype","shape","data"|"parameters":{"binary_data_size":N}}]}
//
// ("model_version" and "id" omitted when empty), then the bytes of each
// binary output in order. outputs are all the model's outputs in model
// order; req.Outputs selects and orders them (nil: all, binary if
// req.BinaryOutput). req may be nil (all outputs as JSON, no id).
//
// It returns the new dst and the length of the JSON header, or -1 when no
// output is binary (then the server sets no Inference-Header-Content-Length).
// A requested output the model lacks is a KindInvalid error; an output whose
// data does not fit its shape is KindInternal. On error dst is returned
// unchanged in length.
//
// JSON data is flat. FP32 is written with the shortest text that reads back
// as the same float32, FP64 likewise; NaN and infinities as the bare tokens
// NaN, Infinity and -Infinity (as Triton); BOOL as true/false; FP16 and BF16
// as their exact float32 value.
func AppendResponse(dst []byte, model, version string, req *Request, outputs []wire.Tensor) ([]byte, int, error) {
	var sel []Output
	all := true
	binaryAll := false
	id := ""
	if req != nil {
		sel, all, binaryAll, id = req.Outputs, req.Outputs == nil, req.BinaryOutput, req.ID
	}
	n := len(sel)
	if all {
		n = len(outputs)
	}
	// Resolve and check the selection first, estimating the size.
	est := 64 + len(model) + len(version) + len(id)
	anyBinary := false
	for i := 0; i < n; i++ {
		t, bin, err := pick(outputs, sel, all, binaryAll, i)
		if err != nil {
			return dst, -1, err
		}
		size, err := wire.ByteSize(t.DataType, t.Shape, 0)
		if err != nil || size != int64(len(t.Data)) {
			return dst, -1, wire.Errorf(wire.KindInternal, "output %q: %d bytes of data for shape %s of %v",
				t.Name, len(t.Data), formatShape(t.Shape), t.DataType)
		}
		est += 64 + len(t.Name) + 8*len(t.Shape)
		if bin {
			anyBinary = true
			est += len(t.Data)
		} else {
			est += len(t.Data) / t.DataType.Size() * jsonWidth(t.DataType)
		}
	}
	start := len(dst)
	dst = slices.Grow(dst, est)
	dst = append(dst, `{"model_name":`...)
	dst = AppendJSONString(dst, model)
	if version != "" {
		dst = append(dst, `,"model_version":`...)
		dst = AppendJSONString(dst, version)
	}
	if id != "" {
		dst = append(dst, `,"id":`...)
		dst = AppendJSONString(dst, id)
	}
	dst = append(dst, `,"outputs":[`...)
	for i := 0; i < n; i++ {
		t, bin, _ := pick(outputs, sel, all, binaryAll, i)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = AppendJSONString(dst, t.Name)
		dst = append(dst, `,"datatype":"`...)
		dst = append(dst, t.DataType.String()...)
		dst = append(dst, `","shape":`...)
		dst = appendShape(dst, t.Shape)
		if bin {
			dst = append(dst, `,"parameters":{"binary_data_size":`...)
			dst = strconv.AppendInt(dst, int64(len(t.Data)), 10)
			dst = append(dst, "}}"...)
		} else {
			dst = append(dst, `,"data":`...)
			dst = appendData(dst, t)
			dst = append(dst, '}')
		}
	}
	dst = append(dst, "]}"...)
	if !anyBinary {
		return dst, -1, nil
	}
	headerLen := len(dst) - start
	for i := 0; i < n; i++ {
		if t, bin, _ := pick(outputs, sel, all, binaryAll, i); bin {
			dst = append(dst, t.Data...)
		}
	}
	return dst, headerLen, nil
}

// pick returns the i-th selected output and whether it is sent binary.
func pick(outputs []wire.Tensor, sel []Output, all, binaryAll bool, i int) (*wire.Tensor, bool, error) {
	if all {
		return &outputs[i], binaryAll, nil
	}
	for j := range outputs {
		if outputs[j].Name == sel[i].Name {
			return &outputs[j], sel[i].Binary, nil
		}
	}
	return nil, false, wire.Errorf(wire.KindInvalid, "unknown output %q", sel[i].Name)
}

// jsonWidth estimates the JSON text of one element, separator included.
func jsonWidth(dt wire.DataType) int {
	switch dt {
	case wire.TypeBool:
		return 6
	case wire.TypeUint8, wire.TypeInt8:
		return 5
	case wire.TypeUint16, wire.TypeInt16:
		return 7
	case wire.TypeUint32, wire.TypeInt32:
		return 12
	case wire.TypeFP64, wire.TypeUint64, wire.TypeInt64:
		return 22
	}
	return 14
}

func appendShape(dst []byte, shape []int64) []byte {
	dst = append(dst, '[')
	for i, d := range shape {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, d, 10)
	}
	return append(dst, ']')
}

// appendData appends t's elements as a flat JSON array.
func appendData(dst []byte, t *wire.Tensor) []byte {
	dst = append(dst, '[')
	data := t.Data
	size := t.DataType.Size()
	le := binary.LittleEndian
	for i := 0; i+size <= len(data); i += size {
		if i > 0 {
			dst = append(dst, ',')
		}
		switch t.DataType {
		case wire.TypeBool:
			if data[i] != 0 {
				dst = append(dst, "true"...)
			} else {
				dst = append(dst, "false"...)
			}
		case wire.TypeUint8:
			dst = strconv.AppendUint(dst, uint64(data[i]), 10)
		case wire.TypeUint16:
			dst = strconv.AppendUint(dst, uint64(le.Uint16(data[i:])), 10)
		case wire.TypeUint32:
			dst = strconv.AppendUint(dst, uint64(le.Uint32(data[i:])), 10)
		case wire.TypeUint64:
			dst = strconv.AppendUint(dst, le.Uint64(data[i:]), 10)
		case wire.TypeInt8:
			dst = strconv.AppendInt(dst, int64(int8(data[i])), 10)
		case wire.TypeInt16:
			dst = strconv.AppendInt(dst, int64(int16(le.Uint16(data[i:]))), 10)
		case wire.TypeInt32:
			dst = strconv.AppendInt(dst, int64(int32(le.Uint32(data[i:]))), 10)
		case wire.TypeInt64:
			dst = strconv.AppendInt(dst, int64(le.Uint64(data[i:])), 10)
		case wire.TypeFP16:
			dst = appendFloat(dst, float64(halfToFloat32(le.Uint16(data[i:]))), 32)
		case wire.TypeBF16:
			dst = appendFloat(dst, float64(bf16ToFloat32(le.Uint16(data[i:]))), 32)
		case wire.TypeFP32:
			dst = appendFloat(dst, float64(math.Float32frombits(le.Uint32(data[i:]))), 32)
		case wire.TypeFP64:
			dst = appendFloat(dst, math.Float64frombits(le.Uint64(data[i:])), 64)
		}
	}
	return append(dst, ']')
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case f != f:
		return append(dst, "NaN"...)
	case f > math.MaxFloat64:
		return append(dst, "Infinity"...)
	case f < -math.MaxFloat64:
		return append(dst, "-Infinity"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// AppendError appends the OIP error body {"error":"msg"} to dst.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, `{"error":`...)
	dst = AppendJSONString(dst, msg)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string: quotes, backslashes and
// control characters are escaped, as are U+2028 and U+2029; invalid UTF-8
// becomes U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
