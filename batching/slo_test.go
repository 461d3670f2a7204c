package batching

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/wire"
)

func newQueueWith(t *testing.T, cfg Config, f *fakeReplicas) *Queue {
	t.Helper()
	cfg.Model = "m"
	q, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		q.Close(ctx)
	})
	return q
}

func TestStrictPriorityThenEarliestDeadline(t *testing.T) {
	f := newFake()
	q := newQueue(t, 1, 0, f)
	now := time.Now()
	type sub struct {
		value    int32
		priority int64
		deadline time.Duration
	}
	// Submitted in this order while no replica has room.
	subs := []sub{{1, 0, time.Hour}, {2, 2, 2 * time.Hour}, {3, 2, time.Hour}, {4, 1, 3 * time.Hour}, {5, 0, 30 * time.Minute}}
	var chans []chan *Request
	for _, s := range subs {
		r, ch := request(1, s.value, now.Add(s.deadline))
		r.Priority = s.priority
		if err := q.Submit(r); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	var order []int32
	for range subs {
		f.free <- struct{}{}
		rb := <-f.ran
		order = append(order, firstValue(&Request{Outputs: rb.b.Inputs}))
		echo(rb)
	}
	want := []int32{4, 3, 2, 5, 1} // level 1, level 2 by deadline, then unset by deadline
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("served %v, want %v", order, want)
		}
	}
	for _, ch := range chans {
		<-ch
	}
}

func TestAdmissionRefusesWhatWouldMissItsDeadline(t *testing.T) {
	f := newFake()
	q := newQueue(t, 4, 0, f)
	q.Profile().Seed(1, 50*ms) // a batch of one takes 50ms on this model
	r, ch := request(1, 1, time.Now().Add(10*ms))
	err := q.Submit(r)
	if !errors.Is(err, ErrWouldMiss) || wire.KindOf(err) != wire.KindUnavailable {
		t.Fatalf("Submit = %v, want ErrWouldMiss (503)", err)
	}
	select {
	case <-ch:
		t.Fatal("a refused request was also answered through Done")
	default:
	}
	// With time enough it is taken.
	ok, okCh := request(1, 2, time.Now().Add(time.Second))
	if err := q.Submit(ok); err != nil {
		t.Fatalf("a request with 1s to go: %v", err)
	}
	f.free <- struct{}{}
	echo(<-f.ran)
	if got := <-okCh; got.Err != nil {
		t.Fatal(got.Err)
	}
}

func TestAdmissionCountsTheQueueAhead(t *testing.T) {
	f := newFake()
	q := newQueue(t, 2, 0, f)
	q.Profile().Seed(2, 10*ms) // 10ms per batch of two, one replica
	deadline := time.Now().Add(45 * ms)
	accepted := 0
	for i := range 20 {
		r, _ := request(1, int32(i), deadline)
		if err := q.Submit(r); err != nil {
			if !errors.Is(err, ErrWouldMiss) {
				t.Fatal(err)
			}
			break
		}
		accepted++
	}
	// Four batches of two (40ms) fit before the deadline; the ninth
	// request would need a fifth batch.
	if accepted < 6 || accepted > 8 {
		t.Fatalf("accepted %d requests with 45ms to go at 10ms per batch of 2, want about 8", accepted)
	}
}

func TestQueueShedsWhatCanNoLongerMakeIt(t *testing.T) {
	f := newFake()
	f.predict = linear(30*ms, 0) // this replica needs 30ms for any batch
	q := newQueue(t, 4, 0, f)
	r, ch := request(1, 1, time.Now().Add(20*ms))
	q.Submit(r)
	f.free <- struct{}{}
	got := <-ch
	if !errors.Is(got.Err, ErrWouldMiss) {
		t.Fatalf("err = %v, want ErrWouldMiss", got.Err)
	}
	select {
	case rb := <-f.ran:
		t.Fatalf("ran a batch of %d rows that could not meet its deadline", rb.b.Rows)
	default:
	}
}

func TestBatchIsTheLargestThatMeetsTheTightestDeadline(t *testing.T) {
	f := newFake()
	f.predict = linear(2*ms, 10*ms) // 12ms for one, 22ms for two, 42ms for four
	q := newQueue(t, 8, 0, f)
	deadline := time.Now().Add(time.Second)
	var chans []chan *Request
	for i := range 6 {
		d := deadline
		if i == 3 {
			d = time.Now().Add(35 * ms) // room for a batch of two or three, not four
		}
		r, ch := request(1, int32(i), d)
		q.Submit(r)
		chans = append(chans, ch)
	}
	f.free <- struct{}{}
	rb := <-f.ran
	if rb.b.Rows < 2 || rb.b.Rows > 3 {
		t.Fatalf("first batch has %d rows, want 2 or 3 (40ms+ would miss the 35ms deadline)", rb.b.Rows)
	}
	if v := firstValue(&Request{Outputs: rb.b.Inputs}); v != 3 {
		t.Fatalf("first batch starts with request %d, want the tight one (3) first", v)
	}
	echo(rb)
	drain(t, f, chans)
}

// drain gives the queue slots and answers its batches until every request
// of chans is answered without error.
func drain(t *testing.T, f *fakeReplicas, chans []chan *Request) {
	t.Helper()
	for i, ch := range chans {
		for done := false; !done; {
			select {
			case r := <-ch:
				if r.Err != nil {
					t.Errorf("request %d: %v", i, r.Err)
				}
				done = true
			case f.free <- struct{}{}:
			case rb := <-f.ran:
				echo(rb)
			}
		}
	}
}

func TestSLOSetsTheDeadline(t *testing.T) {
	f := newFake()
	q := newQueueWith(t, Config{MaxBatchSize: 4, SLO: 5 * ms}, f)
	r, ch := request(1, 1, time.Time{}) // no deadline of its own
	start := time.Now()
	q.Submit(r)
	got := <-ch // no replica ever comes
	if !errors.Is(got.Err, ErrDeadline) {
		t.Fatalf("err = %v, want ErrDeadline from the 5ms SLO", got.Err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answered after %v", took)
	}
	if r.Deadline.Sub(r.enqueued) != 5*ms {
		t.Fatalf("deadline %v after arrival, want the SLO", r.Deadline.Sub(r.enqueued))
	}
}

func TestFixedDelayHoldsTheSlot(t *testing.T) {
	f := newFake()
	q := newQueueWith(t, Config{MaxBatchSize: 4, Policy: FixedDelay{Delay: 50 * ms}}, f)
	f.free <- struct{}{}
	a, aCh := request(1, 1, time.Time{})
	q.Submit(a)
	b, bCh := request(1, 2, time.Time{})
	q.Submit(b) // within the delay: joins the same batch
	rb := <-f.ran
	if rb.b.Rows != 2 {
		t.Fatalf("batch of %d, want both requests within the 50ms delay", rb.b.Rows)
	}
	echo(rb)
	<-aCh
	<-bCh
}

func TestAStaleProfileDoesNotRefuseForEver(t *testing.T) {
	f := newFake()
	q := newQueueWith(t, Config{MaxBatchSize: 4, ProbeAfter: 20 * ms}, f)
	q.Profile().Seed(1, 50*ms) // a slow spell: 50ms per batch
	r, _ := request(1, 1, time.Now().Add(10*ms))
	if err := q.Submit(r); !errors.Is(err, ErrWouldMiss) {
		t.Fatalf("Submit = %v, want ErrWouldMiss while the profile is fresh", err)
	}
	// No answer comes (everything is refused), so after ProbeAfter the
	// queue lets a request through to measure again.
	var ch chan *Request
	for start := time.Now(); ; {
		var r *Request
		r, ch = request(1, 2, time.Now().Add(time.Second))
		r.Deadline = time.Now().Add(10 * ms)
		if err := q.Submit(r); err == nil {
			break
		} else if time.Since(start) > 5*time.Second {
			t.Fatalf("still refusing after 5s: %v", err)
		}
		time.Sleep(ms)
	}
	f.free <- struct{}{}
	echo(<-f.ran)
	if got := <-ch; got.Err != nil {
		t.Fatalf("the probe request: %v", got.Err)
	}
}

// countedReplicas is fakeReplicas that says how many replicas there are.
type countedReplicas struct {
	*fakeReplicas
	n int
}

func (c countedReplicas) Count() int { return c.n }

func TestColdModelHoldsRequestsPastTheSLO(t *testing.T) {
	f := newFake()
	q, err := New(Config{Model: "m", MaxBatchSize: 4, SLO: 5 * ms}, countedReplicas{f, 0})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close(context.Background())
	r, ch := request(1, 1, time.Now().Add(time.Minute))
	if err := q.Submit(r); err != nil {
		t.Fatal(err)
	}
	if r.Deadline.Sub(r.enqueued) < time.Second {
		t.Fatalf("deadline capped to %v by the SLO while no replica is up", r.Deadline.Sub(r.enqueued))
	}
	f.free <- struct{}{} // the first replica comes up
	echo(<-f.ran)
	if got := <-ch; got.Err != nil {
		t.Fatal(got.Err)
	}
}

func TestItemsDroppedByTheWorkerAreAnsweredLate(t *testing.T) {
	f := newFake()
	q := newQueue(t, 8, 0, f)
	var chans []chan *Request
	for i := range 3 {
		r, ch := request(1+i%2, int32(10*i), time.Now().Add(time.Hour)) // 1, 2 and 1 rows
		q.Submit(r)
		chans = append(chans, ch)
	}
	f.free <- struct{}{}
	rb := <-f.ran
	if len(rb.b.Items) != 3 || rb.b.Items[1].Rows != 2 || rb.b.Items[0].Deadline == 0 {
		t.Fatalf("batch items %+v, want the three requests with their deadlines", rb.b.Items)
	}
	// The worker dropped the middle item (2 rows): the outputs hold the
	// first and last requests' rows only.
	in := rb.b.Inputs[0]
	rowBytes := len(in.Data) / 4
	data := append(append([]byte{}, in.Data[:rowBytes]...), in.Data[3*rowBytes:]...)
	rb.done(&wire.Result{ComputeNS: 1000, Dropped: []uint16{1},
		Outputs: []wire.Tensor{{Name: "y", DataType: in.DataType, Shape: []int64{2, 2}, Data: data}}}, nil)
	got := []*Request{<-chans[0], <-chans[1], <-chans[2]}
	if !errors.Is(got[1].Err, ErrDeadline) {
		t.Errorf("dropped request: %v, want ErrDeadline", got[1].Err)
	}
	for _, i := range []int{0, 2} {
		if got[i].Err != nil || firstValue(got[i]) != int32(10*i) {
			t.Errorf("request %d: err %v, value %d; want its own row", i, got[i].Err, firstValue(got[i]))
		}
	}
}

func TestFeasibleBatchIsTheFastestWithinTheSLO(t *testing.T) {
	tests := []struct {
		name string
		seed map[int]time.Duration
		want int
	}{
		{"per-row cost: the largest within half the SLO", map[int]time.Duration{1: 1 * ms, 8: 8 * ms, 16: 16 * ms, 32: 32 * ms}, 8},
		{"fixed cost dominates: the largest, though none fits half the SLO", map[int]time.Duration{1: 12 * ms, 32: 13 * ms}, 32},
		{"nothing within the SLO: the max batch", map[int]time.Duration{1: 30 * ms, 32: 40 * ms}, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newQueueWith(t, Config{MaxBatchSize: 32, SLO: 20 * ms}, newFake())
			for rows, d := range tt.seed {
				q.Profile().Seed(rows, d)
			}
			if got := q.feasibleBatch(); got != tt.want {
				t.Errorf("feasibleBatch = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestPrecheckAgreesWithSubmit: before decoding, Precheck refuses exactly
// the requests (default priority, one row) that Submit would refuse, and
// counts each refusal as an arrival, as Submit does.
func TestPrecheckAgreesWithSubmit(t *testing.T) {
	f := newFake()
	q := newQueue(t, 2, 0, f)
	q.Profile().Seed(2, 10*ms) // 10ms per batch of two, one replica, none free
	deadline := time.Now().Add(45 * ms)
	accepted := 0
	for i := range 20 {
		pre := q.Precheck(time.Time{}, deadline)
		r, _ := request(1, int32(i), deadline)
		err := q.Submit(r)
		if (pre == nil) != (err == nil) {
			t.Fatalf("request %d: Precheck = %v, Submit = %v", i, pre, err)
		}
		if err != nil {
			if !errors.Is(pre, ErrWouldMiss) || wire.KindOf(pre) != wire.KindUnavailable {
				t.Fatalf("Precheck = %v, want ErrWouldMiss (503)", pre)
			}
			break
		}
		accepted++
	}
	if accepted == 0 || accepted == 20 {
		t.Fatalf("accepted %d: the test needs a refusal after some acceptances", accepted)
	}
	// A refusal is an arrival: the autoscaler must see refused load.
	before := q.Stats().Arrivals
	if err := q.Precheck(time.Time{}, deadline); !errors.Is(err, ErrWouldMiss) {
		t.Fatalf("Precheck = %v, want ErrWouldMiss", err)
	}
	if got := q.Stats().Arrivals; got != before+1 {
		t.Fatalf("arrivals %d -> %d after a precheck refusal, want +1", before, got)
	}
	// A later deadline still fits: nothing is refused for the queue's sake.
	if err := q.Precheck(time.Time{}, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("Precheck with 1s to go: %v", err)
	}
}

// TestArrivalsCountRows: the arrival rate and the arrival counters the
// autoscaler reads count rows, so that a client sending 4 images per
// request is seen as 4 times the load of one sending 1; a refusal before
// decoding (Precheck), whose rows are unknown, counts the mean rows of
// the requests given to Submit, fractions included.
func TestArrivalsCountRows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rows      []int // submitted in turn to a queue of 4 with no replica: the fifth is refused
		prechecks int   // then refused by Precheck
		wantArr   uint64
		wantRows  uint64
		minRate   float64 // rows/s, decayed over the test's few milliseconds (1 s time constant)
		maxRate   float64
	}{
		// 5 x 4 rows, and one refusal before decoding at the mean, 4.
		{"four rows each", []int{4, 4, 4, 4, 4}, 1, 6, 24, 12, 24},
		// A mean of 8/5 = 1.6 rows: two refusals add 3.2 (not 2 x 2,
		// rounded), 11.2 rows in all, counted as 11.
		{"mixed", []int{1, 2, 1, 2, 2}, 2, 7, 11, 7.5, 11.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			q := newQueue(t, 8, 4, f)
			for i, rows := range tc.rows {
				r, _ := request(rows, int32(8*i), time.Time{})
				err := q.Submit(r)
				if (i < 4) != (err == nil) {
					t.Fatalf("request %d: Submit = %v", i, err)
				}
			}
			for range tc.prechecks {
				if err := q.Precheck(time.Time{}, time.Time{}); !errors.Is(err, ErrQueueFull) {
					t.Fatalf("Precheck on a full queue = %v, want ErrQueueFull", err)
				}
			}
			st := q.Stats()
			if st.Arrivals != tc.wantArr || st.ArrivedRows != tc.wantRows {
				t.Errorf("arrivals %d requests, %d rows; want %d and %d", st.Arrivals, st.ArrivedRows, tc.wantArr, tc.wantRows)
			}
			// minRate is well above the request count: counting requests
			// fails it, and it leaves the decay hundreds of milliseconds.
			if st.Rate < tc.minRate || st.Rate > tc.maxRate+1e-9 {
				t.Errorf("rate %.2f/s, want rows/s in [%g, %g]", st.Rate, tc.minRate, tc.maxRate)
			}
		})
	}
}

// TestPrecheckFullQueue: a full queue is refused before decoding, with
// Triton's reason.
func TestPrecheckFullQueue(t *testing.T) {
	f := newFake()
	q := newQueue(t, 1, 2, f)
	for i := range 2 {
		r, _ := request(1, int32(i), time.Time{})
		if err := q.Submit(r); err != nil {
			t.Fatal(err)
		}
	}
	err := q.Precheck(time.Time{}, time.Time{})
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "exceeds maximum queue size") {
		t.Fatalf("Precheck on a full queue = %v, want ErrQueueFull", err)
	}
}

// slowSpell seeds q's profile for batches of one: usually 10ms, but two
// of the last 64 took 40ms.
func slowSpell(t *testing.T, q *Queue) {
	t.Helper()
	samples := make([]time.Duration, 0, 64)
	for range 62 {
		samples = append(samples, 10*ms)
	}
	q.Profile().Seed(1, append(samples, 40*ms, 40*ms)...)
	if typ := q.Profile().Typical(1); typ > 20*ms {
		t.Fatalf("mean %v: the test needs a mean well under the high quantile", typ)
	}
}

// TestAdmissionUsesTheHighQuantile: with a batch ahead of it, admission
// predicts by the same high-quantile time batch formation uses, so it
// refuses a request that fits the mean batch time but not the slow
// batches the replica has shown (the batcher could only have served it
// in a smaller batch or dropped it).
func TestAdmissionUsesTheHighQuantile(t *testing.T) {
	f := newFake()
	q := newQueue(t, 1, 0, f)
	slowSpell(t, q)
	busy, busyCh := request(1, 0, time.Now().Add(time.Second))
	if err := q.Submit(busy); err != nil {
		t.Fatal(err)
	}
	f.free <- struct{}{}
	running := <-f.ran // the one replica is busy with it until answered
	r, _ := request(1, 1, time.Now().Add(25*ms))
	if err := q.Submit(r); !errors.Is(err, ErrWouldMiss) {
		t.Fatalf("Submit with 25ms to go behind a running batch, mean about 11ms, high quantile 40ms = %v, want ErrWouldMiss", err)
	}
	if err := q.Precheck(time.Time{}, time.Now().Add(25*ms)); !errors.Is(err, ErrWouldMiss) {
		t.Fatalf("Precheck = %v, want ErrWouldMiss", err)
	}
	ok, _ := request(1, 2, time.Now().Add(100*ms))
	if err := q.Submit(ok); err != nil {
		t.Fatalf("Submit with 100ms to go: %v", err)
	}
	echo(running)
	if got := <-busyCh; got.Err != nil {
		t.Fatal(got.Err)
	}
}

// TestAdmissionWithAFreeReplicaUsesTheTypicalTime: with nothing ahead and
// a replica free, the batcher sends a request at once, so admission takes
// what its typical time lets through. By the high quantile, outliers
// above the SLO refused every request, and with no batch answered the
// profile never recovered (make bench: goodput 2/s for a whole 5 s step).
func TestAdmissionWithAFreeReplicaUsesTheTypicalTime(t *testing.T) {
	f := newFake()
	q := newQueueWith(t, Config{MaxBatchSize: 1, SLO: 25 * ms}, f)
	slowSpell(t, q)
	if err := q.Precheck(time.Time{}, time.Time{}); err != nil {
		t.Fatalf("Precheck with the 25ms SLO, a free replica, mean about 11ms = %v, want nil", err)
	}
	r, ch := request(1, 1, time.Time{})
	if err := q.Submit(r); err != nil {
		t.Fatalf("Submit with the 25ms SLO, a free replica, mean about 11ms = %v, want it taken", err)
	}
	f.free <- struct{}{}
	echo(<-f.ran)
	if got := <-ch; got.Err != nil {
		t.Fatal(got.Err)
	}
	// A deadline under the typical time is still refused at once.
	late, _ := request(1, 2, time.Now().Add(5*ms))
	if err := q.Submit(late); !errors.Is(err, ErrWouldMiss) {
		t.Fatalf("Submit with 5ms to go, mean about 11ms = %v, want ErrWouldMiss", err)
	}
}

// recordingPolicy is SLOPolicy that counts the times it held the slot.
// The scheduler goroutine writes waits; the test reads it after the batch
// has run (the batch's send orders the two).
type recordingPolicy struct {
	SLOPolicy
	waits int
}

func (p *recordingPolicy) Decide(v *View) Decision {
	d := p.SLOPolicy.Decide(v)
	if d.Take == 0 {
		p.waits++
	}
	return d
}

// TestRefusedArrivalsDoNotHoldABatch: under a flood of requests that are
// all refused, the one request that is admitted runs at once. The policy
// expects company at the rate requests join the queue; at the arrival rate,
// which counts the refused ones, it waited again and again for company that
// admission turned away, held each admitted request until its latest start
// and then shed it as unable to make it; beside a 9000/s flood of
// refusals the requests that did run were answered at about the 20ms SLO.
func TestRefusedArrivalsDoNotHoldABatch(t *testing.T) {
	f := newFake()
	f.predict = func(rows int) time.Duration { return ms + time.Duration(rows)*100*time.Microsecond }
	p := &recordingPolicy{}
	q := newQueueWith(t, Config{MaxBatchSize: 8, SLO: 20 * ms, Policy: p}, f)
	q.Profile().Seed(1, ms) // admission's estimate: a batch of one takes 1ms
	for i := range 5000 {   // 5000 rows' worth of refusals in a few milliseconds
		r, _ := request(1, int32(i), time.Now().Add(100*time.Microsecond))
		if err := q.Submit(r); !errors.Is(err, ErrWouldMiss) && !errors.Is(err, ErrDeadline) {
			t.Fatalf("request %d, 0.1ms to go, 1ms batches: Submit = %v, want it refused", i, err)
		}
	}
	if st := q.Stats(); st.Rate < 4000 {
		t.Fatalf("offered rate %.0f rows/s after 5000 arrivals, want them counted (the autoscaler's load)", st.Rate)
	}
	f.free <- struct{}{}
	r, ch := request(1, 1, time.Time{}) // deadline: the 20ms SLO
	if err := q.Submit(r); err != nil {
		t.Fatal(err)
	}
	select {
	case rb := <-f.ran:
		echo(rb)
	case got := <-ch: // held until it could no longer make it, and shed
		t.Fatalf("the admitted request was answered unrun after %d waits: %v", p.waits, got.Err)
	}
	if got := <-ch; got.Err != nil {
		t.Fatal(got.Err)
	}
	if p.waits != 0 {
		t.Fatalf("the policy held the slot %d times for company that was all refused; want none", p.waits)
	}
}

// TestPastDeadlineIsRefusedEvenWhileProbing: while probing (no answer for
// ProbeAfter) requests are let in unpredicted, but one whose deadline has
// already passed is refused: let in, it only took a place to be shed.
func TestPastDeadlineIsRefusedEvenWhileProbing(t *testing.T) {
	f := newFake()
	q := newQueueWith(t, Config{MaxBatchSize: 4, ProbeAfter: time.Nanosecond}, f)
	q.Profile().Seed(1, 50*ms) // would refuse a 45ms deadline, were it not probing
	gone, _ := request(1, 1, time.Now().Add(-time.Microsecond))
	if err := q.Submit(gone); !errors.Is(err, ErrDeadline) || wire.KindOf(err) != wire.KindDeadline {
		t.Fatalf("Submit past its deadline = %v, want ErrDeadline", err)
	}
	probe, ch := request(1, 2, time.Now().Add(45*ms))
	if err := q.Submit(probe); err != nil {
		t.Fatalf("Submit while probing = %v, want it let in", err)
	}
	if n := q.Len(); n != 1 {
		t.Fatalf("%d waiting, want only the probe", n)
	}
	f.free <- struct{}{}
	echo(<-f.ran)
	if got := <-ch; got.Err != nil {
		t.Fatal(got.Err)
	}
}

// acquireCounter is fakeReplicas that counts calls to Acquire.
type acquireCounter struct {
	*fakeReplicas
	calls atomic.Int64
}

func (c *acquireCounter) Acquire(ctx context.Context) (Slot, error) {
	c.calls.Add(1)
	return c.fakeReplicas.Acquire(ctx)
}

// TestProbingWaitsForASlotWithoutSpinning: while probing, a request whose
// predicted run no longer fits before its deadline is kept (predictions
// are not trusted), so the scheduler must wait for a slot until the
// deadline itself, not until the predicted latest start, which has passed:
// from there every wait ended at once and the scheduler spun on a core
// until a slot came or the deadline passed.
func TestProbingWaitsForASlotWithoutSpinning(t *testing.T) {
	c := &acquireCounter{fakeReplicas: newFake()}
	q, err := New(Config{Model: "m", MaxBatchSize: 4, ProbeAfter: time.Nanosecond}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		q.Close(ctx)
	}()
	q.Profile().Seed(1, 50*ms) // a batch takes 50ms, by a profile probing distrusts
	r, ch := request(1, 1, time.Now().Add(30*ms))
	if err := q.Submit(r); err != nil {
		t.Fatalf("Submit while probing = %v, want it let in", err)
	}
	// No slot ever comes: the request is answered when its deadline passes.
	if got := <-ch; !errors.Is(got.Err, ErrDeadline) {
		t.Fatalf("answered %v, want ErrDeadline", got.Err)
	}
	if n := c.calls.Load(); n > 10 {
		t.Fatalf("the scheduler asked for a slot %d times in 30ms; want it to wait", n)
	}
}

// TestCapacityRefusalsWakeTheAutoscaler: a refusal because the replicas
// do not keep up (queue full, predicted to miss), by Submit or by
// Precheck, tells Config.OnShed once; other refusals and admitted
// requests do not, since more replicas would not have helped them.
func TestCapacityRefusalsWakeTheAutoscaler(t *testing.T) {
	var woken atomic.Int64
	f := newFake()
	q := newQueueWith(t, Config{MaxBatchSize: 2, MaxQueue: 3, OnShed: func() { woken.Add(1) }, ProbeAfter: time.Hour}, f)
	q.Profile().Seed(2, 10*ms) // 10ms per batch of two, one replica, none free
	submit := func(rows int, deadline time.Time) error {
		r, _ := request(rows, 1, deadline)
		return q.Submit(r)
	}
	later := time.Now().Add(time.Hour)
	errInvalid := errors.New("a 400") // Submit's has no sentinel, only its kind
	for _, step := range []struct {
		name string
		do   func() error
		want error // nil: admitted
		wake int64
	}{
		{"admitted", func() error { return submit(1, later) }, nil, 0},
		{"rows out of range", func() error { return submit(3, later) }, errInvalid, 0},
		{"past its deadline", func() error { return submit(1, time.Now().Add(-ms)) }, ErrDeadline, 0},
		{"predicted to miss", func() error { return submit(1, time.Now().Add(5*ms)) }, ErrWouldMiss, 1},
		{"precheck: predicted to miss", func() error { return q.Precheck(time.Time{}, time.Now().Add(5*ms)) }, ErrWouldMiss, 1},
		{"precheck: past its deadline", func() error { return q.Precheck(time.Time{}, time.Now().Add(-ms)) }, ErrDeadline, 0},
		{"fills the queue", func() error { return submit(1, later) }, nil, 0},
		{"fills the queue", func() error { return submit(1, later) }, nil, 0},
		{"queue full", func() error { return submit(1, later) }, ErrQueueFull, 1},
		{"precheck: queue full", func() error { return q.Precheck(time.Time{}, later) }, ErrQueueFull, 1},
	} {
		before := woken.Load()
		err := step.do()
		matches := errors.Is(err, step.want) || (step.want == errInvalid && wire.KindOf(err) == wire.KindInvalid)
		if (step.want == nil) != (err == nil) || (step.want != nil && !matches) {
			t.Fatalf("%s: %v, want %v", step.name, err, step.want)
		}
		if got := woken.Load() - before; got != step.wake {
			t.Errorf("%s: OnShed told %d times, want %d", step.name, got, step.wake)
		}
	}
}

// BenchmarkPrecheckRefusal is a refusal before decoding, the cost of
// each request the server turns away under overload, without and with
// OnShed told (as the autoscaler's Controller.Nudge: a send on a full
// one-slot channel, between two of its rounds).
func BenchmarkPrecheckRefusal(b *testing.B) {
	for _, tc := range []struct {
		name   string
		onShed func()
	}{{"no-onshed", nil}, {"onshed", func() {
		select {
		case wakeBench <- struct{}{}:
		default:
		}
	}}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFake()
			q, err := New(Config{Model: "m", MaxBatchSize: 2, OnShed: tc.onShed, ProbeAfter: time.Hour}, f)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				q.Close(ctx)
			}()
			q.Profile().Seed(2, 10*ms)
			r, _ := request(1, 1, time.Now().Add(time.Hour))
			if err := q.Submit(r); err != nil { // one ahead, no replica free
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := q.Precheck(time.Time{}, time.Now().Add(5*ms)); !errors.Is(err, ErrWouldMiss) {
					b.Fatal(err)
				}
			}
		})
	}
}

var wakeBench = make(chan struct{}, 1)
