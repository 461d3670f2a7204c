package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/gannet-ml/gannet/autoscale"
	"github.com/gannet-ml/gannet/client"
)

// autoscaleConfig is the synthetic model of the autoscaling test. A batch
// of 8 takes 40ms + 8 x 4ms = 72ms, within half the 200ms SLO: one replica
// serves about 110 rows/s at its SLO-feasible batch, so 80% of 4 replicas
// is about 350 requests/s of one row, which a loaded 2-core machine
// running the race detector can still send.
const autoscaleConfig = `platform: synthetic
synthetic: {base: 40ms, per_item: 4ms}
input: {name: x, datatype: FP32, shape: [-1, 4]}
max_batch_size: 8
slo: 200ms at p99
replicas: {min: 1, max: 4}
`

const autoscaleSLO = 200 * time.Millisecond

// outcome of one request of the load generator.
type loadResult struct {
	sent    time.Duration // since the generator's start
	latency time.Duration
	err     error
}

// openLoop sends requests of rows rows at a rate that rate(elapsed)
// gives in requests per second (0 stops), each on its own goroutine,
// whatever the answers: an open-loop load.
type openLoop struct {
	mu      sync.Mutex // guards results
	results []loadResult
	start   time.Time
	wg      sync.WaitGroup // one per request in flight
}

func runOpenLoop(ctx context.Context, sdk *client.Client, model string, rows int, rate func(time.Duration) float64) *openLoop {
	l := &openLoop{start: time.Now()}
	vals := make([]float32, 4*rows)
	for i := range vals {
		vals[i] = float32(i)
	}
	in := []client.Tensor{fp32Tensor("x", []int64{int64(rows), 4}, vals)}
	next := time.Duration(0)
	for {
		el := time.Since(l.start)
		r := rate(el)
		if r <= 0 || ctx.Err() != nil {
			break
		}
		if next > el {
			time.Sleep(next - el)
		}
		next += time.Duration(float64(time.Second) / r)
		l.wg.Add(1)
		go func(sent time.Duration) {
			defer l.wg.Done()
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			t0 := time.Now()
			_, err := sdk.Infer(rctx, model, in)
			res := loadResult{sent: sent, latency: time.Since(t0), err: err}
			l.mu.Lock()
			l.results = append(l.results, res)
			l.mu.Unlock()
		}(time.Since(l.start))
	}
	l.wg.Wait()
	return l
}

// window summarizes the requests sent in [from, to).
type window struct {
	from, to     time.Duration
	n, failed    int
	p99          time.Duration
	firstFailure error
}

func (l *openLoop) window(from, to time.Duration) window {
	w := window{from: from, to: to}
	var lat []time.Duration
	for _, r := range l.results {
		if r.sent < from || r.sent >= to {
			continue
		}
		w.n++
		if r.err != nil {
			w.failed++
			if w.firstFailure == nil {
				w.firstFailure = r.err
			}
			continue
		}
		lat = append(lat, r.latency)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		w.p99 = lat[(len(lat)*99)/100]
	}
	return w
}

func synthRepo(t *testing.T, name, config string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestAutoscaleFollowsTheLoad is issue 7's end-to-end test with real
// processes and the synthetic model: the load steps from 10% to 80% of 4
// replicas' capacity; replicas rise and p99 is back under the SLO, with
// no request refused, within 3 s; the load drops; replicas drain to the
// minimum with no failed request. It runs with requests of one row and
// of four: the autoscaler counts the load in rows, the unit of capacity,
// so four-row requests at a quarter of the rate are the same load.
func TestAutoscaleFollowsTheLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("about 30 s of load per run")
	}
	for _, rows := range []int{1, 4} {
		t.Run(fmt.Sprintf("rows=%d", rows), func(t *testing.T) { testAutoscaleFollowsTheLoad(t, rows) })
	}
}

func testAutoscaleFollowsTheLoad(t *testing.T, rows int) {
	in := startServe(t, "--model-repository", synthRepo(t, "echo", autoscaleConfig),
		"--autoscale-down-window", "2s", "--log-level", "warn",
		// Slower heartbeats: a starved frontend must not lose workers.
		"--heartbeat", "500ms")
	in.waitReady(t)
	sdk := in.dial(t)

	perReplica, _ := autoscale.Capacity(autoscale.Linear(40*time.Millisecond, 4*time.Millisecond), autoscaleSLO, 8)
	low, high := 0.1*4*perReplica/float64(rows), 0.8*4*perReplica/float64(rows) // requests/s
	const warm, stepUp, maxLow = 4 * time.Second, 7 * time.Second, 25 * time.Second

	// The replica count over time, from /metrics.
	type sample struct {
		at            time.Duration
		ready, wanted float64
		downs         float64 // decisions "down" so far
	}
	var (
		mu      sync.Mutex // guards samples, drainedAt
		samples []sample
		// drainedAt is when, in the low phase, ready replicas were back
		// at the minimum (0: not yet).
		drainedAt time.Duration
	)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	start := time.Now()
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		echo := map[string]string{"model": "echo"}
		for ctx.Err() == nil {
			m := scrape(t, in)
			s := sample{at: time.Since(start), ready: value(m, "gannet_replicas", with(echo, "state", "ready")),
				wanted: value(m, "gannet_autoscaler_desired_replicas", echo),
				downs:  value(m, "gannet_autoscaler_decisions_total", with(echo, "reason", autoscale.ReasonDown))}
			mu.Lock()
			samples = append(samples, s)
			if s.at > warm+stepUp+time.Second && s.ready == 1 && s.wanted == 1 && drainedAt == 0 {
				drainedAt = s.at
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()

	l := runOpenLoop(ctx, sdk, "echo", rows, func(el time.Duration) float64 {
		switch {
		case el < warm:
			return low
		case el < warm+stepUp:
			return high
		case el > warm+stepUp+maxLow:
			return 0
		}
		mu.Lock()
		defer mu.Unlock()
		if drainedAt != 0 && el > drainedAt+time.Second {
			return 0 // a second of load at the minimum, then done
		}
		return low
	})
	stop()
	sampler.Wait()

	// Replicas over time.
	var line strings.Builder
	last := sample{ready: -1}
	maxReady := 0.0
	for _, s := range samples {
		if s.ready != last.ready || s.wanted != last.wanted {
			fmt.Fprintf(&line, " %.2fs:%v/%v", s.at.Seconds(), s.ready, s.wanted)
			last = s
		}
		maxReady = max(maxReady, s.ready)
	}
	t.Logf("load %.0f -> %.0f -> %.0f req/s of %d rows (per-replica capacity %.0f rows/s); ready/desired replicas over time:%s", low, high, low, rows, perReplica, line.String())

	// The step: 250ms windows; recovered after the last window with a
	// p99 above the SLO or a failed request.
	recovered := time.Duration(0)
	var worst window
	for from := warm; from < warm+stepUp; from += 250 * time.Millisecond {
		w := l.window(from, from+250*time.Millisecond)
		if w.p99 > autoscaleSLO || w.failed > 0 {
			recovered = w.to - warm
			if w.failed > worst.failed {
				worst = w
			}
		}
	}
	up := l.window(warm, warm+stepUp)
	settled := l.window(warm+recovered, warm+stepUp)
	t.Logf("step up: %d requests, %d refused or failed (first: %v); p99 back under %v and no failure after %v; after that: %d requests, p99 %v",
		up.n, up.failed, up.firstFailure, autoscaleSLO, recovered, settled.n, settled.p99)
	if maxReady < 3 {
		t.Errorf("at most %v ready replicas under 80%% of 4 replicas' load", maxReady)
	}
	// No flapping under a steady load: no scale-down for lack of load
	// during the step (counting requests instead of rows, the four-row
	// run saw a quarter of its load and went 4 -> 3 -> 4 -> 3). A cap for
	// contention, on a loaded machine, is another reason and is allowed.
	// (A scale-down in the warm-up, after a start-up fast path, is not.)
	downsAtStep := -1.0
	for _, s := range samples {
		if s.at < warm {
			continue
		}
		if downsAtStep < 0 {
			downsAtStep = s.downs
		}
		if s.at < warm+stepUp && s.downs > downsAtStep {
			t.Errorf("%v scale-down decisions between %v and %.2fs, during the step's steady load (desired %v)", s.downs-downsAtStep, warm, s.at.Seconds(), s.wanted)
			break
		}
	}
	// The goal is 3 s (reported above); a single bad window later in the
	// step, on a loaded 2-core machine, is noise, so the test fails only
	// when the p99 over everything after 3 s is above the SLO.
	if after := l.window(warm+3*time.Second, warm+stepUp); after.p99 > autoscaleSLO {
		t.Errorf("p99 %v over the step after its first 3 s, above the %v SLO (last bad window ends %v in; worst %+v)", after.p99, autoscaleSLO, recovered, worst)
	}

	// The drop: back to the minimum, nothing failed.
	down := l.window(warm+stepUp, time.Since(l.start))
	mu.Lock()
	drained := drainedAt
	mu.Unlock()
	t.Logf("step down: %d requests, %d failed, p99 %v; back to 1 replica %v after the drop",
		down.n, down.failed, down.p99, drained-warm-stepUp)
	if drained == 0 {
		t.Errorf("replicas not back to the minimum within %v of the drop", maxLow)
	}
	// A worker lost for silence (a machine starved by other tests) fails
	// requests that have nothing to do with draining: those are reported,
	// not held against the drain. Drained workers leave with DISCONNECT.
	lost := sum(scrape(t, in), "gannet_workers_lost_total", nil) - value(scrape(t, in), "gannet_workers_lost_total", map[string]string{"reason": "disconnect"})
	switch {
	case down.failed > 0 && lost > 0:
		t.Logf("%d requests failed while replicas drained, with %v workers lost to silence or errors (not drained): a starved machine; first: %v", down.failed, lost, down.firstFailure)
	case down.failed > 0:
		t.Errorf("%d requests failed while replicas drained; first: %v", down.failed, down.firstFailure)
	}

	// The metrics lint, and the stats endpoint agrees.
	text := scrapeText(t, in)
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "gannet_autoscaler") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
	m := parse(t, text)
	if f := m["gannet_autoscaler_decisions_total"]; f != nil {
		var reasons []string
		for _, s := range f.Metric {
			for _, l := range s.Label {
				if l.GetName() == "reason" {
					reasons = append(reasons, fmt.Sprintf("%s=%v", l.GetValue(), s.Counter.GetValue()))
				}
			}
		}
		t.Logf("decisions by reason: %s; cold starts: %v, mean %.3fs", strings.Join(reasons, ", "),
			value(m, "gannet_autoscaler_cold_start_seconds", map[string]string{"model": "echo"}),
			sum(m, "gannet_autoscaler_cold_start_seconds", map[string]string{"model": "echo"})/value(m, "gannet_autoscaler_cold_start_seconds", map[string]string{"model": "echo"}))
	}
	if n := sum(m, "gannet_autoscaler_cold_start_seconds", map[string]string{"model": "echo"}); n <= 0 {
		t.Errorf("no cold start measured")
	}
	if n := value(m, "gannet_autoscaler_scaling_events_total", map[string]string{"model": "echo", "direction": "down"}); n < 2 {
		t.Errorf("%v scaling events down, want at least 2", n)
	}
	st := stats(t, in, "echo")
	if len(st.ModelStats) != 1 || st.ModelStats[0].Autoscaler == nil || st.ModelStats[0].Autoscaler.Ready != 1 ||
		st.ModelStats[0].InferenceCount == 0 || st.ModelStats[0].ExecutionCount == 0 {
		t.Errorf("stats %+v", st)
	}
}

type modelStats struct {
	ModelStats []struct {
		Name           string `json:"name"`
		Version        string `json:"version"`
		InferenceCount uint64 `json:"inference_count"`
		ExecutionCount uint64 `json:"execution_count"`
		InferenceStats map[string]struct {
			Count uint64 `json:"count"`
			NS    uint64 `json:"ns"`
		} `json:"inference_stats"`
		Autoscaler *AutoscalerStatus `json:"autoscaler"`
	} `json:"model_stats"`
}

func stats(t *testing.T, in *instance, model string) modelStats {
	t.Helper()
	resp, err := http.Get(in.http + "/v2/models/" + model + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var s modelStats
	if err := json.Unmarshal(b, &s); resp.StatusCode != 200 || err != nil {
		t.Fatalf("GET /v2/models/%s/stats: %d %s (%v)", model, resp.StatusCode, b, err)
	}
	return s
}

// TestAutoscaleFromZero: fashion-mnist-cnn with replicas.min 0 is ready
// with no replica; a request after an idle period is held at the frontend
// (not refused) while the autoscaler starts a replica, and answered. The
// request wakes the controller at once (dispatch OnStarved), so the
// replica is asked for within milliseconds, not at the next 250 ms tick.
// With the warm pool (--warm-workers 1 here; the default is 2) a parked worker is
// assigned (LOAD at once); without it a worker process starts. It logs
// the first-response time after idle (issue 7's goal, with the pool:
// <= 1 s) and asserts a generous bound.
// The model has no SLO here: with one, a request's deadline is at most
// its arrival plus the SLO, and a cold start longer than the SLO answers
// it with a deadline error.
func TestAutoscaleFromZero(t *testing.T) {
	onnx, err := os.ReadFile("../../testdata/models/fashion-mnist-cnn/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	dir := synthRepo(t, "cnn", "max_batch_size: 32\nreplicas: {min: 0, max: 1}\n")
	if err := os.MkdirAll(filepath.Join(dir, "cnn", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cnn", "1", "model.onnx"), onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	images, _ := testImages(t, 1)
	body := jsonImage(images[0])
	for _, tc := range []struct {
		warm  int
		bound time.Duration
	}{{1, 3 * time.Second}, {0, 10 * time.Second}} {
		t.Run(fmt.Sprintf("warm=%d", tc.warm), func(t *testing.T) {
			in := startServe(t, "--model-repository", dir, "--autoscale-idle", "1s", "--warm-workers", fmt.Sprint(tc.warm))
			in.waitReady(t) // ready with no replica
			ready := map[string]string{"model": "cnn", "state": "ready"}
			parked := map[string]string{"state": "parked"}
			var took []time.Duration
			for round := range 2 {
				// Idle, at zero replicas, the pool full.
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					m := scrape(t, in)
					if value(m, "gannet_replicas", ready) == 0 && value(m, "gannet_workers", parked) == float64(tc.warm) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("round %d: not back to zero replicas and %d parked within 30s of idle", round, tc.warm)
					}
				}
				time.Sleep(500 * time.Millisecond)
				start := time.Now()
				code, _, b := in.post(t, "/v2/models/cnn/infer", body, nil)
				took = append(took, time.Since(start))
				if code != 200 {
					t.Fatalf("round %d: first request after idle: %d %s", round, code, b)
				}
				if took[round] > tc.bound {
					t.Errorf("round %d: first response after idle took %v, want <= %v", round, took[round], tc.bound)
				}
			}
			m := scrape(t, in)
			cold := func(from string) string {
				l := map[string]string{"model": "cnn", "from": from}
				n := value(m, "gannet_autoscaler_cold_start_seconds", l)
				if n <= 0 {
					return "none"
				}
				return fmt.Sprintf("%v, mean %.0fms", n, 1000*sum(m, "gannet_autoscaler_cold_start_seconds", l)/n)
			}
			t.Logf("--warm-workers %d: first response after idle at zero replicas: %v, %v (cold starts from the pool: %s; from a new process: %s)",
				tc.warm, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), cold("pool"), cold("process"))
			if n := value(m, "gannet_autoscaler_cold_start_seconds", map[string]string{"model": "cnn", "from": "pool"}); tc.warm > 0 && n < 2 {
				t.Errorf("%v replicas came from the warm pool, want 2", n)
			}
		})
	}
}
