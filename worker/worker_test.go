package worker

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/internal/fmnist"
	"github.com/gannet-ml/gannet/wire"
)

// frontend is the server side of the worker protocol, driven by hand over a
// real ROUTER socket.
type frontend struct {
	t    *testing.T
	sock *zmq.Socket
	peer []byte // the worker's routing id
}

func newFrontend(t *testing.T) (*frontend, string) {
	t.Helper()
	s, err := zmq.NewSocket(zmq.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	s.SetLinger(0)
	s.SetRcvtimeo(20 * time.Second)
	if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ep, _ := s.GetLastEndpoint()
	return &frontend{t: t, sock: s}, ep
}

// recv returns the worker's next message other than a heartbeat.
func (f *frontend) recv() wire.WorkerMessage {
	f.t.Helper()
	for {
		frames, err := f.sock.RecvMessageBytes(0)
		if err != nil {
			f.t.Fatalf("frontend recv: %v", err)
		}
		f.peer = frames[0]
		m, err := wire.DecodeWorker(frames[1:], 0)
		if err != nil {
			f.t.Fatal(err)
		}
		if _, hb := m.(*wire.Heartbeat); !hb {
			return m
		}
		f.send(&wire.Heartbeat{})
	}
}

func (f *frontend) send(m wire.WorkerMessage) {
	f.t.Helper()
	frames := m.AppendFrames([][]byte{f.peer})
	for i, fr := range frames {
		flag := zmq.Flag(0)
		if i < len(frames)-1 {
			flag = zmq.SNDMORE
		}
		if _, err := f.sock.SendBytes(fr, flag); err != nil {
			f.t.Fatal(err)
		}
	}
}

func TestWorkerProtocol(t *testing.T) {
	file, err := os.ReadFile("../testdata/models/fashion-mnist-mlp/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(file)
	fe, ep := newFrontend(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		ran <- Run(ctx, Config{Connect: ep, Model: "mlp", Capacity: 2, Heartbeat: 100 * time.Millisecond, ID: "w-test"})
	}()
	finished := false
	defer func() {
		cancel()
		if !finished {
			<-ran
		}
	}()

	hello, ok := fe.recv().(*wire.Hello)
	if !ok || hello.WorkerID != "w-test" || hello.Capacity != 2 || hello.Model != "mlp" || !strings.HasPrefix(hello.Device, "cpu") || len(hello.Cached) != 0 {
		t.Fatalf("HELLO = %+v", hello)
	}

	// A file that does not match its digest is refused.
	fe.send(&wire.Load{Model: "mlp", Version: "1", Digest: digest, MaxBatchSize: 8, Bytes: file[:100]})
	if l := fe.recv().(*wire.Loaded); l.Kind != wire.KindInvalid || !strings.Contains(l.Message, "digest") {
		t.Fatalf("LOADED for a corrupt file = %+v", l)
	}
	fe.send(&wire.Load{Model: "mlp", Version: "1", Digest: digest, MaxBatchSize: 8, Bytes: file})
	if l := fe.recv().(*wire.Loaded); l.Kind != 0 || l.Message != "" || l.Digest != digest {
		t.Fatalf("LOADED = %+v", l)
	}

	// A batch of three real images comes back with PyTorch's logits.
	pixels, _, err := fmnist.TestImages(fmnist.DefaultDir, 3)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, img := range pixels {
		for _, v := range img {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	}
	in := wire.Tensor{Name: "input", DataType: wire.TypeFP32, Shape: []int64{3, 1, 28, 28}, Data: data}
	fe.send(&wire.Batch{ID: 9, Model: "mlp", Rows: 3, Inputs: []wire.Tensor{in}})
	res, ok := fe.recv().(*wire.Result)
	if !ok || res.ID != 9 || len(res.Outputs) != 1 || res.ComputeNS <= 0 {
		t.Fatalf("RESULT = %+v", res)
	}
	out := res.Outputs[0]
	if out.Name != "logits" || out.DataType != wire.TypeFP32 || len(out.Shape) != 2 || out.Shape[0] != 3 || out.Shape[1] != 10 {
		t.Fatalf("output %v %v %v", out.Name, out.DataType, out.Shape)
	}
	ref, err := os.ReadFile("../testdata/reference/fashion-mnist-mlp.logits.f32")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		got := math.Float32frombits(binary.LittleEndian.Uint32(out.Data[4*i:]))
		want := math.Float32frombits(binary.LittleEndian.Uint32(ref[4*i:]))
		if math.Abs(float64(got-want)) > 1e-4 {
			t.Fatalf("logit %d = %v, PyTorch %v", i, got, want)
		}
	}

	// A batch whose deadline has passed is not run.
	fe.send(&wire.Batch{ID: 10, Model: "mlp", Rows: 3, Deadline: time.Now().Add(-time.Second).UnixNano(), Inputs: []wire.Tensor{in}})
	if e, ok := fe.recv().(*wire.BatchError); !ok || e.ID != 10 || e.Kind != wire.KindDeadline {
		t.Fatalf("late batch: %+v", e)
	}
	// Nor one for a model it does not host, or with too many rows.
	fe.send(&wire.Batch{ID: 11, Model: "other", Rows: 1, Inputs: []wire.Tensor{in}})
	if e, ok := fe.recv().(*wire.BatchError); !ok || e.ID != 11 || e.Kind != wire.KindUnavailable {
		t.Fatalf("batch for another model: %+v", e)
	}
	nine := wire.Tensor{Name: "input", DataType: wire.TypeFP32, Shape: []int64{9, 1, 28, 28}, Data: make([]byte, 9*784*4)}
	fe.send(&wire.Batch{ID: 13, Model: "mlp", Rows: 9, Inputs: []wire.Tensor{nine}})
	if e, ok := fe.recv().(*wire.BatchError); !ok || e.ID != 13 || e.Kind != wire.KindInvalid || !strings.Contains(e.Message, "max 8") {
		t.Fatalf("batch over max_batch_size: %+v", e)
	}

	// DISCONNECT: the worker reconnects on a new socket and says HELLO
	// again, listing the model it holds so it need not be resent.
	fe.send(&wire.Disconnect{Reason: "test"})
	hello2, ok := fe.recv().(*wire.Hello)
	if !ok || len(hello2.Cached) != 1 || hello2.Cached[0] != digest {
		t.Fatalf("HELLO after DISCONNECT = %+v", hello2)
	}
	fe.send(&wire.Load{Model: "mlp", Version: "1", Digest: digest, MaxBatchSize: 8})
	if l := fe.recv().(*wire.Loaded); l.Kind != 0 {
		t.Fatalf("LOADED from cache = %+v", l)
	}
	// A larger max_batch_size (a restarted frontend with a new config) is
	// compiled from the file the worker holds, and bigger batches run.
	fe.send(&wire.Load{Model: "mlp", Version: "1", Digest: digest, MaxBatchSize: 16})
	if l := fe.recv().(*wire.Loaded); l.Kind != 0 {
		t.Fatalf("LOADED for a new batch size = %+v", l)
	}
	big := wire.Tensor{Name: "input", DataType: wire.TypeFP32, Shape: []int64{12, 1, 28, 28}, Data: make([]byte, 12*784*4)}
	fe.send(&wire.Batch{ID: 12, Model: "mlp", Rows: 12, Inputs: []wire.Tensor{big}})
	if r, ok := fe.recv().(*wire.Result); !ok || r.Outputs[0].Shape[0] != 12 {
		t.Fatalf("batch of 12 after the new LOAD: %+v", r)
	}

	// Shutdown: the worker says goodbye and Run returns nil.
	cancel()
	if d, ok := fe.recv().(*wire.Disconnect); !ok || !strings.Contains(d.Reason, "shutting down") {
		t.Fatalf("no DISCONNECT on shutdown: %+v", d)
	}
	finished = true
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestWorkerReconnectsWhenTheFrontendIsSilent(t *testing.T) {
	fe, ep := newFrontend(t)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- Run(ctx, Config{Connect: ep, Heartbeat: 20 * time.Millisecond, ID: "w"}) }()
	defer func() {
		cancel()
		<-ran
	}()
	first := fe.recv().(*wire.Hello)
	// Say nothing: after 3 intervals the worker gives up on this socket
	// and says HELLO again from a new one.
	frames, err := fe.sock.RecvMessageBytes(0)
	for err == nil {
		if m, _ := wire.DecodeWorker(frames[1:], 0); m != nil {
			if h, ok := m.(*wire.Hello); ok {
				if h.WorkerID != first.WorkerID || string(frames[0]) == string(fe.peer) {
					t.Fatalf("second HELLO %+v from the same socket", h)
				}
				return
			}
		}
		frames, err = fe.sock.RecvMessageBytes(0)
	}
	t.Fatal(err)
}

func TestBuckets(t *testing.T) {
	tests := []struct {
		max  int
		want []int
	}{{1, []int{1}}, {2, []int{1, 2}}, {32, []int{1, 2, 4, 8, 16, 32}}, {12, []int{1, 2, 4, 8, 12}}}
	for _, tt := range tests {
		got := Buckets(tt.max)
		if len(got) != len(tt.want) {
			t.Fatalf("Buckets(%d) = %v, want %v", tt.max, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("Buckets(%d) = %v, want %v", tt.max, got, tt.want)
			}
		}
	}
}
