package wire

import (
	"fmt"
)

// Commands of the frontend <-> worker protocol (frame 0, byte 3).
const (
	CmdHello      byte = 0x01 // worker -> frontend
	CmdLoad       byte = 0x02 // frontend -> worker
	CmdLoaded     byte = 0x03 // worker -> frontend
	CmdBatch      byte = 0x04 // frontend -> worker
	CmdResult     byte = 0x05 // worker -> frontend
	CmdError      byte = 0x06 // worker -> frontend
	CmdHeartbeat  byte = 0x07 // both ways
	CmdDisconnect byte = 0x08 // both ways
)

// WorkerMessage is one message of the frontend <-> worker protocol: one of
// *Hello, *Load, *Loaded, *Batch, *Result, *BatchError, *Heartbeat or
// *Disconnect.
type WorkerMessage interface {
	// AppendFrames appends the message's frames to dst: the header, then
	// any data frames (which alias the message's byte slices).
	AppendFrames(dst [][]byte) [][]byte
}

// Hello is a worker's announcement of itself, sent first after connecting.
type Hello struct {
	WorkerID    string     // unique per worker process
	Device      string     // e.g. "cpu" or "cuda:0"
	Capacity    uint32     // batches the worker accepts at once (>= 1)
	Version     string     // gannet version of the worker binary
	Model       string     // the model this worker asks to host; "" for any
	HeartbeatMS uint32     // the worker's heartbeat interval
	Cached      [][32]byte // SHA-256 digests of model files the worker holds
}

// Load asks a worker to host a model. Bytes is nil when the worker already
// holds the file with this Digest (it listed it in Hello.Cached).
type Load struct {
	Model        string
	Version      string
	Digest       [32]byte // SHA-256 of the model file
	MaxBatchSize uint32
	HeartbeatMS  uint32 // the frontend's heartbeat interval: judge its liveness by it
	Bytes        []byte
}

// Loaded reports the outcome of a Load. Kind 0 (KindUnknown) with an empty
// Message means success.
type Loaded struct {
	Model   string
	Digest  [32]byte
	Kind    Kind
	Message string
	// Profile holds warm-up timings, one per compiled batch bucket: the
	// seed of the frontend's latency profile of this replica.
	Profile []BucketTime
}

// BucketTime is the measured compute time of one batch of Rows rows.
type BucketTime struct {
	Rows uint32
	NS   int64
}

// Batch carries the inputs of one batch: Rows items concatenated along
// dimension 0 of every input. Deadline is in Unix nanoseconds (0: none).
type Batch struct {
	ID       uint64
	Model    string
	Deadline int64
	Rows     uint32
	// Items are the requests the batch joins, in row order (their Rows
	// sum to the batch's): the worker drops, before it runs the batch,
	// the items whose deadline (Unix ns; 0: none) has passed, and names
	// them in the RESULT. Empty: the batch is one item.
	Items  []Item
	Inputs []Tensor
}

// Item is one request's share of a batch.
type Item struct {
	Rows     uint32
	Deadline int64
}

// Result carries the outputs of a batch and its compute time.
type Result struct {
	ID        uint64
	ComputeNS int64
	// Dropped are the indices (ascending) of the batch's items that were
	// not run because their deadline had passed; Outputs hold the rows of
	// the other items only.
	Dropped []uint16
	Outputs []Tensor
}

// BatchError reports that a batch failed.
type BatchError struct {
	ID      uint64
	Kind    Kind
	Message string
}

// Heartbeat says "I am alive"; any other message says so too.
type Heartbeat struct{}

// Disconnect says the sender is leaving, or (from the frontend) that the
// worker is not registered and must reconnect and say Hello again.
type Disconnect struct{ Reason string }

func (m *Hello) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolWorker, CmdHello, 64+32*len(m.Cached))
	e.str(m.WorkerID)
	e.str(m.Device)
	e.u32(m.Capacity)
	e.str(m.Version)
	e.str(m.Model)
	e.u32(m.HeartbeatMS)
	e.u16(uint16(len(m.Cached)))
	for _, d := range m.Cached {
		e.digest(d)
	}
	return append(dst, e.b)
}

func (m *Load) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolWorker, CmdLoad, 64)
	e.str(m.Model)
	e.str(m.Version)
	e.digest(m.Digest)
	e.u32(m.MaxBatchSize)
	e.u32(m.HeartbeatMS)
	if m.Bytes == nil {
		e.u8(0)
		return append(dst, e.b)
	}
	e.u8(1)
	return append(dst, e.b, m.Bytes)
}

func (m *Loaded) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolWorker, CmdLoaded, 64+len(m.Message))
	e.str(m.Model)
	e.digest(m.Digest)
	e.u8(uint8(m.Kind))
	e.str(m.Message)
	e.u16(uint16(len(m.Profile)))
	for _, b := range m.Profile {
		e.u32(b.Rows)
		e.i64(b.NS)
	}
	return append(dst, e.b)
}

func (m *Batch) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolWorker, CmdBatch, 26+len(m.Model)+12*len(m.Items)+descSize(m.Inputs))
	e.u64(m.ID)
	e.str(m.Model)
	e.i64(m.Deadline)
	e.u32(m.Rows)
	e.u16(uint16(len(m.Items)))
	for _, it := range m.Items {
		e.u32(it.Rows)
		e.i64(it.Deadline)
	}
	e.tensorDescs(m.Inputs)
	return appendData(append(dst, e.b), m.Inputs)
}

func (m *Result) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolWorker, CmdResult, 18+2*len(m.Dropped)+descSize(m.Outputs))
	e.u64(m.ID)
	e.i64(m.ComputeNS)
	e.u16(uint16(len(m.Dropped)))
	for _, i := range m.Dropped {
		e.u16(i)
	}
	e.tensorDescs(m.Outputs)
	return appendData(append(dst, e.b), m.Outputs)
}

func (m *BatchError) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolWorker, CmdError, 16+len(m.Message))
	e.u64(m.ID)
	e.u8(uint8(m.Kind))
	e.str(m.Message)
	return append(dst, e.b)
}

func (m *Heartbeat) AppendFrames(dst [][]byte) [][]byte {
	return append(dst, newHeader(protocolWorker, CmdHeartbeat, 0).b)
}

func (m *Disconnect) AppendFrames(dst [][]byte) [][]byte {
	e := newHeader(protocolWorker, CmdDisconnect, len(m.Reason)+2)
	e.str(m.Reason)
	return append(dst, e.b)
}

// DecodeWorker decodes one frontend <-> worker message (without the ROUTER
// identity frame). Tensor data and model bytes alias frames. limit bounds
// the size of each tensor in bytes (<= 0: no bound beyond int64).
func DecodeWorker(frames [][]byte, limit int64) (WorkerMessage, error) {
	cmd, d, err := header(frames, protocolWorker)
	if err != nil {
		return nil, err
	}
	rest := frames[1:]
	var m WorkerMessage
	switch cmd {
	case CmdHello:
		h := &Hello{}
		h.WorkerID = d.str("worker id")
		h.Device = d.str("device")
		h.Capacity = d.u32("capacity")
		h.Version = d.str("version")
		h.Model = d.str("model")
		h.HeartbeatMS = d.u32("heartbeat interval")
		n := int(d.u16("cached count"))
		if d.err == nil && n*32 > len(d.b) {
			d.fail("cached digests")
		}
		if d.err == nil && n > 0 {
			h.Cached = make([][32]byte, n)
			for i := range h.Cached {
				h.Cached[i] = d.digest("cached digest")
			}
		}
		m = h
	case CmdLoad:
		l := &Load{}
		l.Model = d.str("model")
		l.Version = d.str("version")
		l.Digest = d.digest("digest")
		l.MaxBatchSize = d.u32("max batch size")
		l.HeartbeatMS = d.u32("heartbeat interval")
		has := d.u8("has bytes")
		if d.err == nil {
			switch {
			case has == 1 && len(rest) == 1:
				l.Bytes = rest[0]
				if l.Bytes == nil {
					l.Bytes = []byte{}
				}
				rest = nil
			case has == 0 && len(rest) == 0:
			default:
				return nil, fmt.Errorf("%w: LOAD has-bytes flag %d with %d data frames", ErrMalformed, has, len(rest))
			}
		}
		m = l
	case CmdLoaded:
		l := &Loaded{}
		l.Model = d.str("model")
		l.Digest = d.digest("digest")
		l.Kind = Kind(d.u8("kind"))
		l.Message = d.str("message")
		if n := int(d.u16("profile length")); n > 0 && d.err == nil {
			l.Profile = make([]BucketTime, 0, min(n, len(d.b)/12))
			for range n {
				l.Profile = append(l.Profile, BucketTime{Rows: d.u32("profile rows"), NS: d.i64("profile time")})
				if d.err != nil {
					break
				}
			}
		}
		m = l
	case CmdBatch:
		b := &Batch{}
		b.ID = d.u64("batch id")
		b.Model = d.str("model")
		b.Deadline = d.i64("deadline")
		b.Rows = d.u32("rows")
		if n := int(d.u16("item count")); n > 0 && d.err == nil {
			b.Items = make([]Item, 0, min(n, len(d.b)/12))
			var sum uint64
			for range n {
				it := Item{Rows: d.u32("item rows"), Deadline: d.i64("item deadline")}
				if d.err != nil {
					break
				}
				sum += uint64(it.Rows)
				b.Items = append(b.Items, it)
			}
			if d.err == nil && sum != uint64(b.Rows) {
				return nil, fmt.Errorf("%w: BATCH items hold %d rows, the batch %d", ErrMalformed, sum, b.Rows)
			}
		}
		b.Inputs = d.tensors(rest, limit)
		rest = nil
		m = b
	case CmdResult:
		r := &Result{}
		r.ID = d.u64("batch id")
		r.ComputeNS = d.i64("compute time")
		if n := int(d.u16("dropped count")); n > 0 && d.err == nil {
			r.Dropped = make([]uint16, 0, min(n, len(d.b)/2))
			for range n {
				i := d.u16("dropped item")
				if d.err != nil {
					break
				}
				if len(r.Dropped) > 0 && i <= r.Dropped[len(r.Dropped)-1] {
					return nil, fmt.Errorf("%w: RESULT dropped items not ascending", ErrMalformed)
				}
				r.Dropped = append(r.Dropped, i)
			}
		}
		r.Outputs = d.tensors(rest, limit)
		rest = nil
		m = r
	case CmdError:
		e := &BatchError{}
		e.ID = d.u64("batch id")
		e.Kind = Kind(d.u8("kind"))
		e.Message = d.str("message")
		m = e
	case CmdHeartbeat:
		m = &Heartbeat{}
	case CmdDisconnect:
		m = &Disconnect{Reason: d.str("reason")}
	default:
		return nil, fmt.Errorf("%w: unknown worker command 0x%02x", ErrMalformed, cmd)
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: command 0x%02x takes no data frames, got %d", ErrMalformed, cmd, len(rest))
	}
	return m, nil
}
