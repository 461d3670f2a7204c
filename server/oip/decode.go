package oip

import (
	"strconv"

	"github.com/gannet-ml/gannet/wire"
)

// Request is a decoded inference request. It owns all its memory.
type Request struct {
	ID            string        // "id", echoed in the response
	Inputs        []wire.Tensor // in request order
	Outputs       []Output      // requested outputs in request order; nil = all
	BinaryOutput  bool          // request parameter binary_data_output
	Priority      int64         // request parameter priority (Triton: 0 default, 1 highest); >= 0
	TimeoutMicros int64         // request parameter timeout in microseconds; 0 = none; >= 0
}

// Output is a requested output.
type Output struct {
	Name   string
	Binary bool // per-output parameter binary_data if given, else Request.BinaryOutput
}

// Limits bounds what DecodeRequest accepts.
type Limits struct {
	MaxTensorBytes int64 // bound on the decoded bytes of each input and of all inputs together (0: 64 MiB)
	MaxDepth       int   // JSON nesting bound (0: 100, as Triton)
}

// Defaults for zero Limits fields.
const (
	DefaultMaxTensorBytes = 64 << 20
	DefaultMaxDepth       = 100
)

// input is the state of one input object while it is parsed.
type input struct {
	t          wire.Tensor
	hasDT      bool
	hasShape   bool
	dataStart  int   // offset of a deferred "data" value, or -1
	dataCount  int64 // its scalar count
	hasData    bool
	binarySize int64 // parameter binary_data_size, or -1
}

// decoder holds the state of one DecodeRequest call.
type decoder struct {
	s          scanner
	lim        Limits
	total      int64 // decoded bytes allocated for inputs so far
	binary     bool  // the body has a binary section (headerLen >= 0)
	binSizes   []int64
	firstInput []wire.Tensor // room for one input, allocated with the Request
	idx        int           // index of the input being parsed, for messages
}

// DecodeRequest decodes an infer request body (already decompressed).
//
// headerLen is the value of the Inference-Header-Content-Length HTTP header,
// or -1 when absent. With headerLen >= 0 the body is a JSON header of that
// many bytes followed by binary tensors in input order (inputs with parameter
// binary_data_size take their bytes from there, others carry JSON "data").
// headerLen == 0 means a raw binary body: the whole body is the data of the
// model's single input (meta.Inputs must have exactly one input with at most
// one variable dim; its size is deduced from the length; all outputs come back
// binary). meta is used for raw bodies only and may be nil otherwise.
//
// Every error is a *wire.Error of kind KindInvalid whose message names the
// problem.
func DecodeRequest(body []byte, headerLen int64, meta *wire.ModelMetadata, lim Limits) (*Request, error) {
	if lim.MaxTensorBytes <= 0 {
		lim.MaxTensorBytes = DefaultMaxTensorBytes
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultMaxDepth
	}
	switch {
	case headerLen < -1:
		return nil, invalid("Inference-Header-Content-Length %d is negative", headerLen)
	case headerLen > int64(len(body)):
		return nil, invalid("Inference-Header-Content-Length %d exceeds the body length %d", headerLen, len(body))
	case headerLen == 0:
		return decodeRaw(body, meta, lim)
	}
	js := body
	if headerLen > 0 {
		js = body[:headerLen]
	}
	d := decoder{s: scanner{buf: js, maxDepth: lim.MaxDepth}, lim: lim, binary: headerLen >= 0}
	req, err := d.request()
	if err != nil {
		return nil, err
	}
	if headerLen >= 0 {
		if err := d.binaryData(req, body[headerLen:]); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func (d *decoder) request() (*Request, error) {
	s := &d.s
	if s.ws(); s.pos == len(s.buf) {
		return nil, invalid("empty request JSON")
	}
	if c := s.ws(); c != '{' {
		return nil, invalid("request JSON must be an object, not %s", kindName(c))
	}
	if err := s.open('{', "'{'"); err != nil {
		return nil, err
	}
	// One allocation for the request and its first input, the common case.
	block := &struct {
		req Request
		in  [1]wire.Tensor
	}{}
	req := &block.req
	d.firstInput = block.in[:0:1]
	var seen uint8
	const (
		seenID = 1 << iota
		seenParams
		seenInputs
		seenOutputs
	)
	var outBinary []int8 // per output: -1 unset, 0 false, 1 true
	first := true
	for {
		key, ok, err := s.member(&first)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		var bit uint8
		switch string(key) {
		case "id":
			bit = seenID
		case "parameters":
			bit = seenParams
		case "inputs":
			bit = seenInputs
		case "outputs":
			bit = seenOutputs
		}
		if seen&bit != 0 {
			return nil, invalid("request has %q twice", key)
		}
		seen |= bit
		switch bit {
		case seenID:
			if s.ws() == 'n' {
				err = s.null("id")
				break
			}
			if s.ws() != '"' {
				return nil, invalid("\"id\" must be a string, not %s", kindName(s.ws()))
			}
			req.ID, err = s.strValue()
		case seenParams:
			err = d.requestParams(req)
		case seenInputs:
			err = d.inputs(req)
		case seenOutputs:
			outBinary, err = d.outputs(req)
		default:
			err = s.skipValue()
		}
		if err != nil {
			return nil, err
		}
	}
	if s.ws(); s.pos != len(s.buf) {
		return nil, s.errAt("unexpected data after the request object")
	}
	if seen&seenInputs == 0 {
		return nil, invalid("request has no \"inputs\"")
	}
	for i := range req.Outputs {
		o := &req.Outputs[i]
		if outBinary[i] < 0 {
			o.Binary = req.BinaryOutput
		} else {
			o.Binary = outBinary[i] == 1
		}
	}
	return req, nil
}

func (d *decoder) inputs(req *Request) error {
	s := &d.s
	if c := s.ws(); c != '[' {
		return invalid("\"inputs\" must be an array, not %s", kindName(c))
	}
	if err := s.open('[', "'['"); err != nil {
		return err
	}
	first := true
	for i := 0; ; i++ {
		ok, err := s.element(&first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		t, binSize, err := d.input(i)
		if err != nil {
			return err
		}
		if req.Inputs == nil {
			req.Inputs = d.firstInput
		}
		req.Inputs = append(req.Inputs, t)
		if d.binary {
			d.binSizes = append(d.binSizes, binSize)
		}
	}
	if req.Inputs == nil {
		req.Inputs = []wire.Tensor{}
	}
	return checkDuplicates(len(req.Inputs), func(i int) string { return req.Inputs[i].Name }, "input")
}

// checkDuplicates reports the first name that occurs twice.
func checkDuplicates(n int, name func(int) string, what string) error {
	if n <= 8 {
		for i := 1; i < n; i++ {
			for j := 0; j < i; j++ {
				if name(i) == name(j) {
					return invalid("duplicate %s name %q", what, name(i))
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, n)
	for i := 0; i < n; i++ {
		if _, dup := seen[name(i)]; dup {
			return invalid("duplicate %s name %q", what, name(i))
		}
		seen[name(i)] = struct{}{}
	}
	return nil
}

// input parses one input object. It returns the tensor and its
// binary_data_size (-1 if it carries JSON data).
func (d *decoder) input(idx int) (wire.Tensor, int64, error) {
	s := &d.s
	d.idx = idx
	in := input{dataStart: -1, binarySize: -1}
	if c := s.ws(); c != '{' {
		return in.t, 0, invalid("input %d must be an object, not %s", idx, kindName(c))
	}
	if err := s.open('{', "'{'"); err != nil {
		return in.t, 0, err
	}
	var seen uint8
	const (
		seenName = 1 << iota
		seenShape
		seenDT
		seenParams
		seenData
	)
	first := true
	for {
		key, ok, err := s.member(&first)
		if err != nil {
			return in.t, 0, err
		}
		if !ok {
			break
		}
		var bit uint8
		switch string(key) {
		case "name":
			bit = seenName
		case "datatype":
			bit = seenDT
		case "shape":
			bit = seenShape
		case "parameters":
			bit = seenParams
		case "data":
			bit = seenData
		}
		if seen&bit != 0 {
			return in.t, 0, invalid("input %s has %q twice", in.label(idx), key)
		}
		seen |= bit
		switch bit {
		case seenName:
			if c := s.ws(); c != '"' {
				return in.t, 0, invalid("input %d: \"name\" must be a string, not %s", idx, kindName(c))
			}
			in.t.Name, err = s.strValue()
		case seenDT:
			err = d.datatype(&in, idx)
		case seenShape:
			err = d.shape(&in, idx)
		case seenParams:
			err = d.inputParams(&in, idx)
		case seenData:
			err = d.data(&in, idx)
		default:
			err = s.skipValue()
		}
		if err != nil {
			return in.t, 0, err
		}
	}
	switch {
	case seen&seenName == 0:
		return in.t, 0, invalid("input %d has no \"name\"", idx)
	case seen&seenDT == 0:
		return in.t, 0, invalid("input %q has no \"datatype\"", in.t.Name)
	case seen&seenShape == 0:
		return in.t, 0, invalid("input %q has no \"shape\"", in.t.Name)
	case in.binarySize >= 0 && in.hasData:
		return in.t, 0, invalid("input %q has both \"data\" and parameter binary_data_size", in.t.Name)
	case in.binarySize >= 0:
		if !d.binary {
			return in.t, 0, invalid("input %q has parameter binary_data_size but the request has no Inference-Header-Content-Length", in.t.Name)
		}
		size, err := d.byteSize(&in.t)
		if err != nil {
			return in.t, 0, err
		}
		if size != in.binarySize {
			return in.t, 0, invalid("input %q: binary_data_size %d does not match shape %s of %v (%d bytes)",
				in.t.Name, in.binarySize, formatShape(in.t.Shape), in.t.DataType, size)
		}
		return in.t, in.binarySize, nil
	case !in.hasData:
		return in.t, 0, invalid("input %q has no \"data\" (nor parameter binary_data_size)", in.t.Name)
	case in.dataStart >= 0:
		// "data" came before "datatype" or "shape": parse it now.
		if err := d.checkJSONType(&in.t); err != nil {
			return in.t, 0, err
		}
		size, err := d.alloc(&in.t, in.dataCount)
		if err != nil {
			return in.t, 0, err
		}
		sub := scanner{buf: s.buf, pos: in.dataStart, depth: s.depth + 1, maxDepth: s.maxDepth}
		if _, err := sub.walkData(in.t.Name, idx, in.t.DataType, in.t.Data[:size]); err != nil {
			return in.t, 0, err
		}
	}
	return in.t, -1, nil
}

func (in *input) label(idx int) string { return inputLabel(in.t.Name, idx) }

func (d *decoder) datatype(in *input, idx int) error {
	s := &d.s
	if c := s.ws(); c != '"' {
		return invalid("input %s: \"datatype\" must be a string, not %s", in.label(idx), kindName(c))
	}
	b, err := s.str()
	if err != nil {
		return err
	}
	dt, ok := parseDataType(b)
	if !ok {
		return invalid("input %s: unsupported datatype %q", in.label(idx), b)
	}
	in.t.DataType = dt
	in.hasDT = true
	return nil
}

// parseDataType is wire.ParseDataType without a string conversion.
func parseDataType(b []byte) (wire.DataType, bool) {
	switch string(b) {
	case "BOOL":
		return wire.TypeBool, true
	case "UINT8":
		return wire.TypeUint8, true
	case "UINT16":
		return wire.TypeUint16, true
	case "UINT32":
		return wire.TypeUint32, true
	case "UINT64":
		return wire.TypeUint64, true
	case "INT8":
		return wire.TypeInt8, true
	case "INT16":
		return wire.TypeInt16, true
	case "INT32":
		return wire.TypeInt32, true
	case "INT64":
		return wire.TypeInt64, true
	case "FP16":
		return wire.TypeFP16, true
	case "FP32":
		return wire.TypeFP32, true
	case "FP64":
		return wire.TypeFP64, true
	case "BF16":
		return wire.TypeBF16, true
	}
	return wire.TypeInvalid, false
}

func (d *decoder) shape(in *input, idx int) error {
	s := &d.s
	if c := s.ws(); c != '[' {
		return invalid("input %s: \"shape\" must be an array, not %s", in.label(idx), kindName(c))
	}
	if err := s.open('[', "'['"); err != nil {
		return err
	}
	var dims [wire.MaxRank]int64
	n := 0
	first := true
	for {
		ok, err := s.element(&first)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		c := s.ws()
		if c != '-' && (c < '0' || c > '9') {
			return invalid("input %s: shape dimension %d must be an integer, not %s", in.label(idx), n, kindName(c))
		}
		var num number
		if err := s.num(&num); err != nil {
			return err
		}
		tok := num.tok
		v, ok := nonNegInt(tok)
		switch {
		case !num.isInt:
			return invalid("input %s: shape dimension %s is not an integer", in.label(idx), tok)
		case len(tok) > 0 && tok[0] == '-' && string(tok) != "-0":
			return invalid("input %s: shape dimension %s is negative", in.label(idx), tok)
		case !ok:
			return invalid("input %s: shape dimension %s exceeds maximum size", in.label(idx), tok)
		case n == wire.MaxRank:
			return invalid("input %s: shape has more than %d dimensions", in.label(idx), wire.MaxRank)
		}
		dims[n] = v
		n++
	}
	in.t.Shape = append(make([]int64, 0, n), dims[:n]...)
	in.hasShape = true
	return nil
}

// data handles the "data" member: parsed at once into an owned buffer when
// the datatype and shape are known, otherwise validated, counted and
// deferred.
func (d *decoder) data(in *input, idx int) error {
	s := &d.s
	in.hasData = true
	if !in.hasDT || !in.hasShape {
		in.dataStart = s.pos
		n, err := s.walkData(in.t.Name, idx, wire.TypeInvalid, nil)
		in.dataCount = n
		return err
	}
	if err := d.checkJSONType(&in.t); err != nil {
		return err
	}
	// Each element takes at least two bytes ("1,"), so a shape that calls
	// for more elements than the rest of the JSON can hold is refused
	// before allocating; counting gives the exact number for the message.
	want := int64(-1)
	if size, err := wire.ByteSize(in.t.DataType, in.t.Shape, 0); err == nil {
		want = size / int64(in.t.DataType.Size())
	}
	if want < 0 || want > int64(len(s.buf)-s.pos)/2 {
		n, err := s.walkData(in.t.Name, idx, wire.TypeInvalid, nil)
		if err != nil {
			return err
		}
		if _, err := d.byteSize(&in.t); err != nil {
			return err
		}
		return d.countErr(&in.t, n, want) // n <= the rest of the JSON / 2 < want
	}
	size, err := d.alloc(&in.t, -1)
	if err != nil {
		return err
	}
	n, err := s.walkData(in.t.Name, idx, in.t.DataType, in.t.Data[:size])
	if err != nil {
		return err
	}
	if n != want {
		return d.countErr(&in.t, n, want)
	}
	return nil
}

// checkJSONType refuses types that JSON cannot carry.
func (d *decoder) checkJSONType(t *wire.Tensor) error {
	if t.DataType == wire.TypeFP16 || t.DataType == wire.TypeBF16 {
		return invalid("input %s: %v data must use the binary tensor extension (parameter binary_data_size)", inputLabel(t.Name, d.idx), t.DataType)
	}
	return nil
}

func (d *decoder) countErr(t *wire.Tensor, n, want int64) error {
	return invalid("input %s: %d values for shape %s (%d expected)", inputLabel(t.Name, d.idx), n, formatShape(t.Shape), want)
}

// byteSize is the size of t's data, within the per-input and total limits.
func (d *decoder) byteSize(t *wire.Tensor) (int64, error) {
	size, err := wire.ByteSize(t.DataType, t.Shape, d.lim.MaxTensorBytes)
	if err != nil {
		return 0, invalid("input %s: shape %s of %v exceeds maximum size of %d bytes",
			inputLabel(t.Name, d.idx), formatShape(t.Shape), t.DataType, d.lim.MaxTensorBytes)
	}
	if d.total+size > d.lim.MaxTensorBytes {
		return 0, invalid("input %s: inputs total more than maximum size of %d bytes", inputLabel(t.Name, d.idx), d.lim.MaxTensorBytes)
	}
	d.total += size
	return size, nil
}

// alloc checks the size of t (and, with count >= 0, that count elements
// fill it) and gives t an owned data buffer.
func (d *decoder) alloc(t *wire.Tensor, count int64) (int64, error) {
	size, err := d.byteSize(t)
	if err != nil {
		return 0, err
	}
	if want := size / int64(t.DataType.Size()); count >= 0 && count != want {
		return 0, d.countErr(t, count, want)
	}
	t.Data = make([]byte, size)
	return size, nil
}

// formatShape writes a shape as [1,28,28].
func formatShape(shape []int64) string {
	b := make([]byte, 0, 2+len(shape)*4)
	b = append(b, '[')
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return string(append(b, ']'))
}
