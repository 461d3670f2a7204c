package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// TestDrain: a drained worker stops counting as a replica and gets no new
// batch; its channel closes once its batch in flight is answered, and a
// slot taken before the drain runs its batch on the other replica.
func TestDrain(t *testing.T) {
	events := make(chan ReplicaEvent, 16)
	d, err := New(Config{Addr: "tcp://127.0.0.1:*", Heartbeat: time.Second, Models: []Model{testModel}, // peers that never beat stay alive
		OnReplica: func(e ReplicaEvent) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	p1 := connectPeer(t, d.Endpoint())
	register(t, p1, &wire.Hello{WorkerID: "w1", Capacity: 2})
	if e := <-events; e != (ReplicaEvent{Model: "m", WorkerID: "w1", Ready: true}) {
		t.Fatalf("event %+v", e)
	}
	ch := run(t, d)
	b := p1.recv().(*wire.Batch)
	held, err := d.Acquire(context.Background(), "m") // w1's second slot, taken before the drain
	if err != nil {
		t.Fatal(err)
	}

	drained := d.Drain("w1")
	if e := <-events; e != (ReplicaEvent{Model: "m", WorkerID: "w1", Ready: false}) {
		t.Fatalf("event %+v", e)
	}
	if n := d.Replicas("m"); n != 0 {
		t.Fatalf("Replicas = %d while draining, want 0", n)
	}
	select {
	case <-drained:
		t.Fatal("drained with a batch in flight")
	case <-time.After(30 * time.Millisecond):
	}
	// The held slot's batch waits for another replica: w2.
	ch2 := make(chan outcome, 1)
	held.Run(batch(), func(r *wire.Result, err error) { ch2 <- outcome{r, err} })
	p2 := connectPeer(t, d.Endpoint())
	register(t, p2, &wire.Hello{WorkerID: "w2", Capacity: 1})
	b2 := p2.recv().(*wire.Batch)
	p2.send(&wire.Result{ID: b2.ID, ComputeNS: 2, Outputs: b2.Inputs})
	if o := <-ch2; o.err != nil {
		t.Fatalf("batch of a slot held across the drain: %v", o.err)
	}
	// w1 answers its batch: drained.
	p1.send(&wire.Result{ID: b.ID, ComputeNS: 1, Outputs: b.Inputs})
	if o := <-ch; o.err != nil {
		t.Fatal(o.err)
	}
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("not drained after its last batch was answered")
	}
	// New batches go to w2 only.
	ch3 := run(t, d)
	b3 := p2.recv().(*wire.Batch)
	p2.send(&wire.Result{ID: b3.ID, Outputs: b3.Inputs})
	if o := <-ch3; o.err != nil {
		t.Fatal(o.err)
	}
	// An unknown worker is drained at once.
	select {
	case <-d.Drain("nobody"):
	case <-time.After(5 * time.Second):
		t.Fatal("draining an unknown worker did not return")
	}
}
