package sim

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Segment is a stretch of a trace whose arrival rate goes linearly from
// From (at Start) to To (at End), in requests per second.
type Segment struct {
	Start, End time.Duration
	From, To   float64
}

// Trace is an arrival-rate curve: contiguous segments from time 0.
// Arrivals are a non-homogeneous Poisson process with this rate.
type Trace struct {
	Name     string
	Segments []Segment
}

// Duration is the trace's end.
func (tr Trace) Duration() time.Duration {
	if len(tr.Segments) == 0 {
		return 0
	}
	return tr.Segments[len(tr.Segments)-1].End
}

// Rate is the arrival rate at t (0 outside the trace). It searches the
// segments, which a valid trace (see Config.Validate) has contiguous and
// in time order: the oracle asks every 10 ms, and a trace file may have
// many lines. The first segment ending after t holds t, unless t is
// before the trace.
func (tr Trace) Rate(t time.Duration) float64 {
	i, _ := slices.BinarySearchFunc(tr.Segments, t, func(s Segment, t time.Duration) int { return cmp.Compare(s.End, t+1) })
	if i < len(tr.Segments) && tr.Segments[i].Start <= t {
		return tr.Segments[i].rate(t)
	}
	return 0
}

// Arrivals is the expected number of arrivals over the trace: the
// integral of its rate.
func (tr Trace) Arrivals() float64 {
	n := 0.0
	for _, s := range tr.Segments {
		if s.End > s.Start { // an infinite rate over no time is no arrival
			n += (s.From + s.To) / 2 * (s.End - s.Start).Seconds()
		}
	}
	return n
}

// check reports a trace that cannot be simulated: empty, with a gap or
// an overlap, with a rate outside 0..MaxRate, or beyond MaxDuration or
// MaxArrivals.
func (tr Trace) check() error {
	end := time.Duration(0)
	for i, s := range tr.Segments {
		switch {
		case s.Start != end || s.End < s.Start:
			return fmt.Errorf("sim: trace %q: segment %d spans %v to %v, want contiguous segments from 0", tr.Name, i, s.Start, s.End)
		case !(s.From >= 0 && s.To >= 0 && s.From <= MaxRate && s.To <= MaxRate):
			return fmt.Errorf("sim: trace %q: segment %d: rate %v to %v, want rates from 0 to %g requests/s", tr.Name, i, s.From, s.To, MaxRate)
		}
		end = s.End
	}
	switch {
	case end <= 0:
		return fmt.Errorf("sim: trace %q is empty", tr.Name)
	case end > MaxDuration:
		return fmt.Errorf("sim: trace %q lasts %v, longer than the %v one run simulates", tr.Name, end, MaxDuration)
	}
	if n := tr.Arrivals(); !(n <= MaxArrivals) {
		return fmt.Errorf("sim: trace %q brings about %.3g requests, more than the %d one run simulates (lower its rates or its length)", tr.Name, n, MaxArrivals)
	}
	return nil
}

func (s Segment) rate(t time.Duration) float64 {
	if s.From == s.To || s.End <= s.Start {
		return s.From
	}
	return s.From + (s.To-s.From)*float64(t-s.Start)/float64(s.End-s.Start)
}

func constant(start, end time.Duration, r float64) Segment {
	return Segment{Start: start, End: end, From: r, To: r}
}

// Step is low until at, high until until, and low again until dur (until
// 0 or beyond dur: high to the end).
func Step(low, high float64, at, until, dur time.Duration) Trace {
	if until <= at || until > dur {
		until = dur
	}
	tr := Trace{Name: "step", Segments: []Segment{constant(0, at, low), constant(at, until, high)}}
	if until < dur {
		tr.Segments = append(tr.Segments, constant(until, dur, low))
	}
	return tr
}

// Ramp rises linearly from low to high over the first half and falls back
// over the second.
func Ramp(low, high float64, dur time.Duration) Trace {
	return Trace{Name: "ramp", Segments: []Segment{
		{Start: 0, End: dur / 2, From: low, To: high},
		{Start: dur / 2, End: dur, From: high, To: low},
	}}
}

// Square alternates high and low for half a period each, starting low.
func Square(low, high float64, period, dur time.Duration) Trace {
	tr := Trace{Name: "square"}
	half := max(period/2, time.Millisecond)
	for t, hi := time.Duration(0), false; t < dur; t, hi = t+half, !hi {
		r := low
		if hi {
			r = high
		}
		tr.Segments = append(tr.Segments, constant(t, min(t+half, dur), r))
	}
	return tr
}

// Bursts is a base rate with bursts of rate peak and length burst whose
// starts are a Poisson process (mean gap between bursts gap), drawn from
// seed.
func Bursts(base, peak float64, gap, burst, dur time.Duration, seed uint64) Trace {
	rng := rand.New(rand.NewPCG(seed, 0xb0575))
	tr := Trace{Name: "bursts"}
	t := time.Duration(0)
	for t < dur {
		end := dur // unless the gap ends sooner (compared in float64: no overflow)
		if q := rng.ExpFloat64() * float64(gap); q < float64(dur-t) {
			end = t + time.Duration(q)
		}
		if end > t {
			tr.Segments = append(tr.Segments, constant(t, end, base))
		}
		t = end
		if t < dur {
			end = min(t+burst, dur)
			tr.Segments = append(tr.Segments, constant(t, end, peak))
			t = end
		}
	}
	return tr
}

// ParseTrace reads a trace file: one `t_seconds,rate_per_second` pair a
// line, times increasing from 0; the rate holds from its time to the next
// line's, and the last line's time is the trace's end (its rate is not
// used). Blank lines and lines starting with # are ignored; so is a first
// line that does not parse as numbers (a CSV header).
func ParseTrace(name string, r io.Reader) (Trace, error) {
	tr := Trace{Name: name}
	var ts []time.Duration
	var rates []float64
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, ",")
		if len(f) != 2 {
			return tr, fmt.Errorf("%s:%d: want t_seconds,rate_per_second", name, line)
		}
		t, err1 := strconv.ParseFloat(strings.TrimSpace(f[0]), 64)
		rate, err2 := strconv.ParseFloat(strings.TrimSpace(f[1]), 64)
		if err1 != nil || err2 != nil {
			if len(ts) == 0 && line == 1 {
				continue // header
			}
			return tr, fmt.Errorf("%s:%d: want t_seconds,rate_per_second", name, line)
		}
		switch {
		case t < 0 || math.IsNaN(t) || math.IsInf(t, 0) || rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0):
			return tr, fmt.Errorf("%s:%d: negative or not finite", name, line)
		case t > MaxDuration.Seconds():
			return tr, fmt.Errorf("%s:%d: time %gs is past the %v one run simulates", name, line, t, MaxDuration)
		}
		d := time.Duration(t * float64(time.Second))
		switch {
		case len(ts) == 0 && d != 0:
			return tr, fmt.Errorf("%s:%d: the first time must be 0", name, line)
		case len(ts) > 0 && d <= ts[len(ts)-1]:
			return tr, fmt.Errorf("%s:%d: times must increase", name, line)
		}
		ts, rates = append(ts, d), append(rates, rate)
	}
	if err := sc.Err(); err != nil {
		return tr, err
	}
	if len(ts) < 2 {
		return tr, fmt.Errorf("%s: want at least two lines (a start and an end)", name)
	}
	for i := 0; i+1 < len(ts); i++ {
		tr.Segments = append(tr.Segments, constant(ts[i], ts[i+1], rates[i]))
	}
	return tr, nil
}

// arrivals draws a trace's arrival times by thinning, segment by segment.
type arrivals struct {
	tr  Trace
	rng *rand.Rand
	seg int
	t   float64 // seconds
}

func newArrivals(tr Trace, seed uint64) *arrivals {
	return &arrivals{tr: tr, rng: rand.New(rand.NewPCG(seed, 0xa771e))}
}

// next returns the next arrival time, or false after the trace's end.
func (a *arrivals) next() (time.Duration, bool) {
	for a.seg < len(a.tr.Segments) {
		s := a.tr.Segments[a.seg]
		peak := max(s.From, s.To)
		end := s.End.Seconds()
		if a.t < s.Start.Seconds() {
			a.t = s.Start.Seconds()
		}
		if peak <= 0 {
			a.t, a.seg = end, a.seg+1
			continue
		}
		a.t += a.rng.ExpFloat64() / peak
		if a.t >= end {
			a.t, a.seg = end, a.seg+1 // memoryless: start afresh in the next segment
			continue
		}
		at := time.Duration(a.t * float64(time.Second))
		if s.From == s.To || a.rng.Float64()*peak <= s.rate(at) {
			return at, true
		}
	}
	return 0, false
}
