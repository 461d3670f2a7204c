package batching

import (
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	f := newFake()
	q := newQueue(t, 1, 2, f)
	if s := q.Stats(); s.Len != 0 || s.OldestWait != 0 || s.Missed != 0 || s.Rate != 0 {
		t.Fatalf("empty queue: %+v", s)
	}
	for i := range 2 {
		r, _ := request(1, int32(i), time.Time{})
		if err := q.Submit(r); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	r, _ := request(1, 9, time.Time{})
	if q.Submit(r) == nil { // queue full: a miss
		t.Fatal("third submit accepted")
	}
	s := q.Stats()
	if s.Len != 2 || s.Rows != 2 || s.OldestWait < 20*time.Millisecond || s.OldestWait > 10*time.Second || s.Missed != 1 || s.Rate <= 0 || s.Arrivals != 3 {
		t.Fatalf("stats %+v: want 2 waiting for >= 20ms, 1 missed, 3 arrivals, a rate", s)
	}
	// One runs: it is in flight, one waits.
	f.free <- struct{}{}
	rb := <-f.ran
	if s := q.Stats(); s.Inflight != 1 || s.Len != 1 {
		t.Fatalf("stats %+v: want 1 in flight, 1 waiting", s)
	}
	echo(rb)
}
