package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Every header frame starts with this 4-byte prefix: 'G', the protocol
// letter, the protocol version and the command byte.
const (
	magic           = 'G'
	protocolWorker  = 'W'
	protocolClient  = 'C'
	ProtocolVersion = 1
	prefixLen       = 4
	maxStr          = 1<<16 - 1
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed message")

// enc appends little-endian fields to a header frame.
type enc struct{ b []byte }

func (e *enc) u8(v uint8)   { e.b = append(e.b, v) }
func (e *enc) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *enc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) i64(v int64)  { e.u64(uint64(v)) }
func (e *enc) str(s string) {
	if len(s) > maxStr {
		s = s[:maxStr]
	}
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}
func (e *enc) digest(d [32]byte) { e.b = append(e.b, d[:]...) }

// tensorDescs writes the count and the descriptor of each tensor.
func (e *enc) tensorDescs(ts []Tensor) {
	e.u16(uint16(len(ts)))
	for i := range ts {
		t := &ts[i]
		e.u8(uint8(t.DataType))
		e.str(t.Name)
		e.u8(uint8(len(t.Shape)))
		for _, d := range t.Shape {
			e.i64(d)
		}
	}
}

// dec reads fields from a header frame; the first failure sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated header reading %s", ErrMalformed, what)
	}
}

func (d *dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8(what string) uint8 {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}
func (d *dec) u16(what string) uint16 {
	if v := d.take(2, what); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}
func (d *dec) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}
func (d *dec) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}
func (d *dec) i64(what string) int64 { return int64(d.u64(what)) }
func (d *dec) str(what string) string {
	n := d.u16(what)
	return string(d.take(int(n), what))
}
func (d *dec) digest(what string) (out [32]byte) {
	copy(out[:], d.take(32, what))
	return out
}

// done fails if bytes are left over: a header is exactly its fields.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d unexpected trailing bytes in header", ErrMalformed, len(d.b))
	}
	return d.err
}

// tensors reads descriptors and pairs each with its data frame, checking
// that every data frame has exactly the size its shape calls for. The data
// slices alias the frames. limit bounds each tensor's bytes.
func (d *dec) tensors(data [][]byte, limit int64) []Tensor {
	n := int(d.u16("tensor count"))
	if d.err != nil {
		return nil
	}
	if n != len(data) {
		d.err = fmt.Errorf("%w: header lists %d tensors but %d data frames follow", ErrMalformed, n, len(data))
		return nil
	}
	ts := make([]Tensor, n)
	for i := range ts {
		t := &ts[i]
		t.DataType = DataType(d.u8("tensor datatype"))
		t.Name = d.str("tensor name")
		rank := int(d.u8("tensor rank"))
		if d.err != nil {
			return nil
		}
		if !t.DataType.Valid() {
			d.err = fmt.Errorf("%w: tensor %q has unknown datatype code %d", ErrMalformed, t.Name, uint8(t.DataType))
			return nil
		}
		if rank > MaxRank {
			d.err = fmt.Errorf("%w: tensor %q has rank %d, more than %d", ErrMalformed, t.Name, rank, MaxRank)
			return nil
		}
		t.Shape = make([]int64, rank)
		for j := range t.Shape {
			t.Shape[j] = d.i64("tensor dimension")
		}
		if d.err != nil {
			return nil
		}
		size, err := ByteSize(t.DataType, t.Shape, limit)
		if err != nil {
			d.err = fmt.Errorf("%w: tensor %q: %v", ErrMalformed, t.Name, err)
			return nil
		}
		if int64(len(data[i])) != size {
			d.err = fmt.Errorf("%w: tensor %q has %d data bytes, its shape %v of %v needs %d",
				ErrMalformed, t.Name, len(data[i]), t.Shape, t.DataType, size)
			return nil
		}
		t.Data = data[i]
	}
	return ts
}

// header checks the 4-byte prefix and returns the command and a decoder for
// the rest of the frame.
func header(frames [][]byte, protocol byte) (byte, *dec, error) {
	if len(frames) == 0 {
		return 0, nil, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	h := frames[0]
	if len(h) < prefixLen || h[0] != magic || h[1] != protocol {
		return 0, nil, fmt.Errorf("%w: frame 0 does not start with %q", ErrMalformed, string([]byte{magic, protocol}))
	}
	if h[2] != ProtocolVersion {
		return 0, nil, fmt.Errorf("%w: protocol version %d, want %d", ErrMalformed, h[2], ProtocolVersion)
	}
	return h[3], &dec{b: h[prefixLen:]}, nil
}

func newHeader(protocol, cmd byte, sizeHint int) *enc {
	e := &enc{b: make([]byte, 0, prefixLen+sizeHint)}
	e.b = append(e.b, magic, protocol, ProtocolVersion, cmd)
	return e
}

func descSize(ts []Tensor) int {
	n := 2
	for i := range ts {
		n += 4 + len(ts[i].Name) + 8*len(ts[i].Shape)
	}
	return n
}

// appendData appends each tensor's data as its own frame.
func appendData(frames [][]byte, ts []Tensor) [][]byte {
	for i := range ts {
		frames = append(frames, ts[i].Data)
	}
	return frames
}
