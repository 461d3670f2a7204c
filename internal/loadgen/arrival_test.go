package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// countIn counts the send times in [from, to) seconds.
func countIn(s []int64, from, to float64) int {
	n := 0
	for _, t := range s {
		if sec := float64(t) / 1e9; sec >= from && sec < to {
			n++
		}
	}
	return n
}

func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

func TestSchedules(t *testing.T) {
	sec := time.Second
	for _, c := range []struct {
		name  string
		a     Arrivals
		count int     // exact count, or
		mean  float64 // expected count within tol
		tol   float64
		check func(t *testing.T, s []int64)
	}{
		{name: "constant", a: Arrivals{Process: Constant, Rate: 10, Duration: 2 * sec}, count: 20,
			check: func(t *testing.T, s []int64) {
				for i, v := range s {
					if want := int64(i) * 1e8; v != want {
						t.Fatalf("request %d at %dns, want %d", i, v, want)
					}
				}
			}},
		{name: "constant fractional", a: Arrivals{Process: Constant, Rate: 3, Duration: 700 * time.Millisecond}, count: 3},
		// Poisson: 10000 expected, sd 100; a seeded source makes it exact
		// run to run, the tolerance says the process is right.
		{name: "poisson", a: Arrivals{Process: Poisson, Rate: 1000, Duration: 10 * sec}, mean: 10000, tol: 400,
			check: func(t *testing.T, s []int64) {
				// Exponential gaps: mean 1 ms, and the share of gaps
				// over the mean is e^-1.
				over := 0
				for i := 1; i < len(s); i++ {
					if s[i]-s[i-1] > 1e6 {
						over++
					}
				}
				if share := float64(over) / float64(len(s)-1); !within(share, math.Exp(-1), 0.02) {
					t.Errorf("share of gaps over the mean %.3f, want %.3f", share, math.Exp(-1))
				}
			}},
		// Ramp 100 -> 300 over 10 s: 2000 requests, 750 in the first half.
		{name: "ramp up", a: Arrivals{Process: Ramp, Rate: 100, RampTo: 300, Duration: 10 * sec}, count: 2000,
			check: func(t *testing.T, s []int64) {
				if n := countIn(s, 0, 5); !within(float64(n), 750, 1) {
					t.Errorf("first half %d, want 750", n)
				}
				if n := countIn(s, 0, 1); !within(float64(n), 110, 1) {
					t.Errorf("first second %d, want 110", n)
				}
				if n := countIn(s, 9, 10); !within(float64(n), 290, 1) {
					t.Errorf("last second %d, want 290", n)
				}
			}},
		{name: "ramp down to 0", a: Arrivals{Process: Ramp, Rate: 200, RampTo: 0, Duration: 10 * sec}, count: 1000,
			check: func(t *testing.T, s []int64) {
				if n := countIn(s, 9, 10); !within(float64(n), 10, 1) {
					t.Errorf("last second %d, want 10", n)
				}
			}},
		{name: "ramp from 0", a: Arrivals{Process: Ramp, Rate: 0, RampTo: 100, Duration: 10 * sec}, count: 500},
		{name: "ramp poisson", a: Arrivals{Process: Ramp, Rate: 100, RampTo: 300, Duration: 10 * sec, Poisson: true},
			mean: 2000, tol: 180,
			check: func(t *testing.T, s []int64) {
				if n := countIn(s, 0, 5); !within(float64(n), 750, 110) {
					t.Errorf("first half %d, want about 750", n)
				}
			}},
		{name: "trace rates", a: Arrivals{Process: Trace, Trace: &TraceFile{At: []float64{1, 2, 4}, Rates: []float64{10, 50, 0}}},
			count: 110,
			check: func(t *testing.T, s []int64) {
				if s[0] != 1e9 {
					t.Errorf("first request at %dns, want 1s (nothing before the first line)", s[0])
				}
				if n := countIn(s, 2, 4); n != 100 {
					t.Errorf("%d requests in [2, 4), want 100", n)
				}
			}},
		{name: "trace rates, last line held to the duration",
			a:     Arrivals{Process: Trace, Duration: 3 * sec, Trace: &TraceFile{At: []float64{0, 1}, Rates: []float64{10, 20}}},
			count: 50},
		{name: "trace rates, cut by the duration",
			a:     Arrivals{Process: Trace, Duration: 1500 * time.Millisecond, Trace: &TraceFile{At: []float64{0, 1, 5}, Rates: []float64{10, 20, 0}}},
			count: 20},
		{name: "trace times", a: Arrivals{Process: Trace, Trace: &TraceFile{Times: []float64{0, 0.5, 0.5, 2}}}, count: 4,
			check: func(t *testing.T, s []int64) {
				if !slices.Equal(s, []int64{0, 5e8, 5e8, 2e9}) {
					t.Errorf("schedule %v", s)
				}
			}},
		{name: "trace times, cut", a: Arrivals{Process: Trace, Duration: sec, Trace: &TraceFile{Times: []float64{0, 0.5, 1, 2}}}, count: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := c.a.Schedule(seeded())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.IsSorted(s) {
				t.Fatal("schedule not ascending")
			}
			if c.tol == 0 && len(s) != c.count {
				t.Fatalf("%d requests, want %d", len(s), c.count)
			}
			if c.tol > 0 && !within(float64(len(s)), c.mean, c.tol) {
				t.Fatalf("%d requests, want %v +- %v", len(s), c.mean, c.tol)
			}
			if end := c.a.Duration; end > 0 && len(s) > 0 && s[len(s)-1] >= int64(end) {
				t.Errorf("last request at %v, past the duration %v", time.Duration(s[len(s)-1]), end)
			}
			if c.check != nil {
				c.check(t, s)
			}
			again, _ := c.a.Schedule(seeded())
			if !slices.Equal(s, again) {
				t.Error("the same seed gave another schedule")
			}
		})
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, a := range []Arrivals{
		{Process: Constant, Rate: 0, Duration: time.Second},
		{Process: Poisson, Rate: -1, Duration: time.Second},
		{Process: Constant, Rate: math.NaN(), Duration: time.Second},
		{Process: Constant, Rate: 10},
		{Process: Ramp, Rate: 0, RampTo: 0, Duration: time.Second},
		{Process: Ramp, Rate: -5, RampTo: 10, Duration: time.Second},
		{Process: "burst", Rate: 10, Duration: time.Second},
		{Process: Trace, Duration: time.Second},
		{Process: Trace, Duration: time.Second, Trace: &TraceFile{Times: []float64{2}}},
		{Process: Constant, Rate: 1e9, Duration: time.Hour},
	} {
		if s, err := a.Schedule(seeded()); err == nil {
			t.Errorf("%+v: %d requests, want an error", a, len(s))
		}
	}
}

func TestParseTrace(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     TraceFile
		err      string // part of the error, "" for none
	}{
		{name: "times", in: "# a trace\n0\n0.25\n\n  0.25  \n1e0\n", want: TraceFile{Times: []float64{0, 0.25, 0.25, 1}}},
		{name: "rates", in: "0 100\n10\t400\n# burst over\n12.5 100\n", want: TraceFile{At: []float64{0, 10, 12.5}, Rates: []float64{100, 400, 100}}},
		{name: "empty", in: "# nothing\n\n", err: "no requests"},
		{name: "not a number", in: "0\nabc\n", err: "line 2"},
		{name: "negative", in: "0 10\n1 -5\n", err: "line 2"},
		{name: "nan", in: "NaN\n", err: "line 1"},
		{name: "inf", in: "0 +Inf\n", err: "line 1"},
		{name: "decreasing", in: "0\n2\n1\n", err: "line 3: time 1 is before"},
		{name: "mixed forms", in: "0 10\n1\n", err: "line 2"},
		{name: "three fields", in: "0 10 20\n", err: "line 1: 3 fields"},
		{name: "all rates 0", in: "0 0\n5 0\n", err: "every rate is 0"},
		{name: "time past a week", in: "0\n1e300\n", err: "line 2: time 1e+300s is past"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseTrace(strings.NewReader(c.in))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Times, c.want.Times) || !slices.Equal(got.At, c.want.At) || !slices.Equal(got.Rates, c.want.Rates) {
				t.Errorf("got %+v, want %+v", *got, c.want)
			}
		})
	}
}

func TestTraceRates(t *testing.T) {
	tf := &TraceFile{Times: []float64{0, 1, 2, 4}}
	if got := tf.MeanRate(); got != 1 {
		t.Errorf("mean rate %v, want 1", got)
	}
	tf = &TraceFile{At: []float64{0, 10}, Rates: []float64{50, 0}}
	if got, l := tf.MeanRate(), tf.Length(); got != 50 || l != 10 {
		t.Errorf("rates form: warm-up rate %v, length %v; want 50, 10", got, l)
	}
}

func TestWithWarmup(t *testing.T) {
	s, warm := WithWarmup([]int64{0, 1e8}, 10, time.Second)
	if warm != 10 || len(s) != 12 || s[9] != 9e8 || s[10] != 1e9 || s[11] != 1.1e9 {
		t.Errorf("warm %d, schedule %v", warm, s)
	}
	if s, warm := WithWarmup([]int64{5}, 10, 0); warm != 0 || len(s) != 1 {
		t.Errorf("no warm-up: warm %d, schedule %v", warm, s)
	}
}
