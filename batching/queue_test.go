package batching

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

// fakeReplicas hands out slots the test feeds through free; each batch a
// slot runs is sent to ran, and the test answers it through the batch's done.
type fakeReplicas struct {
	free chan struct{}
	ran  chan ranBatch
	err  error // if set, Acquire fails with it
	// predict is the slot's latency profile; nil: unknown.
	predict func(rows int) time.Duration
}

func (f *fakeReplicas) Predict(rows int) time.Duration {
	if f.predict == nil {
		return 0
	}
	return f.predict(rows)
}

// Typical is Predict: the fake's profile has no spread.
func (f *fakeReplicas) Typical(rows int) time.Duration { return f.Predict(rows) }

type ranBatch struct {
	b    *wire.Batch
	done func(*wire.Result, error)
}

func newFake() *fakeReplicas {
	return &fakeReplicas{free: make(chan struct{}, 16), ran: make(chan ranBatch, 16)}
}

func (f *fakeReplicas) Acquire(ctx context.Context) (Slot, error) {
	if f.err != nil {
		return nil, f.err
	}
	select {
	case <-f.free:
		return f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeReplicas) Run(b *wire.Batch, done func(*wire.Result, error)) {
	f.ran <- ranBatch{b, done}
}

func (f *fakeReplicas) Release() { f.free <- struct{}{} }

// echo answers a batch with one INT32 output that copies input 0.
func echo(rb ranBatch) {
	in := rb.b.Inputs[0]
	rb.done(&wire.Result{ComputeNS: 1000, Outputs: []wire.Tensor{{Name: "y", DataType: in.DataType, Shape: in.Shape, Data: in.Data}}}, nil)
}

func request(rows int, first int32, deadline time.Time) (*Request, chan *Request) {
	data := make([]byte, 0, 8*rows)
	for i := range rows {
		data = binary.LittleEndian.AppendUint32(data, uint32(first+int32(i)))
		data = binary.LittleEndian.AppendUint32(data, 0)
	}
	ch := make(chan *Request, 1)
	r := &Request{
		Inputs:   []wire.Tensor{{Name: "x", DataType: wire.TypeInt32, Shape: []int64{int64(rows), 2}, Data: data}},
		Rows:     rows,
		Deadline: deadline,
		Done:     func(r *Request) { ch <- r },
	}
	return r, ch
}

func newQueue(t *testing.T, maxBatch, maxQueue int, f *fakeReplicas) *Queue {
	t.Helper()
	q, err := New(Config{Model: "m", MaxBatchSize: maxBatch, MaxQueue: maxQueue}, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // answer whatever still waits at once
		q.Close(ctx)
	})
	return q
}

func firstValue(r *Request) int32 { return int32(binary.LittleEndian.Uint32(r.Outputs[0].Data)) }

func TestBatchesWhatWaitsAndSplitsOutputs(t *testing.T) {
	f := newFake()
	q := newQueue(t, 8, 0, f)
	// Three requests (1, 2 and 3 rows) queue while no replica has room.
	var chans []chan *Request
	for i, rows := range []int{1, 2, 3} {
		r, ch := request(rows, int32(100*(i+1)), time.Time{})
		if err := q.Submit(r); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	f.free <- struct{}{}
	rb := <-f.ran
	if rb.b.Rows != 6 || rb.b.Inputs[0].Shape[0] != 6 || len(rb.b.Inputs[0].Data) != 6*8 {
		t.Fatalf("batch has %d rows, shape %v; want all 6 rows joined", rb.b.Rows, rb.b.Inputs[0].Shape)
	}
	echo(rb)
	for i, ch := range chans {
		r := <-ch
		if r.Err != nil {
			t.Fatalf("request %d: %v", i, r.Err)
		}
		if got, want := r.Outputs[0].Shape[0], int64(i+1); got != want {
			t.Errorf("request %d: output rows %d, want %d", i, got, want)
		}
		if got, want := firstValue(r), int32(100*(i+1)); got != want {
			t.Errorf("request %d: got another request's output (%d, want %d)", i, got, want)
		}
		if r.Compute != time.Microsecond {
			t.Errorf("request %d: compute %v, want the batch's 1µs", i, r.Compute)
		}
	}
}

func TestBatchNeverExceedsMax(t *testing.T) {
	f := newFake()
	q := newQueue(t, 2, 0, f)
	var chans []chan *Request
	for i := range 5 {
		r, ch := request(1, int32(i), time.Time{})
		q.Submit(r)
		chans = append(chans, ch)
	}
	var sizes []uint32
	for len(sizes) < 3 {
		f.free <- struct{}{}
		rb := <-f.ran
		sizes = append(sizes, rb.b.Rows)
		echo(rb)
	}
	if sizes[0] != 2 || sizes[1] != 2 || sizes[2] != 1 {
		t.Errorf("batch sizes %v, want [2 2 1] (first come, first served)", sizes)
	}
	for i, ch := range chans {
		if r := <-ch; r.Err != nil || firstValue(r) != int32(i) {
			t.Errorf("request %d: err %v, value %d", i, r.Err, firstValue(r))
		}
	}
}

func TestExpiredRequestsAreAnsweredNotRun(t *testing.T) {
	f := newFake()
	q := newQueue(t, 8, 0, f)
	r, ch := request(1, 1, time.Now().Add(time.Millisecond))
	q.Submit(r)
	// No replica has room: the request must be answered at its deadline.
	got := <-ch
	if wire.KindOf(got.Err) != wire.KindDeadline || !errors.Is(got.Err, ErrDeadline) {
		t.Fatalf("err = %v, want ErrDeadline", got.Err)
	}
	// The slot that comes later runs nothing stale.
	f.free <- struct{}{}
	r2, ch2 := request(1, 2, time.Time{})
	q.Submit(r2)
	rb := <-f.ran
	if rb.b.Rows != 1 || firstValue(&Request{Outputs: rb.b.Inputs}) != 2 {
		t.Fatalf("ran %d rows starting %d, want only the live request", rb.b.Rows, firstValue(&Request{Outputs: rb.b.Inputs}))
	}
	echo(rb)
	<-ch2
}

func TestQueueFull(t *testing.T) {
	f := newFake()
	q := newQueue(t, 1, 2, f)
	for i := range 2 {
		r, _ := request(1, int32(i), time.Time{})
		if err := q.Submit(r); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := request(1, 9, time.Time{})
	err := q.Submit(r)
	if !errors.Is(err, ErrQueueFull) || wire.KindOf(err) != wire.KindUnavailable {
		t.Fatalf("third submit: %v, want ErrQueueFull", err)
	}
}

func TestReplicaErrorReachesEveryRequest(t *testing.T) {
	f := newFake()
	q := newQueue(t, 4, 0, f)
	var chans []chan *Request
	for i := range 3 {
		r, ch := request(1, int32(i), time.Time{})
		q.Submit(r)
		chans = append(chans, ch)
	}
	f.free <- struct{}{}
	rb := <-f.ran
	rb.done(nil, wire.Errorf(wire.KindUnavailable, "worker lost"))
	for _, ch := range chans {
		if r := <-ch; wire.KindOf(r.Err) != wire.KindUnavailable {
			t.Errorf("err = %v, want the replica's error", r.Err)
		}
	}
}

func TestWrongOutputShapeIsInternalError(t *testing.T) {
	f := newFake()
	q := newQueue(t, 4, 0, f)
	r, ch := request(2, 0, time.Time{})
	q.Submit(r)
	f.free <- struct{}{}
	rb := <-f.ran
	rb.done(&wire.Result{Outputs: []wire.Tensor{{Name: "y", DataType: wire.TypeInt32, Shape: []int64{3}, Data: make([]byte, 12)}}}, nil)
	if got := <-ch; wire.KindOf(got.Err) != wire.KindInternal {
		t.Fatalf("err = %v, want internal", got.Err)
	}
}

func TestCloseAnswersWaitingRequests(t *testing.T) {
	f := newFake()
	q, err := New(Config{Model: "m", MaxBatchSize: 1}, f)
	if err != nil {
		t.Fatal(err)
	}
	r, ch := request(1, 0, time.Time{})
	q.Submit(r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time to drain: no replica will come
	q.Close(ctx)
	if got := <-ch; !errors.Is(got.Err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", got.Err)
	}
	r2, _ := request(1, 0, time.Time{})
	if err := q.Submit(r2); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {Model: "m"}, {Model: "m", MaxBatchSize: 1, MaxQueue: -1}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestShorterDeadlineIsNotHeldByALongerOne(t *testing.T) {
	f := newFake()
	q := newQueue(t, 8, 0, f)
	long, longCh := request(1, 1, time.Now().Add(time.Hour))
	q.Submit(long)
	// No replica: the scheduler is waiting, until the hour is up. A request
	// that must be answered within 5ms arrives.
	short, shortCh := request(1, 2, time.Now().Add(5*time.Millisecond))
	q.Submit(short)
	select {
	case r := <-shortCh:
		if !errors.Is(r.Err, ErrDeadline) {
			t.Fatalf("err = %v", r.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the short request was held by the long one's wait")
	}
	select {
	case r := <-longCh:
		t.Fatalf("the long request was answered: %v", r.Err)
	default:
	}
}

func TestQueueTimeIsSetForEveryRequestOfABatch(t *testing.T) {
	f := newFake()
	q := newQueue(t, 8, 0, f)
	var chans []chan *Request
	for i, d := range []time.Time{{}, time.Now().Add(time.Hour), {}} {
		r, ch := request(1, int32(i), d)
		q.Submit(r)
		chans = append(chans, ch)
	}
	f.free <- struct{}{}
	rb := <-f.ran
	if rb.b.Deadline != 0 {
		t.Errorf("batch deadline %d: a request without one makes the batch have none", rb.b.Deadline)
	}
	echo(rb)
	for i, ch := range chans {
		if r := <-ch; r.Queued <= 0 {
			t.Errorf("request %d: queue time %v", i, r.Queued)
		}
	}
}

func TestSubmitRefusesRowsOutOfRange(t *testing.T) {
	q := newQueue(t, 4, 0, newFake())
	for _, rows := range []int{0, 5} {
		r, _ := request(1, 0, time.Time{})
		r.Rows = rows
		if err := q.Submit(r); wire.KindOf(err) != wire.KindInvalid {
			t.Errorf("%d rows: %v", rows, err)
		}
	}
}

func TestDifferentRowShapesAreNotJoined(t *testing.T) {
	f := newFake()
	q := newQueue(t, 8, 0, f)
	a, aCh := request(1, 1, time.Time{})
	b, bCh := request(1, 2, time.Time{})
	b.Inputs[0].Shape = []int64{1, 1, 2} // same bytes, another row shape
	q.Submit(a)
	q.Submit(b)
	for range 2 {
		f.free <- struct{}{}
		rb := <-f.ran
		if rb.b.Rows != 1 {
			t.Fatalf("joined rows of shapes [1 2] and [1 1 2] into %d", rb.b.Rows)
		}
		echo(rb)
	}
	<-aCh
	<-bCh
}

func TestReplicaLayerErrorFailsWaitingRequests(t *testing.T) {
	f := newFake()
	f.err = wire.Errorf(wire.KindNotFound, "unknown model")
	q := newQueue(t, 8, 0, f)
	r, ch := request(1, 1, time.Time{})
	q.Submit(r)
	if got := <-ch; wire.KindOf(got.Err) != wire.KindNotFound {
		t.Fatalf("err = %v", got.Err)
	}
}
