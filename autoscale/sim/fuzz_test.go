package sim

import (
	"math"
	"strings"
	"testing"
	"time"
)

// FuzzParseTrace: a trace file parses or is refused with an error; a
// parsed trace is refused by the simulator only for its bounds; and a
// small one simulates to its end with consistent counts.
func FuzzParseTrace(f *testing.F) {
	for _, s := range []string{
		"t_seconds,rate_per_second\n# c\n0, 10\n\n5,20\n7.5,0\n",
		"0,100\n10,1500\n20,100\n30,0\n",
		"0,1\n1e11,0\n",
		"0,1e12\n600,0\n",
		"0,0\n1,0\n",
		"0,5e-324\n0.000000001,1\n",
		"0,1e9\n0.000000001,0\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		tr, err := ParseTrace("fuzz", strings.NewReader(text))
		if err != nil {
			return
		}
		for i, s := range tr.Segments {
			if s.End <= s.Start || !(s.From >= 0) || math.IsInf(s.From, 0) || s.From != s.To {
				t.Fatalf("segment %d of %q: %+v", i, text, s)
			}
		}
		for _, s := range tr.Segments { // Rate's search finds what a scan does
			for _, at := range []time.Duration{s.Start - 1, s.Start, (s.Start + s.End) / 2, s.End - 1, s.End} {
				want := 0.0
				for _, s := range tr.Segments {
					if at >= s.Start && at < s.End {
						want = s.rate(at)
						break
					}
				}
				if got := tr.Rate(at); got != want {
					t.Fatalf("%q: rate at %v: %v, want %v", text, at, got, want)
				}
			}
		}
		cfg := Config{Trace: tr}.WithDefaults()
		if err := cfg.Validate(); err != nil {
			peak := 0.0
			for _, s := range tr.Segments {
				peak = max(peak, s.From, s.To)
			}
			if tr.Duration() <= MaxDuration && tr.Arrivals() <= MaxArrivals && peak <= MaxRate {
				t.Fatalf("%q parsed, but the simulator refuses it: %v", text, err)
			}
			return
		}
		if tr.Arrivals() > 2000 || tr.Duration() > time.Hour {
			return // fine, but too long a run for each fuzz input
		}
		r, err := Run(cfg, NewGannet(cfg.SLO))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if r.Met+r.Missed > r.Requests || r.Shed+r.Late != r.Missed || r.ReplicaSeconds < 0 || math.IsNaN(r.ReplicaSeconds) {
			t.Fatalf("%q: inconsistent result %+v", text, r)
		}
		if r.Met+r.Missed > 0 && !(r.SLOAttainment >= 0 && r.SLOAttainment <= 1) {
			t.Fatalf("%q: attainment %v", text, r.SLOAttainment)
		}
	})
}
