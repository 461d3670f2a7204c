package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Arrival process names, as the --arrival flag takes them.
const (
	Constant = "constant" // evenly spaced at Rate
	Poisson  = "poisson"  // exponential gaps, mean rate Rate
	Ramp     = "ramp"     // rate rising (or falling) linearly from Rate to RampTo
	Trace    = "trace"    // replayed from a trace file (see ParseTrace)
)

// MaxRequests bounds the length of one schedule (it is held in memory, with
// one sample per request).
const MaxRequests = 50_000_000

// MaxTraceTime bounds the times in a trace file (a week: far past any
// run, and far inside what a time.Duration holds).
const MaxTraceTime = 7 * 24 * time.Hour

// Arrivals describes when requests are sent. A rate curve (constant, ramp,
// or a trace of rates) is turned into send times by one of two spacings:
// deterministic (request k at the time the curve's integral reaches k) or
// Poisson (the integral between requests is exponential with mean 1: a
// non-homogeneous Poisson process). A trace of request times is replayed
// as is.
type Arrivals struct {
	Process  string        // Constant, Poisson, Ramp or Trace
	Rate     float64       // requests/s (the ramp's start)
	RampTo   float64       // the ramp's end rate
	Duration time.Duration // length of the schedule (a trace's own length when 0)
	// Poisson spaces a ramp or a trace of rates as a Poisson process.
	Poisson bool
	Trace   *TraceFile // for Trace
}

// segment is a stretch of the rate curve, linear from r0 to r1 over d
// seconds.
type segment struct{ d, r0, r1 float64 }

func (s segment) mass() float64 { return s.d * (s.r0 + s.r1) / 2 }

// at returns the time in [0, d] at which the segment's integral reaches x
// (0 <= x <= mass): the root of r0 t + (r1-r0) t^2 / (2d) = x, in a form
// that is stable for a flat segment and for r0 = 0.
func (s segment) at(x float64) float64 {
	if x <= 0 {
		return 0
	}
	a := (s.r1 - s.r0) / (2 * s.d)
	disc := max(s.r0*s.r0+4*a*x, 0)
	den := s.r0 + math.Sqrt(disc)
	if den <= 0 {
		return s.d
	}
	return min(2*x/den, s.d)
}

// Schedule returns the send times, as offsets from the start in
// nanoseconds, ascending. rng drives Poisson spacing (pass a seeded one for
// a reproducible schedule).
func (a Arrivals) Schedule(rng *rand.Rand) ([]int64, error) {
	dur := a.Duration.Seconds()
	if a.Process == Trace {
		if a.Trace == nil {
			return nil, errors.New("arrival trace: no trace file")
		}
		if a.Trace.Times != nil {
			return a.Trace.schedule(a.Duration)
		}
	} else if dur <= 0 {
		return nil, fmt.Errorf("duration %v: must be positive", a.Duration)
	}
	var segs []segment
	poisson := a.Poisson
	switch a.Process {
	case Constant, Poisson:
		if !(a.Rate > 0) || math.IsInf(a.Rate, 0) {
			return nil, fmt.Errorf("rate %v: must be positive", a.Rate)
		}
		segs = []segment{{dur, a.Rate, a.Rate}}
		poisson = a.Process == Poisson
	case Ramp:
		if !(a.Rate >= 0 && a.RampTo >= 0) || a.Rate+a.RampTo == 0 || math.IsInf(a.Rate+a.RampTo, 0) {
			return nil, fmt.Errorf("ramp %v to %v requests/s: rates must be non-negative, not both 0", a.Rate, a.RampTo)
		}
		segs = []segment{{dur, a.Rate, a.RampTo}}
	case Trace:
		segs = a.Trace.segments(dur)
	default:
		return nil, fmt.Errorf("arrival process %q: want %s, %s, %s or %s", a.Process, Constant, Poisson, Ramp, Trace)
	}
	return curveSchedule(segs, poisson, rng)
}

// curveSchedule places requests along a rate curve.
func curveSchedule(segs []segment, poisson bool, rng *rand.Rand) ([]int64, error) {
	total := 0.0
	for _, s := range segs {
		total += s.mass()
	}
	if total > MaxRequests {
		return nil, fmt.Errorf("%.0f requests: more than %d in one run", total, MaxRequests)
	}
	if poisson && rng == nil {
		return nil, errors.New("poisson spacing needs a random source")
	}
	out := make([]int64, 0, int(total*1.05)+16)
	next := 0.0 // the integral at which the next request goes
	if poisson {
		next = rng.ExpFloat64()
	}
	start, before := 0.0, 0.0 // the segment's start time and the integral before it
	for _, s := range segs {
		m := s.mass()
		for next < before+m {
			t := start + s.at(next-before)
			out = append(out, int64(t*1e9))
			if poisson {
				next += rng.ExpFloat64()
			} else {
				next++
			}
		}
		start += s.d
		before += m
	}
	return out, nil
}

// TraceFile is a parsed trace, in one of two forms (one per file):
//
//	# request times: one line per request, its offset in seconds
//	0.000
//	0.013
//	0.020
//
//	# rates: "t_seconds rate" lines; from t on, requests/s is rate
//	0    100
//	10   400
//	12.5 100
//
// Blank lines and lines starting with # are ignored; times must not
// decrease. In the rates form the rate of a line holds until the next
// line's time, the last one's until the run's duration ends (with no
// duration given, the trace ends at its last line's time, so a last line
// "60 0" makes a 60 s trace). Requests are spaced evenly along the rates,
// or as a Poisson process with --poisson. The request-times form is
// replayed exactly, cut at the duration if one is given.
type TraceFile struct {
	Times []float64 // request-times form: offsets in seconds
	At    []float64 // rates form: the times of the lines
	Rates []float64 // rates form: the rates
}

// Length is the trace's own length in seconds: its last time.
func (t *TraceFile) Length() float64 {
	if t.Times != nil {
		return t.Times[len(t.Times)-1]
	}
	return t.At[len(t.At)-1]
}

// MeanRate is the trace's mean rate over its own length (the rate of its
// first line for the rates form, used to warm up).
func (t *TraceFile) MeanRate() float64 {
	if t.Times == nil {
		return t.Rates[0]
	}
	if l := t.Length(); l > 0 {
		return float64(len(t.Times)) / l
	}
	return float64(len(t.Times))
}

// ParseTrace reads a trace file; errors name the line.
func ParseTrace(r io.Reader) (*TraceFile, error) {
	tf := &TraceFile{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	cols, line, last := 0, 0, 0.0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) > 2 {
			return nil, fmt.Errorf("trace line %d: %d fields, want 1 (a request time) or 2 (time and rate)", line, len(fields))
		}
		if cols == 0 {
			cols = len(fields)
		} else if cols != len(fields) {
			return nil, fmt.Errorf("trace line %d: %d fields, but earlier lines have %d (one form per file)", line, len(fields), cols)
		}
		vals := make([]float64, len(fields))
		for i, f := range fields {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, fmt.Errorf("trace line %d: %q is not a non-negative number", line, f)
			}
			vals[i] = v
		}
		if vals[0] > MaxTraceTime.Seconds() {
			return nil, fmt.Errorf("trace line %d: time %gs is past the longest trace, %v", line, vals[0], MaxTraceTime)
		}
		if vals[0] < last {
			return nil, fmt.Errorf("trace line %d: time %v is before the previous line's %v", line, vals[0], last)
		}
		last = vals[0]
		if cols == 1 {
			tf.Times = append(tf.Times, vals[0])
		} else {
			tf.At = append(tf.At, vals[0])
			tf.Rates = append(tf.Rates, vals[1])
		}
		if len(tf.Times) > MaxRequests {
			return nil, fmt.Errorf("trace line %d: more than %d requests", line, MaxRequests)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace line %d: %w", line+1, err)
	}
	if cols == 0 {
		return nil, errors.New("trace: no requests or rates in the file")
	}
	if cols == 2 {
		sum := 0.0
		for _, r := range tf.Rates {
			sum += r
		}
		if sum == 0 {
			return nil, errors.New("trace: every rate is 0")
		}
	}
	return tf, nil
}

// schedule replays the request-times form, cut at d when d > 0.
func (t *TraceFile) schedule(d time.Duration) ([]int64, error) {
	out := make([]int64, 0, len(t.Times))
	for _, s := range t.Times {
		ns := int64(s * 1e9)
		if d > 0 && ns >= int64(d) {
			break
		}
		out = append(out, ns)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("trace: no request before %v", d)
	}
	return out, nil
}

// segments is the rates form as flat segments, cut at (or, for the last
// line, extended to) dur seconds when dur > 0.
func (t *TraceFile) segments(dur float64) []segment {
	end := t.Length()
	if dur > 0 {
		end = dur
	}
	var segs []segment
	for i := range t.At {
		from, to := t.At[i], end
		if i+1 < len(t.At) {
			to = min(t.At[i+1], end)
		}
		if to > from {
			if len(segs) == 0 && from > 0 {
				segs = append(segs, segment{from, 0, 0}) // nothing before the first line
			}
			segs = append(segs, segment{to - from, t.Rates[i], t.Rates[i]})
		}
	}
	return segs
}
