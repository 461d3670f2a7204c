package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/gannet-ml/gannet/wire"
)

// trivialServer is a fasthttp server on loopback that answers infer
// requests by model name: "ok" 200 at once, "refuse" 503 with a reason,
// "slow" 200 after 300 ms, anything else 404. It returns its base URL.
func trivialServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ok := []byte(`{"model_name":"ok","outputs":[]}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/v2/models/ok/infer":
			ctx.SetBody(ok)
		case "/v2/models/refuse/infer":
			ctx.SetStatusCode(503)
			ctx.SetBodyString(`{"error":"exceeds maximum queue size 1024"}`)
		case "/v2/models/slow/infer":
			time.Sleep(300 * time.Millisecond)
			ctx.SetBody(ok)
		default:
			ctx.SetStatusCode(404)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

var testInputs = [][]wire.Tensor{{{Name: "x", DataType: wire.TypeFP32, Shape: []int64{1, 2}, Data: make([]byte, 8)}}}

func httpTo(t testing.TB, url, model string, binary bool) Transport {
	t.Helper()
	tr, err := NewHTTP(HTTPConfig{URL: url, Model: model, Binary: binary, Inputs: testInputs, MaxConns: 4096, TimeoutMicros: 5000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// every returns n send times gap apart.
func every(n int, gap time.Duration) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i) * int64(gap)
	}
	return s
}

func TestExecute(t *testing.T) {
	url := trivialServer(t)
	for _, c := range []struct {
		name, model string
		binary      bool
		sched       []int64
		maxInflight int
		timeout     time.Duration
		want        map[string]int // outcome counts, "ok" included
		refusals    map[string]int
	}{
		{name: "json ok", model: "ok", sched: every(40, time.Millisecond), want: map[string]int{"ok": 40}},
		{name: "binary ok", model: "ok", binary: true, sched: every(40, time.Millisecond), want: map[string]int{"ok": 40}},
		{name: "refused", model: "refuse", sched: every(5, time.Millisecond), want: map[string]int{"http_503": 5},
			refusals: map[string]int{"exceeds maximum queue size N": 5}},
		{name: "not found", model: "nope", sched: every(3, time.Millisecond), want: map[string]int{"http_404": 3}},
		// Open loop: 8 requests due at once with 3 allowed in flight are
		// not queued behind the slow ones but counted as overload.
		{name: "overload", model: "slow", sched: make([]int64, 8), maxInflight: 3, want: map[string]int{"ok": 3, "overload": 5}},
		{name: "client timeout", model: "slow", sched: every(2, time.Millisecond), timeout: 50 * time.Millisecond,
			want: map[string]int{"timeout": 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			run, err := Execute(context.Background(), Config{
				Schedule: c.sched, Duration: time.Second, MaxInflight: c.maxInflight, ClientTimeout: c.timeout,
				Transport: httpTo(t, url, c.model, c.binary),
			})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, s := range run.Samples {
				got[run.name(s.Outcome)]++
				if s.Latency <= 0 {
					t.Errorf("latency %d", s.Latency)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("outcomes %v, want %v", got, c.want)
			}
			r := Summarize(run, time.Second)
			if c.refusals != nil && fmt.Sprint(r.Refusals) != fmt.Sprint(c.refusals) {
				t.Errorf("refusals %v, want %v", r.Refusals, c.refusals)
			}
			if c.name == "overload" && run.MaxInflight != 3 {
				t.Errorf("max in flight %d, want 3", run.MaxInflight)
			}
		})
	}
}

// TestExecuteOpenLoop checks that requests go out on schedule while
// earlier ones are still waiting (no coordinated omission): 10 requests
// 20 ms apart to a server that takes 300 ms to answer each are all in
// flight at once, and each latency is measured from its own scheduled time.
func TestExecuteOpenLoop(t *testing.T) {
	url := trivialServer(t)
	run, err := Execute(context.Background(), Config{Schedule: every(10, 20*time.Millisecond), Duration: 200 * time.Millisecond,
		Transport: httpTo(t, url, "slow", false)})
	if err != nil {
		t.Fatal(err)
	}
	if run.MaxInflight != 10 {
		t.Errorf("max in flight %d, want 10", run.MaxInflight)
	}
	for i, s := range run.Samples {
		if s.Outcome != OK || s.Latency < int64(300*time.Millisecond) || s.Lag > int64(150*time.Millisecond) {
			t.Errorf("request %d: %+v", i, s)
		}
	}
}

func TestExecuteInterrupted(t *testing.T) {
	url := trivialServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	run, err := Execute(ctx, Config{Schedule: every(100, 10*time.Millisecond), Warm: 5, Start: int64(50 * time.Millisecond),
		Duration: 950 * time.Millisecond, Transport: httpTo(t, url, "ok", false)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	r := Summarize(run, time.Second)
	if r.Generator.NotSent < 50 || r.Requests+r.Generator.NotSent != 95 || r.Requests != r.OK {
		t.Errorf("requests %d ok %d not sent %d", r.Requests, r.OK, r.Generator.NotSent)
	}
	if run.Duration >= 500*time.Millisecond || run.Duration <= 0 {
		t.Errorf("measured window %v, want it cut at the interruption", run.Duration)
	}
}

func TestExecuteUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	run, err := Execute(context.Background(), Config{Schedule: every(3, time.Millisecond), Duration: time.Second,
		Transport: httpTo(t, url, "ok", false)})
	if err != nil {
		t.Fatal(err)
	}
	if r := Summarize(run, time.Second); r.Errors["conn_refused"] != 3 {
		t.Errorf("errors %v, want 3 conn_refused", r.Errors)
	}
}

func TestWritePlots(t *testing.T) {
	url := trivialServer(t)
	var reports []Progress
	run, err := Execute(context.Background(), Config{Schedule: every(300, time.Millisecond), Warm: 50, Start: int64(50 * time.Millisecond),
		Duration: 250 * time.Millisecond, Transport: httpTo(t, url, "ok", true),
		Progress: func(p Progress) { reports = append(reports, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) == 0 || !reports[len(reports)-1].Final || reports[len(reports)-1].Done != 300 {
		t.Errorf("progress reports %+v", reports)
	}
	r := Summarize(run, 5*time.Millisecond)
	dir := t.TempDir()
	if err := WritePlots(dir, "test", run, &r, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{LatencyPlot, CDFPlot} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
			t.Errorf("%s: %d bytes, %v", f, len(b), err)
		}
	}
}

func TestMeasureBatches(t *testing.T) {
	calls := map[int]int{}
	res, err := MeasureBatches([]int{1, 4}, 20*time.Millisecond, 5, func(n int) error {
		calls[n]++
		time.Sleep(time.Duration(n) * 100 * time.Microsecond)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || res.Rows[0].Runs < 5 || calls[1] < 8 || res.Rows[1].P50MS < 0.4 || res.MaxThroughput <= 0 || res.Batch1P50MS <= 0 {
		t.Errorf("result %+v, calls %v", res, calls)
	}
	boom := errors.New("boom")
	if _, err := MeasureBatches([]int{1}, time.Millisecond, 1, func(int) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err %v", err)
	}
}

// TestMeasureBatchesCountsCPU: a model that computes costs CPU per row,
// one that waits (as for a device) almost none; the column tells how many
// cores the ceiling kept busy.
func TestMeasureBatchesCountsCPU(t *testing.T) {
	if cpuTime() == 0 {
		t.Skip("no CPU time on this system")
	}
	const perRow = 300 * time.Microsecond
	measure := func(run func(time.Duration)) float64 {
		res, err := MeasureBatches([]int{2}, 30*time.Millisecond, 10, func(n int) error {
			run(time.Duration(n) * perRow)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows[0].CPUPerRowUS
	}
	busy := measure(func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
	})
	idle := measure(time.Sleep)
	if busy < 100 || idle > busy/2 {
		t.Errorf("CPU per row: %.0f us computing %v per row, %.0f us sleeping as long", busy, perRow, idle)
	}
}

// BenchmarkHTTPSend is one sender's sequential requests to a trivial
// server: the generator's cost per request (allocations included, of the
// client and the in-process server together).
func BenchmarkHTTPSend(b *testing.B) {
	url := trivialServer(b)
	for _, binary := range []bool{false, true} {
		b.Run(fmt.Sprintf("binary=%v", binary), func(b *testing.B) {
			s, _ := httpTo(b, url, "ok", binary).NewSender()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if kind, _ := s.Send(i, time.Now().Add(time.Second)); kind != "" {
					b.Fatal(kind)
				}
			}
		})
	}
}

// BenchmarkCeiling runs the generator for a second at each rate against a
// trivial fasthttp server in this process and reports the rate achieved
// and how late requests were sent: the highest rate at which the lag stays
// small is the generator's ceiling on this machine (the server shares the
// CPU with it).
//
//	go test -run '^$' -bench Ceiling -benchtime 1x ./internal/loadgen
func BenchmarkCeiling(b *testing.B) {
	url := trivialServer(b)
	for _, rate := range []float64{10000, 20000, 40000, 80000} {
		b.Run(fmt.Sprintf("rate=%.0f", rate), func(b *testing.B) {
			sched, _ := Arrivals{Process: Poisson, Rate: rate, Duration: time.Second}.Schedule(seeded())
			for b.Loop() {
				run, err := Execute(context.Background(), Config{Schedule: sched, Duration: time.Second, Transport: httpTo(b, url, "ok", true)})
				if err != nil {
					b.Fatal(err)
				}
				r := Summarize(run, 10*time.Millisecond)
				b.ReportMetric(r.Throughput, "ok/s")
				b.ReportMetric(r.Generator.SendLagP99MS, "lag-p99-ms")
				b.ReportMetric(r.P99MS, "p99-ms")
				b.ReportMetric(r.Generator.CPUPerReqUS, "cpu-us/req")
				b.ReportMetric(float64(r.Generator.MaxInflight), "max-inflight")
				b.ReportMetric(float64(r.Requests-r.OK), "errors")
				if len(r.Errors) > 0 {
					b.Logf("errors %v", r.Errors)
				}
			}
		})
	}
}
