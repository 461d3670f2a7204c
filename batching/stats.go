package batching

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// QueueStats is a snapshot of one model's queue, for an autoscaler.
type QueueStats struct {
	Len        int           // requests waiting
	Rows       int           // rows waiting
	OldestWait time.Duration // age of the longest-waiting request; 0 when none waits
	Rate       float64       // recent arrival rate in rows per second (see Queue.Rate)
	Inflight   int           // batches on replicas, not yet answered
	Arrivals   uint64        // requests submitted since the queue started (refused ones too, but not after Close)
	// ArrivedRows counts the rows of those requests: a request of n rows
	// counts n (one refused by Precheck, before its rows are known, counts
	// the mean rows per decoded request so far, fractions summed before
	// they are rounded down).
	ArrivedRows uint64
	// Met and Missed count, since the queue started, requests answered
	// within the SLO and those that were not: answered late, or refused or
	// shed before running for any reason but shutdown (queue full,
	// predicted late, late, expired, overload). Without an SLO, Met stays 0
	// and Missed counts only refusals and sheds.
	Met, Missed uint64
}

// Stats returns the queue's snapshot. It holds the queue's lock for one
// pass over the waiting requests (at most max_queue_size), so it is meant
// for a controller's tick, not the request path.
func (q *Queue) Stats() QueueStats {
	now := time.Now()
	q.mu.Lock()
	s := QueueStats{Len: len(q.waiting), Rows: q.rows, Rate: q.rateLocked(now) / rateTau.Seconds(), Inflight: q.inflight,
		Arrivals: q.arrivals, ArrivedRows: uint64(q.arrivedRows)}
	var oldest time.Time
	for _, r := range q.waiting { // service order, not arrival order
		if oldest.IsZero() || r.enqueued.Before(oldest) {
			oldest = r.enqueued
		}
	}
	q.mu.Unlock()
	if !oldest.IsZero() {
		s.OldestWait = now.Sub(oldest)
	}
	s.Met = counterValue(q.metrics.slo[1])
	s.Missed = counterValue(q.metrics.slo[0])
	for i, c := range q.metrics.shed {
		if i != shedClosed {
			s.Missed += counterValue(c)
		}
	}
	return s
}

// counterValue reads a counter (the metrics are the one record of these
// counts; reading them keeps the request path as it is).
func counterValue(c prometheus.Counter) uint64 {
	var m dto.Metric
	if c == nil || c.Write(&m) != nil || m.Counter == nil {
		return 0
	}
	return uint64(m.Counter.GetValue())
}
