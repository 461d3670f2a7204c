package loadgen

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// FuzzParseTrace: a trace file parses or is refused with an error; a
// parsed one schedules send times that are ascending, not negative and
// within the trace, or is refused with an error.
func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{
		"# a trace\n0\n0.25\n\n  0.25  \n1e0\n",
		"0 100\n10\t400\n# burst over\n12.5 100\n",
		"0\n1e300\n",
		"0 1e300\n1 0\n",
		"3 5\n4 0\n",
		"0 5e-324\n1e-9 1\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, poisson bool) {
		tf, err := ParseTrace(strings.NewReader(text))
		if err != nil {
			return
		}
		if tf.Times == nil {
			mass := 0.0
			for _, s := range tf.segments(0) {
				mass += s.mass()
			}
			if mass > 100_000 {
				return // fine, but too many send times for each fuzz input
			}
		}
		sched, err := Arrivals{Process: Trace, Trace: tf, Poisson: poisson}.Schedule(rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			return
		}
		end := int64(tf.Length()*1e9) + 1
		for i, ns := range sched {
			if ns < 0 || ns > end || i > 0 && ns < sched[i-1] {
				t.Fatalf("%q: send time %d of %d is %d ns (previous %d, trace end %d)", text, i, len(sched), ns, sched[max(i-1, 0)], end)
			}
		}
	})
}
