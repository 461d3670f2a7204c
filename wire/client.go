package wire

import "fmt"

// Commands of the client <-> frontend protocol (frame 0, byte 3).
const (
	CmdRequest  byte = 0x01 // client -> frontend
	CmdResponse byte = 0x02 // frontend -> client
	CmdFailure  byte = 0x03 // frontend -> client
)

// ClientMessage is one message of the client <-> frontend protocol: one of
// *Request, *Response or *Failure.
type ClientMessage interface {
	AppendFrames(dst [][]byte) [][]byte
}

// Request is an inference request from an SDK client. TimeoutMicros 0 means
// the server's default; Outputs lists the outputs wanted (empty: all).
type Request struct {
	ID            uint64
	Model         string
	Version       string
	TimeoutMicros int64
	Priority      int32
	Outputs       []string
	Inputs        []Tensor
}

// Response answers a Request with its outputs.
type Response struct {
	ID      uint64
	Model   string
	Version string
	Outputs []Tensor
}

// Failure answers a Request with an error.
type Failure struct {
	ID      uint64
	Kind    Kind
	Message string
}

func (m *Request) AppendFrames(dst [][]byte) [][]byte {
	n := 32 + len(m.Model) + len(m.Version) + descSize(m.Inputs)
	for _, o := range m.Outputs {
		n += 2 + len(o)
	}
	e := newHeader(protocolClient, CmdRequest, n)
	e.u64(m.ID)
	e.str(m.Model)
	e.str(m.Version)
	e.i64(m.TimeoutMicros)
	e.u32(uint32(m.Priority))
	e.u16(uint16(len(m.Outputs)))
	for _, o := range m.Outputs {
		e.str(o)
	}
	e.tensorDescs(m.Inputs)
	return appendData(append(dst, e.b), m.Inputs)
}

func (m *Response) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolClient, CmdResponse, 16+len(m.Model)+len(m.Version)+descSize(m.Outputs))
	e.u64(m.ID)
	e.str(m.Model)
	e.str(m.Version)
	e.tensorDescs(m.Outputs)
	return appendData(append(dst, e.b), m.Outputs)
}

func (m *Failure) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolClient, CmdFailure, 16+len(m.Message))
	e.u64(m.ID)
	e.u8(uint8(m.Kind))
	e.str(m.Message)
	return append(dst, e.b)
}

// DecodeClient decodes one client <-> frontend message (without the ROUTER
// identity frame). Tensor data aliases frames; limit bounds each tensor.
func DecodeClient(frames [][]byte, limit int64) (ClientMessage, error) {
	cmd, d, err := header(frames, protocolClient)
	if err != nil {
		return nil, err
	}
	rest := frames[1:]
	var m ClientMessage
	switch cmd {
	case CmdRequest:
		r := &Request{}
		r.ID = d.u64("request id")
		r.Model = d.str("model")
		r.Version = d.str("version")
		r.TimeoutMicros = d.i64("timeout")
		r.Priority = int32(d.u32("priority"))
		n := int(d.u16("output count"))
		if d.err == nil && n*2 > len(d.b) {
			d.fail("output names")
		}
		if d.err == nil && n > 0 {
			r.Outputs = make([]string, n)
			for i := range r.Outputs {
				r.Outputs[i] = d.str("output name")
			}
		}
		r.Inputs = d.tensors(rest, limit)
		rest = nil
		m = r
	case CmdResponse:
		r := &Response{}
		r.ID = d.u64("request id")
		r.Model = d.str("model")
		r.Version = d.str("version")
		r.Outputs = d.tensors(rest, limit)
		rest = nil
		m = r
	case CmdFailure:
		f := &Failure{}
		f.ID = d.u64("request id")
		f.Kind = Kind(d.u8("kind"))
		f.Message = d.str("message")
		m = f
	default:
		return nil, fmt.Errorf("%w: unknown client command 0x%02x", ErrMalformed, cmd)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: command 0x%02x takes no data frames, got %d", ErrMalformed, cmd, len(rest))
	}
	return m, nil
}

// RequestID reads the request id from the header of a client message that
// may be otherwise malformed, so that an error answer can still be matched
// by the client. ok is false if the frame is not a REQUEST header.
func RequestID(frames [][]byte) (id uint64, ok bool) {
	cmd, d, err := header(frames, protocolClient)
	if err != nil || cmd != CmdRequest {
		return 0, false
	}
	id = d.u64("request id")
	return id, d.err == nil
}

// Check reports what would make the request malformed on the wire: an
// invalid datatype, a rank over MaxRank, data whose length does not match
// the shape, or a string or count too long for its field.
func (m *Request) Check() error {
	if len(m.Model) > maxStr || len(m.Version) > maxStr {
		return fmt.Errorf("%w: model name or version longer than %d bytes", ErrMalformed, maxStr)
	}
	if len(m.Outputs) > maxStr || len(m.Inputs) > maxStr {
		return fmt.Errorf("%w: more than %d inputs or outputs", ErrMalformed, maxStr)
	}
	for _, o := range m.Outputs {
		if len(o) > maxStr {
			return fmt.Errorf("%w: output name longer than %d bytes", ErrMalformed, maxStr)
		}
	}
	return CheckTensors(m.Inputs)
}

// CheckTensors reports the first tensor whose datatype, rank, name or data
// length cannot be encoded as it stands.
func CheckTensors(ts []Tensor) error {
	for i := range ts {
		t := &ts[i]
		if len(t.Name) > maxStr {
			return fmt.Errorf("%w: tensor name longer than %d bytes", ErrMalformed, maxStr)
		}
		size, err := ByteSize(t.DataType, t.Shape, 0)
		if err != nil {
			return fmt.Errorf("%w: tensor %q: %v", ErrMalformed, t.Name, err)
		}
		if int64(len(t.Data)) != size {
			return fmt.Errorf("%w: tensor %q has %d data bytes, its shape %v of %v needs %d",
				ErrMalformed, t.Name, len(t.Data), t.Shape, t.DataType, size)
		}
	}
	return nil
}
