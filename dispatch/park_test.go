package dispatch

import (
	"context"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gannet-ml/gannet/wire"
)

// quiet asserts that the peer is sent nothing but heartbeats for a while
// (a parked worker gets no LOAD), and that it does get heartbeats, which
// it answers, as a worker does.
func (p *peer) quiet(d time.Duration) {
	p.t.Helper()
	p.sock.SetRcvtimeo(d)
	defer p.sock.SetRcvtimeo(5 * time.Second)
	beats := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		frames, err := p.sock.RecvMessageBytes(0)
		if err != nil {
			if zmq.AsErrno(err) == zmq.Errno(11) { // EAGAIN: timed out
				break
			}
			p.t.Fatal(err)
		}
		m, err := wire.DecodeWorker(frames, 0)
		if err != nil {
			p.t.Fatal(err)
		}
		if _, hb := m.(*wire.Heartbeat); !hb {
			p.t.Fatalf("parked worker was sent %T", m)
		}
		p.send(&wire.Heartbeat{})
		beats++
	}
	if beats == 0 {
		p.t.Fatal("parked worker got no heartbeat")
	}
}

func parked(d *Dispatcher) float64 {
	return testutil.ToFloat64(d.metrics.workers.WithLabelValues("parked"))
}

func waitParked(t *testing.T, d *Dispatcher, n float64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); parked(d) != n; {
		if time.Now().After(deadline) {
			t.Fatalf("parked workers = %v, want %v", parked(d), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestParkAndAssign: an announced worker asking for no model is parked
// (heartbeated, no LOAD, no replica, counted as parked); Assign sends LOAD
// and LOADED makes it a ready replica that runs batches.
func TestParkAndAssign(t *testing.T) {
	events := make(chan ReplicaEvent, 16)
	d, err := New(Config{Addr: "tcp://127.0.0.1:*", Heartbeat: 100 * time.Millisecond, Models: []Model{testModel},
		OnReplica: func(e ReplicaEvent) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := d.Park("pool-1"); err != nil {
		t.Fatal(err)
	}
	p := connectPeer(t, d.Endpoint())
	p.send(&wire.Hello{WorkerID: "pool-1", Capacity: 1})
	waitParked(t, d, 1)
	p.quiet(300 * time.Millisecond) // alive: heartbeats but no LOAD
	if ok, _ := d.Ready("m"); ok || d.Replicas("m") != 0 || len(events) != 0 {
		t.Fatalf("a parked worker counts as a replica (ready %v, replicas %d, events %d)", ok, d.Replicas("m"), len(events))
	}

	if err := d.Assign("pool-1", "nope"); err == nil {
		t.Fatal("Assign to an unknown model succeeded")
	}
	if err := d.Assign("pool-1", "m"); err != nil {
		t.Fatal(err)
	}
	load, ok := p.recv().(*wire.Load)
	if !ok || load.Model != "m" || string(load.Bytes) != "model file" {
		t.Fatalf("after Assign: %+v", load)
	}
	if parked(d) != 0 {
		t.Fatalf("parked = %v after Assign", parked(d))
	}
	p.send(&wire.Loaded{Model: load.Model, Digest: load.Digest})
	if e := <-events; e != (ReplicaEvent{Model: "m", WorkerID: "pool-1", Ready: true}) {
		t.Fatalf("event %+v", e)
	}
	ch := run(t, d)
	b := p.recv().(*wire.Batch)
	p.send(&wire.Result{ID: b.ID, Outputs: b.Inputs})
	if o := <-ch; o.err != nil {
		t.Fatal(o.err)
	}
	// Assigning it again to the model it has is a no-op.
	if err := d.Assign("pool-1", "m"); err != nil {
		t.Fatalf("Assign to the model it has: %v", err)
	}
}

// TestAssignBeforeHello: a worker assigned before it says HELLO (its
// process still starting) is placed on the model at HELLO, and so again
// when it reconnects, until Drain forgets it.
func TestAssignBeforeHello(t *testing.T) {
	d := newDispatcher(t, testModel, Model{Name: "other", File: []byte("other"), MaxBatchSize: 1})
	if err := d.Park("pool-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Assign("pool-1", "other"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // first session, then a reconnect (HELLO again)
		p := connectPeer(t, d.Endpoint())
		if load := register(t, p, &wire.Hello{WorkerID: "pool-1", Capacity: 1}); load.Model != "other" {
			t.Fatalf("assigned worker loaded %q", load.Model)
		}
		waitReady(t, d, "other", true)
		p.send(&wire.Disconnect{Reason: "reconnecting"})
		waitReady(t, d, "other", false)
	}
	<-d.Drain("pool-1")
	// Forgotten: placed as a worker started by hand ("m": fewest replicas).
	p := connectPeer(t, d.Endpoint())
	if load := register(t, p, &wire.Hello{WorkerID: "pool-1", Capacity: 1}); load.Model != "m" {
		t.Fatalf("after Drain, worker loaded %q", load.Model)
	}
}

// TestUnannouncedWorkersAreNotParked: a worker whose id Park never named
// is placed at once (today's rule, pool or not), and a parked worker that
// asks for a model is placed on it.
func TestUnannouncedWorkersAreNotParked(t *testing.T) {
	d := newDispatcher(t, testModel, Model{Name: "other", File: []byte("other"), MaxBatchSize: 1})
	if err := d.Park("pool-1"); err != nil {
		t.Fatal(err)
	}
	p := connectPeer(t, d.Endpoint())
	register(t, p, &wire.Hello{WorkerID: "by-hand", Capacity: 1})
	waitReady(t, d, "m", true)
	p2 := connectPeer(t, d.Endpoint())
	if load := register(t, p2, &wire.Hello{WorkerID: "pool-1", Capacity: 1, Model: "m"}); load.Model != "m" {
		t.Fatalf("LOAD %+v", load)
	}
	if parked(d) != 0 {
		t.Fatalf("parked = %v", parked(d))
	}
	// Assign does not move a worker placed on a model.
	if err := d.Assign("by-hand", "other"); err == nil {
		t.Fatal("Assign moved a worker placed on another model")
	}
	if err := d.Assign("by-hand", "m"); err != nil {
		t.Fatalf("Assign to its own model: %v", err)
	}
}

// TestParkedWorkerLost: a parked worker that goes silent is removed like
// any other, touching no model; the one that replaces it (same id) is
// parked again.
func TestParkedWorkerLost(t *testing.T) {
	d := newDispatcher(t, testModel)
	if err := d.Park("pool-1"); err != nil {
		t.Fatal(err)
	}
	p := connectPeer(t, d.Endpoint())
	p.send(&wire.Hello{WorkerID: "pool-1", Capacity: 1})
	waitParked(t, d, 1)
	p.sock.Close() // silent from now on
	waitParked(t, d, 0)
	if n := testutil.ToFloat64(d.metrics.lost.WithLabelValues("heartbeat")); n != 1 {
		t.Fatalf("lost{heartbeat} = %v", n)
	}
	p2 := connectPeer(t, d.Endpoint())
	p2.send(&wire.Hello{WorkerID: "pool-1", Capacity: 1})
	waitParked(t, d, 1)
	// A drained parked worker is drained at once.
	select {
	case <-d.Drain("pool-1"):
	case <-time.After(5 * time.Second):
		t.Fatal("draining a parked worker did not return")
	}
}

// TestOnStarved: Acquire tells OnStarved when it must wait for a model
// with no ready replica, and not when a replica is ready.
func TestOnStarved(t *testing.T) {
	starved := make(chan string, 16)
	d, err := New(Config{Addr: "tcp://127.0.0.1:*", Heartbeat: 20 * time.Millisecond, Models: []Model{testModel},
		OnStarved: func(m string) { starved <- m }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := d.Acquire(ctx, "m"); err == nil {
		t.Fatal("Acquire without a replica succeeded")
	}
	if m := <-starved; m != "m" {
		t.Fatalf("starved %q", m)
	}
	p := connectPeer(t, d.Endpoint())
	register(t, p, &wire.Hello{WorkerID: "w1", Capacity: 1})
	waitReady(t, d, "m", true)
	ch := run(t, d)
	b := p.recv().(*wire.Batch)
	p.send(&wire.Result{ID: b.ID, Outputs: b.Inputs})
	<-ch
	if len(starved) != 0 {
		t.Fatalf("OnStarved called with a ready replica")
	}
}
