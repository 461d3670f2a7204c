package loadgen

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// FetchMetadata reads a model's metadata from an OIP v2 server:
// GET {base}/v2/models/{model}.
func FetchMetadata(base, model string, timeout time.Duration) (*wire.ModelMetadata, error) {
	c := &http.Client{Timeout: timeout}
	url := strings.TrimRight(base, "/") + "/v2/models/" + model
	resp, err := c.Get(url)
	if err != nil {
		return nil, fmt.Errorf("model metadata: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("model metadata: GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("model metadata: GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return ParseMetadata(body)
}

// ParseMetadata decodes an OIP v2 model metadata response.
func ParseMetadata(body []byte) (*wire.ModelMetadata, error) {
	type spec struct {
		Name     string  `json:"name"`
		DataType string  `json:"datatype"`
		Shape    []int64 `json:"shape"`
	}
	var m struct {
		Name     string   `json:"name"`
		Versions []string `json:"versions"`
		Platform string   `json:"platform"`
		Inputs   []spec   `json:"inputs"`
		Outputs  []spec   `json:"outputs"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("model metadata: %w", err)
	}
	if len(m.Inputs) == 0 {
		return nil, fmt.Errorf("model metadata of %q: no inputs", m.Name)
	}
	md := &wire.ModelMetadata{Name: m.Name, Versions: m.Versions, Platform: m.Platform}
	for _, in := range m.Inputs {
		dt, ok := wire.ParseDataType(in.DataType)
		if !ok {
			return nil, fmt.Errorf("model metadata: input %q has datatype %q, which bench cannot make", in.Name, in.DataType)
		}
		md.Inputs = append(md.Inputs, wire.TensorSpec{Name: in.Name, DataType: dt, Shape: in.Shape})
	}
	return md, nil
}

// FashionMNISTInputs is the metadata input of the built-in Fashion-MNIST
// models, for when no metadata can be fetched.
var FashionMNISTInputs = []wire.TensorSpec{{Name: "input", DataType: wire.TypeFP32, Shape: []int64{-1, 1, 28, 28}}}

// IsImageModel reports whether specs take one FP32 28x28 image per row (a
// Fashion-MNIST model).
func IsImageModel(specs []wire.TensorSpec) bool {
	if len(specs) != 1 || specs[0].DataType != wire.TypeFP32 || len(specs[0].Shape) < 2 {
		return false
	}
	n := int64(1)
	for _, d := range specs[0].Shape[1:] {
		n *= d
	}
	return n == 28*28
}

// MaxInputBytes bounds the inputs MakeInputs holds, all requests
// together.
const MaxInputBytes = 1 << 30

// MakeInputs builds count requests' inputs, rows rows each: consecutive
// images (each 784 float32 pixels) when images is non-empty (specs must be
// an image model), random data from rng otherwise. Dimension 0 is the
// batch; any other variable dimension is taken as 1.
func MakeInputs(specs []wire.TensorSpec, rows, count int, images [][]float32, rng *rand.Rand) ([][]wire.Tensor, error) {
	if rows < 1 || count < 1 {
		return nil, fmt.Errorf("inputs: %d rows, %d requests", rows, count)
	}
	if len(images) > 0 && !IsImageModel(specs) {
		return nil, fmt.Errorf("inputs: the model does not take 28x28 FP32 images")
	}
	// Each input's shape (the batch, variable dimensions 1) and bytes. All
	// count requests are held in memory: bound their bytes before
	// allocating any (a shape from the server's metadata can be huge).
	shapes, sizes, per := make([][]int64, len(specs)), make([]int64, len(specs)), int64(0)
	for k, s := range specs {
		shape, b := make([]int64, len(s.Shape)), int64(s.DataType.Size())
		for i, d := range s.Shape {
			switch {
			case i == 0:
				d = int64(rows)
			case d < 0:
				d = 1
			}
			if d > 0 && b > MaxInputBytes/d {
				return nil, fmt.Errorf("inputs: input %q of shape %v takes over %d MiB a request", s.Name, s.Shape, MaxInputBytes>>20)
			}
			shape[i], b = d, b*d
		}
		shapes[k], sizes[k] = shape, b
		per += b
	}
	if per > 0 && int64(count) > MaxInputBytes/per {
		return nil, fmt.Errorf("inputs: %d requests of %d bytes are over %d MiB in all; send fewer distinct requests (--inputs)", count, per, MaxInputBytes>>20)
	}
	out := make([][]wire.Tensor, count)
	next := 0
	for r := range out {
		for k, s := range specs {
			t := wire.Tensor{Name: s.Name, DataType: s.DataType, Shape: slices.Clone(shapes[k]), Data: make([]byte, sizes[k])}
			if len(images) > 0 {
				for row := range rows {
					img := images[next%len(images)]
					next++
					for j, p := range img {
						binary.LittleEndian.PutUint32(t.Data[(row*len(img)+j)*4:], math.Float32bits(p))
					}
				}
			} else {
				fillRandom(t.Data, s.DataType, rng)
			}
			out[r] = append(out[r], t)
		}
	}
	return out, nil
}

// fillRandom fills data with values in [0, 1) for floats, 0..9 for
// integers, 0 or 1 for BOOL.
func fillRandom(data []byte, dt wire.DataType, rng *rand.Rand) {
	halves := [...]uint16{0, 0x3400, 0x3800, 0x3a00} // FP16 0, .25, .5, .75
	for i := 0; i < len(data); i += dt.Size() {
		switch dt {
		case wire.TypeFP32:
			binary.LittleEndian.PutUint32(data[i:], math.Float32bits(rng.Float32()))
		case wire.TypeFP64:
			binary.LittleEndian.PutUint64(data[i:], math.Float64bits(rng.Float64()))
		case wire.TypeFP16:
			binary.LittleEndian.PutUint16(data[i:], halves[rng.IntN(len(halves))])
		case wire.TypeBF16:
			binary.LittleEndian.PutUint16(data[i:], uint16(math.Float32bits(rng.Float32())>>16))
		case wire.TypeBool:
			data[i] = byte(rng.IntN(2))
		default: // integers, little-endian: the low byte is enough
			data[i] = byte(rng.IntN(10))
		}
	}
}

// JSONBody is an OIP v2 infer request with JSON data; timeoutMicros > 0
// adds the request parameter timeout.
func JSONBody(inputs []wire.Tensor, timeoutMicros int64) ([]byte, error) {
	b := []byte(`{"inputs":[`)
	for i, t := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSpec(b, t)
		b = append(b, `,"data":[`...)
		size := t.DataType.Size()
		for k := 0; k < len(t.Data); k += size {
			if k > 0 {
				b = append(b, ',')
			}
			v := t.Data[k:]
			switch t.DataType {
			case wire.TypeFP32:
				b = strconv.AppendFloat(b, float64(math.Float32frombits(binary.LittleEndian.Uint32(v))), 'g', -1, 32)
			case wire.TypeFP64:
				b = strconv.AppendFloat(b, math.Float64frombits(binary.LittleEndian.Uint64(v)), 'g', -1, 64)
			case wire.TypeBool:
				b = strconv.AppendBool(b, v[0] != 0)
			case wire.TypeUint8, wire.TypeUint16, wire.TypeUint32, wire.TypeUint64:
				b = strconv.AppendUint(b, leUint(v[:size]), 10)
			case wire.TypeInt8, wire.TypeInt16, wire.TypeInt32, wire.TypeInt64:
				u := leUint(v[:size])
				shift := 64 - 8*uint(size)
				b = strconv.AppendInt(b, int64(u<<shift)>>shift, 10)
			default:
				return nil, fmt.Errorf("input %q: %v data needs the binary transport (http-binary)", t.Name, t.DataType)
			}
		}
		b = append(b, "]}"...)
	}
	b = append(b, ']')
	if timeoutMicros > 0 {
		b = append(b, `,"parameters":{"timeout":`...)
		b = strconv.AppendInt(b, timeoutMicros, 10)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// BinaryBody is the same request with Triton's binary tensor extension,
// asking for binary outputs as Triton's clients do. It returns the body
// and its Inference-Header-Content-Length (the JSON header's length; the
// tensors' raw bytes follow it, in input order).
func BinaryBody(inputs []wire.Tensor, timeoutMicros int64) ([]byte, int) {
	b := []byte(`{"inputs":[`)
	for i, t := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSpec(b, t)
		b = append(b, `,"parameters":{"binary_data_size":`...)
		b = strconv.AppendInt(b, int64(len(t.Data)), 10)
		b = append(b, "}}"...)
	}
	b = append(b, `],"parameters":{"binary_data_output":true`...)
	if timeoutMicros > 0 {
		b = append(b, `,"timeout":`...)
		b = strconv.AppendInt(b, timeoutMicros, 10)
	}
	b = append(b, "}}"...)
	n := len(b)
	for _, t := range inputs {
		b = append(b, t.Data...)
	}
	return b, n
}

func appendSpec(b []byte, t wire.Tensor) []byte {
	name, _ := json.Marshal(t.Name)
	b = append(b, `{"name":`...)
	b = append(b, name...)
	b = append(b, `,"datatype":"`...)
	b = append(b, t.DataType.String()...)
	b = append(b, `","shape":[`...)
	for i, d := range t.Shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return append(b, ']')
}

func leUint(v []byte) uint64 {
	var u uint64
	for i := len(v) - 1; i >= 0; i-- {
		u = u<<8 | uint64(v[i])
	}
	return u
}
