package dispatch

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gannet-ml/gannet/wire"
)

// peer is a worker seen from the wire: a real DEALER socket that the test
// drives by hand, speaking the worker protocol.
type peer struct {
	t    *testing.T
	sock *zmq.Socket
}

func connectPeer(t *testing.T, endpoint string) *peer {
	t.Helper()
	s, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	s.SetLinger(0)
	s.SetRcvtimeo(5 * time.Second)
	if err := s.Connect(endpoint); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &peer{t: t, sock: s}
}

func (p *peer) send(m wire.WorkerMessage) {
	p.t.Helper()
	frames := m.AppendFrames(nil)
	for i, f := range frames {
		flag := zmq.Flag(0)
		if i < len(frames)-1 {
			flag = zmq.SNDMORE
		}
		if _, err := p.sock.SendBytes(f, flag); err != nil {
			p.t.Fatal(err)
		}
	}
}

// recv returns the next message that is not a heartbeat.
func (p *peer) recv() wire.WorkerMessage {
	p.t.Helper()
	return p.next(false)
}

// recvLive is recv for a live worker: it answers each heartbeat while it
// waits, so the dispatcher does not declare it dead before the message
// comes.
func (p *peer) recvLive() wire.WorkerMessage {
	p.t.Helper()
	return p.next(true)
}

// next returns the next message that is not a heartbeat, answering the
// heartbeats on the way if beat.
func (p *peer) next(beat bool) wire.WorkerMessage {
	p.t.Helper()
	for {
		frames, err := p.sock.RecvMessageBytes(0)
		if err != nil {
			p.t.Fatalf("peer recv: %v", err)
		}
		m, err := wire.DecodeWorker(frames, 0)
		if err != nil {
			p.t.Fatal(err)
		}
		if _, hb := m.(*wire.Heartbeat); !hb {
			return m
		}
		if beat {
			p.send(&wire.Heartbeat{})
		}
	}
}

var testModel = Model{Name: "m", Version: "1", File: []byte("model file"), MaxBatchSize: 4}

func newDispatcher(t *testing.T, models ...Model) *Dispatcher {
	t.Helper()
	d, err := New(Config{Addr: "tcp://127.0.0.1:*", Heartbeat: 20 * time.Millisecond, Models: models})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// register says HELLO and LOADED, and returns the LOAD it was sent.
func register(t *testing.T, p *peer, hello *wire.Hello) *wire.Load {
	t.Helper()
	p.send(hello)
	load, ok := p.recv().(*wire.Load)
	if !ok {
		t.Fatal("no LOAD after HELLO")
	}
	p.send(&wire.Loaded{Model: load.Model, Digest: load.Digest})
	return load
}

func waitReady(t *testing.T, d *Dispatcher, model string, want bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ok, _ := d.Ready(model); ok == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("model %q ready != %v", model, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func batch() *wire.Batch {
	return &wire.Batch{Model: "m", Rows: 1, Inputs: []wire.Tensor{{Name: "x", DataType: wire.TypeUint8, Shape: []int64{1, 2}, Data: []byte{1, 2}}}}
}

type outcome struct {
	res *wire.Result
	err error
}

func run(t *testing.T, d *Dispatcher) chan outcome {
	t.Helper()
	slot, err := d.Acquire(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan outcome, 1)
	slot.Run(batch(), func(r *wire.Result, err error) { ch <- outcome{r, err} })
	return ch
}

func TestModelIsShippedOnlyWhenNotCached(t *testing.T) {
	d := newDispatcher(t, testModel)
	p := connectPeer(t, d.Endpoint())
	load := register(t, p, &wire.Hello{WorkerID: "w1", Capacity: 1, Model: "m"})
	if string(load.Bytes) != "model file" || load.Digest != sha256.Sum256(testModel.File) || load.MaxBatchSize != 4 {
		t.Fatalf("LOAD = %+v", load)
	}
	waitReady(t, d, "m", true)

	// A worker that holds the file already gets only its digest.
	p2 := connectPeer(t, d.Endpoint())
	load2 := register(t, p2, &wire.Hello{WorkerID: "w2", Capacity: 1, Cached: [][32]byte{sha256.Sum256(testModel.File)}})
	if load2.Bytes != nil {
		t.Fatalf("model resent to a worker that has it")
	}
}

func TestBatchRoundTrip(t *testing.T) {
	d := newDispatcher(t, testModel)
	p := connectPeer(t, d.Endpoint())
	register(t, p, &wire.Hello{WorkerID: "w1", Capacity: 1})
	waitReady(t, d, "m", true)

	ch := run(t, d)
	b, ok := p.recv().(*wire.Batch)
	if !ok || b.Rows != 1 || string(b.Inputs[0].Data) != "\x01\x02" {
		t.Fatalf("worker got %+v", b)
	}
	// Capacity 1: no second slot until the first batch is answered.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := d.Acquire(ctx, "m"); err == nil {
		t.Fatal("a second slot on a worker of capacity 1")
	}
	cancel()
	p.send(&wire.Result{ID: b.ID, ComputeNS: 7, Outputs: b.Inputs})
	o := <-ch
	if o.err != nil || o.res.ComputeNS != 7 {
		t.Fatalf("result %+v, %v", o.res, o.err)
	}
	// The slot is back.
	ch = run(t, d)
	b2 := p.recv().(*wire.Batch)
	p.send(&wire.BatchError{ID: b2.ID, Kind: wire.KindInternal, Message: "kernel failed"})
	if o := <-ch; wire.KindOf(o.err) != wire.KindInternal || o.err.Error() != "kernel failed" {
		t.Fatalf("error %v, want the worker's", o.err)
	}
}

func runWithDeadline(t *testing.T, d *Dispatcher, deadline time.Time) chan outcome {
	t.Helper()
	slot, err := d.Acquire(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan outcome, 1)
	b := batch()
	b.Deadline = deadline.UnixNano()
	slot.Run(b, func(r *wire.Result, err error) { ch <- outcome{r, err} })
	return ch
}

func TestSilentWorkerIsDeclaredDeadAndNoOneElseCanRunItsBatch(t *testing.T) {
	d := newDispatcher(t, testModel)
	p := connectPeer(t, d.Endpoint())
	register(t, p, &wire.Hello{WorkerID: "w1", Capacity: 1})
	waitReady(t, d, "m", true)
	ch := runWithDeadline(t, d, time.Now().Add(500*time.Millisecond))
	b := p.recv().(*wire.Batch)
	// The peer now says nothing: after 3 heartbeat intervals it is dead.
	// Its batch waits for another replica, and none comes before the
	// deadline.
	o := <-ch
	if wire.KindOf(o.err) != wire.KindDeadline {
		t.Fatalf("batch on a dead worker, no other replica: %v, want deadline", o.err)
	}
	waitReady(t, d, "m", false)
	if _, why := d.Ready("m"); why == "" {
		t.Error("no reason for not being ready")
	}
	// Its late reply is not delivered twice; anything it says now gets
	// DISCONNECT, so it registers again.
	p.send(&wire.Result{ID: b.ID, Outputs: b.Inputs})
	if _, ok := p.recv().(*wire.Disconnect); !ok {
		t.Fatal("an unregistered worker was not told to DISCONNECT")
	}
	select {
	case o := <-ch:
		t.Fatalf("the batch was answered twice: %+v", o)
	default:
	}
}

func TestLostBatchRunsOnAnotherReplica(t *testing.T) {
	d := newDispatcher(t, testModel)
	p1 := connectPeer(t, d.Endpoint())
	register(t, p1, &wire.Hello{WorkerID: "w1", Capacity: 1, HeartbeatMS: 20})
	waitReady(t, d, "m", true)
	ch := runWithDeadline(t, d, time.Now().Add(time.Minute))
	lost := p1.recv().(*wire.Batch)
	// w1 dies with the batch (it says nothing more); w2 joins meanwhile
	// and answers its heartbeats, so only w1 is declared dead.
	p2 := connectPeer(t, d.Endpoint())
	register(t, p2, &wire.Hello{WorkerID: "w2", Capacity: 1})
	var again *wire.Batch
	for again == nil {
		frames, err := p2.sock.RecvMessageBytes(0)
		if err != nil {
			t.Fatal(err)
		}
		switch m, _ := wire.DecodeWorker(frames, 0); m := m.(type) {
		case *wire.Heartbeat:
			p2.send(&wire.Heartbeat{})
		case *wire.Batch:
			again = m
		}
	}
	if again.ID == lost.ID || string(again.Inputs[0].Data) != string(lost.Inputs[0].Data) {
		t.Fatalf("re-dispatched batch %d %v, lost %d %v", again.ID, again.Inputs, lost.ID, lost.Inputs)
	}
	p2.send(&wire.Result{ID: again.ID, ComputeNS: 5, Outputs: again.Inputs})
	if o := <-ch; o.err != nil || o.res.ComputeNS != 5 {
		t.Fatalf("re-dispatched batch: %+v %v", o.res, o.err)
	}
	// w1's late reply to the first attempt is dropped, not delivered.
	p1.send(&wire.Result{ID: lost.ID, Outputs: lost.Inputs})
	select {
	case o := <-ch:
		t.Fatalf("answered twice: %+v", o)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestBatchLostTwiceFails(t *testing.T) {
	d := newDispatcher(t, testModel)
	ch := make(chan outcome, 1)
	for i := range 2 {
		p := connectPeer(t, d.Endpoint())
		register(t, p, &wire.Hello{WorkerID: "w", Capacity: 1})
		if i == 0 {
			waitReady(t, d, "m", true)
			ch = runWithDeadline(t, d, time.Now().Add(time.Minute))
		}
		// The batch (first attempt, then the re-dispatch); then silence. Each
		// peer answers heartbeats until its batch comes: a second peer as
		// silent as the first could be declared dead in the same tick, before
		// the re-dispatch reaches it, and the batch would wait for a replica.
		p.recvLive()
	}
	if o := <-ch; wire.KindOf(o.err) != wire.KindUnavailable || !strings.Contains(o.err.Error(), "not retried again") {
		t.Fatalf("batch lost twice: %v", o.err)
	}
}

func TestLoadFailureIsReported(t *testing.T) {
	d := newDispatcher(t, testModel)
	p := connectPeer(t, d.Endpoint())
	p.send(&wire.Hello{WorkerID: "w1", Capacity: 1})
	load := p.recv().(*wire.Load)
	p.send(&wire.Loaded{Model: load.Model, Digest: load.Digest, Kind: wire.KindInvalid, Message: `node "n" (Foo): unsupported op`})
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, why := d.Ready("m")
		if strings.Contains(why, "unsupported op") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reason %q does not carry the worker's error", why)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWorkersArePlacedOnTheLeastServedModel(t *testing.T) {
	a, b := testModel, testModel
	a.Name, b.Name = "a", "b"
	b.File = []byte("other")
	d := newDispatcher(t, a, b)
	var got []string
	for i := range 4 {
		p := connectPeer(t, d.Endpoint())
		p.send(&wire.Hello{WorkerID: "w" + string(rune('0'+i)), Capacity: 1})
		got = append(got, p.recv().(*wire.Load).Model)
	}
	if got[0] == got[1] || got[2] == got[3] {
		t.Fatalf("placements %v, want models alternating", got)
	}
}
