package sim

import (
	"math"
	"slices"
	"time"
)

// Result is one policy's run over a trace.
type Result struct {
	Policy   string
	Requests int // arrivals
	Met      int // answered within the SLO
	Missed   int // shed or late
	Shed     int // dropped before running: could not meet the deadline
	Late     int // ran but answered after the deadline
	// SLOAttainment is Met / (Met + Missed): the share of the requests
	// resolved by the trace's end that were answered within the SLO.
	SLOAttainment float64
	// ReplicaSeconds integrates the replicas that exist (starting, ready
	// or draining) over the trace.
	ReplicaSeconds float64
	// WarmSeconds integrates the warm pool's workers (Config.WarmWorkers),
	// which are no replica of the model.
	WarmSeconds float64
	// OracleReplicaSeconds integrates, at every 10 ms, the fewest
	// replicas whose capacity at the SLO-feasible batch covers the trace's
	// rate (at least Min), ignoring cold start: a lower bound.
	OracleReplicaSeconds float64
	Batches, BatchRows   int            // batches run and their rows
	ScalingActions       int            // changes of the replica count asked for
	P99                  time.Duration  // of answered requests
	Reasons              map[string]int // decisions by reason (Gannet's policy)
	Series               []Point        // one point per second

	lat [][]float32 // per second, latencies in ms of answered requests
}

// Ratio is ReplicaSeconds / OracleReplicaSeconds.
func (r *Result) Ratio() float64 {
	if r.OracleReplicaSeconds == 0 {
		return math.Inf(1)
	}
	return r.ReplicaSeconds / r.OracleReplicaSeconds
}

// Point is one second of a run.
type Point struct {
	T        float64 // start of the second
	Offered  float64 // the trace's rate at the middle of the second
	Arrivals int     // requests that arrived in the second
	Misses   int     // shed or late in the second
	Replicas int     // at the end of the second: ready + starting
	Ready    int
	Oracle   int     // the oracle's count at the middle of the second
	P99MS    float64 // p99 latency of the requests answered in the second (NaN: none)
}

const oracleStep = 10 * time.Millisecond

func (r *run) finish(o oracle) {
	res := r.res
	if n := res.Met + res.Missed; n > 0 {
		res.SLOAttainment = float64(res.Met) / float64(n)
	}
	dur := r.cfg.Trace.Duration()
	for t := time.Duration(0); t < dur; t += oracleStep {
		res.OracleReplicaSeconds += float64(o.replicas(r.cfg.Trace.Rate(t), r.cfg.Min)) * min(oracleStep, dur-t).Seconds()
	}
	var all []float32
	for i := range res.Series {
		p := &res.Series[i]
		mid := time.Duration(i)*time.Second + time.Second/2
		p.T, p.Offered, p.Oracle = float64(i), r.cfg.Trace.Rate(mid), o.replicas(r.cfg.Trace.Rate(mid), r.cfg.Min)
		p.P99MS = math.NaN()
		if l := res.lat[i]; len(l) > 0 {
			slices.Sort(l)
			p.P99MS = float64(l[quantileIndex(len(l), 0.99)])
			all = append(all, l...)
		}
	}
	if i := len(res.Series) - 1; i >= 0 && res.Series[i].Replicas == 0 {
		ready, starting := r.counts()
		res.Series[i].Replicas, res.Series[i].Ready = ready+starting, ready
	}
	if len(all) > 0 {
		slices.Sort(all)
		res.P99 = time.Duration(float64(all[quantileIndex(len(all), 0.99)]) * float64(time.Millisecond))
	}
	res.lat = nil
}

func quantileIndex(n int, q float64) int {
	return min(n-1, max(0, int(math.Ceil(q*float64(n)))-1))
}
