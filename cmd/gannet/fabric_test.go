package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gannet-ml/gannet/client"
)

// children lists the pids of pid's child processes whose command line
// contains match.
func children(t testing.TB, pid int, match string) []int {
	t.Helper()
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var pids []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			child, _ := strconv.Atoi(field)
			cmdline, _ := os.ReadFile(filepath.Join("/proc", field, "cmdline"))
			if strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), match) {
				pids = append(pids, child)
			}
		}
	}
	return pids
}

// TestLocalWorkerIsRestarted kills a local worker with SIGKILL: the server
// starts a new one, which registers, is sent the model and serves.
func TestLocalWorkerIsRestarted(t *testing.T) {
	in := startServe(t)
	in.waitReady(t)
	const match = "--model fashion-mnist-mlp"
	before := children(t, in.cmd.Process.Pid, match)
	if len(before) != 1 {
		t.Fatalf("want one local worker for the MLP, found %v", before)
	}
	if err := syscall.Kill(before[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		now := children(t, in.cmd.Process.Pid, match)
		if len(now) == 1 && now[0] != before[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new worker after killing %d (workers now %v)", before[0], now)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The dead worker is noticed (heartbeats), the new one registers and
	// loads the model; then requests are served again.
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, _, body := in.post(t, "/v2/models/fashion-mnist-mlp/infer", jsonImage(make([]float32, 784)), nil)
		if code == 200 {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("after the restart: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := scrape(t, in)
	if v := value(m, "gannet_workers_lost_total", nil); v < 1 {
		t.Errorf("gannet_workers_lost_total = %v, want the dead worker counted", v)
	}
}

// TestRemoteWorkerGetsTheModelShipped starts the server with no local
// workers: it is not ready, says why, and becomes ready when a worker
// started by hand connects; the worker reads no model files, it is sent
// them. SIGTERM on the worker makes it say DISCONNECT and exit 0; the
// DISCONNECT must arrive although the process exits right after sending
// it (with three busy loops on the 2 cores and -race, it was lost in 5
// of 100 runs before the worker ended libzmq's context before exiting,
// flushZMQ, and in 0 of 100 after).
func TestRemoteWorkerGetsTheModelShipped(t *testing.T) {
	in := startServe(t, "--local-workers", "0")
	in.waitStatus(t, "/v2/health/ready", 400, 10*time.Second)
	resp, err := http.Get(in.http + "/v2/models/fashion-mnist-cnn/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte("not ready")) {
		t.Fatalf("model ready with no worker: %d %s", resp.StatusCode, body)
	}

	var workers []*exec.Cmd
	startWorker := func(args ...string) {
		w := exec.Command(gannetBinary(t), append([]string{"worker", "--connect", in.workerAddr}, args...)...)
		w.Dir = t.TempDir() // nowhere near a model repository
		w.Stdout, w.Stderr = in.log, in.log
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
		t.Cleanup(func() { w.Process.Kill() })
	}
	startWorker("--model", "fashion-mnist-cnn")
	in.waitStatus(t, "/v2/models/fashion-mnist-cnn/ready", 200, 30*time.Second)
	startWorker() // asks for nothing: gets the model with the fewest replicas
	in.waitReady(t)
	for _, m := range builtinModels {
		code, _, body := in.post(t, "/v2/models/"+m+"/infer", jsonImage(make([]float32, 784)), nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", m, code, body)
		}
	}
	for _, w := range workers {
		w.Process.Signal(syscall.SIGTERM)
		if err := w.Wait(); err != nil {
			t.Errorf("worker exit after SIGTERM: %v", err)
		}
	}
	in.waitStatus(t, "/v2/health/ready", 400, 10*time.Second)
	if !strings.Contains(in.log.String(), "worker disconnected: worker shutting down") {
		t.Error("the server did not hear the workers' DISCONNECT")
	}
}

// TestMetrics checks /metrics passes promtool's lint and counts what was
// sent.
func TestMetrics(t *testing.T) {
	in := startServe(t)
	in.waitReady(t)
	const path = "/v2/models/fashion-mnist-mlp/infer"
	for range 5 {
		if code, _, body := in.post(t, path, jsonImage(make([]float32, 784)), nil); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	for range 2 {
		in.post(t, path, []byte(`{"inputs":[]}`), nil)
	}
	text := scrapeText(t, in)
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	m := parse(t, text)
	mlp := map[string]string{"model": "fashion-mnist-mlp", "protocol": "http"}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gannet_requests_total", with(mlp, "code", "200"), 5},
		{"gannet_requests_total", with(mlp, "code", "400"), 2},
		{"gannet_request_duration_seconds", mlp, 7},
		{"gannet_queue_duration_seconds", map[string]string{"model": "fashion-mnist-mlp"}, 5},
		{"gannet_pending_requests", map[string]string{"model": "fashion-mnist-mlp"}, 0},
		{"gannet_workers", map[string]string{"state": "ready"}, 2},
		{"gannet_replicas", map[string]string{"model": "fashion-mnist-cnn", "state": "ready"}, 1},
	}
	for _, c := range checks {
		if got := value(m, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Batches add up to the requests run.
	if rows := sum(m, "gannet_batch_size", map[string]string{"model": "fashion-mnist-mlp"}); rows != 5 {
		t.Errorf("gannet_batch_size sum = %v rows, want 5", rows)
	}
	if n := value(m, "gannet_compute_duration_seconds", map[string]string{"model": "fashion-mnist-mlp"}); n < 1 {
		t.Errorf("gannet_compute_duration_seconds count = %v", n)
	}
}

func with(m map[string]string, k, v string) map[string]string {
	c := map[string]string{k: v}
	for a, b := range m {
		c[a] = b
	}
	return c
}

func scrapeText(t testing.TB, in *instance) string {
	t.Helper()
	resp, err := http.Get(in.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func scrape(t testing.TB, in *instance) map[string]*dto.MetricFamily {
	return parse(t, scrapeText(t, in))
}

func parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// value is a metric's value (a histogram's count), summed over the series
// whose labels include labels.
func value(m map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	return fold(m, name, labels, false)
}

// sum is a histogram's sum over the matching series.
func sum(m map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	return fold(m, name, labels, true)
}

func fold(m map[string]*dto.MetricFamily, name string, labels map[string]string, sum bool) float64 {
	f := m[name]
	if f == nil {
		return -1
	}
	total := 0.0
	for _, s := range f.Metric {
		if !matches(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			total += s.Counter.GetValue()
		case s.Gauge != nil:
			total += s.Gauge.GetValue()
		case s.Histogram != nil && sum:
			total += s.Histogram.GetSampleSum()
		case s.Histogram != nil:
			total += float64(s.Histogram.GetSampleCount())
		}
	}
	return total
}

func matches(s *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		found := false
		for _, l := range s.Label {
			if l.GetName() == k && l.GetValue() == v {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestKilledWorkersLoseNoRequest kills an MLP worker with SIGKILL every
// 1.5 s while clients keep 8 requests in flight: every request is answered
// exactly once, and the batches of killed workers run on the other
// replica, so none fails.
func TestKilledWorkersLoseNoRequest(t *testing.T) {
	in := startServe(t, "--local-workers", "2")
	in.waitReady(t)
	sdk := in.dial(t)
	finish := keepBusy(t, sdk, 8, 5*time.Second)
	kills := 0
	for range 4 {
		time.Sleep(1500 * time.Millisecond)
		pids := children(t, in.cmd.Process.Pid, "--model fashion-mnist-mlp")
		if len(pids) == 0 {
			continue
		}
		syscall.Kill(pids[kills%len(pids)], syscall.SIGKILL)
		kills++
	}
	time.Sleep(1500 * time.Millisecond)
	answered, failed := finish()
	m := scrape(t, in)
	t.Logf("%d requests answered, %d kills, %v re-dispatched, failures %v",
		answered, kills, value(m, "gannet_batches_redispatched_total", nil), failed)
	if len(failed) > 0 {
		t.Errorf("requests failed although another replica was up: %v", failed)
	}
	if kills < 3 {
		t.Fatalf("only %d workers killed", kills)
	}
}

// TestWorkersComeBackAfterAFrontendRestart: workers started by hand
// re-register with a restarted `gannet serve` within 2 s.
func TestWorkersComeBackAfterAFrontendRestart(t *testing.T) {
	in := startServe(t, "--local-workers", "0")
	for _, m := range builtinModels {
		w := exec.Command(gannetBinary(t), "worker", "--connect", in.workerAddr, "--model", m)
		w.Stdout, w.Stderr = in.log, in.log
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Process.Kill(); w.Wait() })
	}
	in.waitReady(t)
	in.stop(t)
	time.Sleep(time.Second) // the frontend is away for a while
	again := startServeOn(t, in.ports, "--local-workers", "0")
	start := time.Now()
	again.waitReady(t)
	took := time.Since(start)
	t.Logf("workers re-registered %v after the restart", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("workers took %v to come back, want <= 2s", took)
	}
}

// TestStoppedWorkerIsEvictedAndReturns: a worker frozen with SIGSTOP is
// evicted, its batch runs elsewhere, and after SIGCONT its late reply is
// dropped and it registers again; no request fails or is answered twice.
func TestStoppedWorkerIsEvictedAndReturns(t *testing.T) {
	in := startServe(t, "--local-workers", "2")
	in.waitReady(t)
	sdk := in.dial(t)
	finish := keepBusy(t, sdk, 4, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	pids := children(t, in.cmd.Process.Pid, "--model fashion-mnist-mlp")
	if len(pids) != 2 {
		t.Fatalf("MLP workers %v", pids)
	}
	syscall.Kill(pids[0], syscall.SIGSTOP)
	stopped := time.Now()
	lost := map[string]string{"reason": "heartbeat"}
	for value(scrape(t, in), "gannet_workers_lost_total", lost) < 1 {
		if time.Since(stopped) > 10*time.Second {
			t.Fatal("the stopped worker was never evicted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	detect := time.Since(stopped)
	t.Logf("frozen worker evicted after %v", detect.Round(time.Millisecond))
	if detect > 2*time.Second { // 3 heartbeats of 250 ms, checked every 250 ms: about 1 s
		t.Errorf("eviction took %v", detect)
	}
	time.Sleep(3*time.Second - detect)
	syscall.Kill(pids[0], syscall.SIGCONT)
	// It notices it was dropped and registers again: two ready replicas.
	deadline := time.Now().Add(10 * time.Second)
	for value(scrape(t, in), "gannet_replicas", map[string]string{"model": "fashion-mnist-mlp", "state": "ready"}) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the stopped worker did not come back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	answered, failed := finish()
	if len(failed) > 0 {
		t.Errorf("requests failed: %v", failed)
	}
	m := scrape(t, in)
	t.Logf("%d requests, %d failed; lost workers %v, re-dispatched %v, late replies dropped %v", answered, len(failed),
		value(m, "gannet_workers_lost_total", nil), value(m, "gannet_batches_redispatched_total", nil), value(m, "gannet_late_replies_total", nil))
	if value(m, "gannet_workers_lost_total", map[string]string{"reason": "heartbeat"}) < 1 {
		t.Error("the stopped worker was not evicted for missing heartbeats")
	}
	if missed := value(m, "gannet_worker_heartbeats_missed_total", nil); missed < 2 {
		t.Errorf("gannet_worker_heartbeats_missed_total = %v, want at least the 2 intervals before eviction", missed)
	}
	if h := m["gannet_worker_failure_detection_seconds"]; h == nil || h.Metric[0].GetHistogram().GetSampleCount() < 1 {
		t.Error("no failure detection time recorded for the evicted worker")
	}
	if pids2 := children(t, in.cmd.Process.Pid, "--model fashion-mnist-mlp"); !slices.Contains(pids2, pids[0]) {
		t.Error("the stopped worker was restarted rather than readmitted")
	}
}

// TestSIGTERMAnswersRequestsInFlight: six requests in flight, then
// SIGTERM: all six are answered, new connections are refused, exit 0.
func TestSIGTERMAnswersRequestsInFlight(t *testing.T) {
	// A synthetic model whose batches take 100 ms each, one row at a time
	// on one worker: six requests keep it busy for 600 ms, so most are
	// still queued or running at the SIGTERM (the ONNX models are now too
	// fast to hold requests in flight for long).
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "slow"), 0o755)
	os.WriteFile(filepath.Join(dir, "slow", "config.yaml"), []byte("platform: synthetic\nsynthetic: {base: 100ms, per_item: 0s}\n"+
		"input: {name: x, datatype: FP32, shape: [-1, 4]}\nmax_batch_size: 1\n"), 0o644)
	in := startServe(t, "--model-repository", dir)
	in.waitReady(t)
	body := []byte(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`)
	type result struct {
		code int
		at   time.Time
	}
	results := make(chan result, 6)
	for range 6 {
		go func() {
			code, _, _ := in.post(t, "/v2/models/slow/infer", body, nil)
			results <- result{code, time.Now()}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	sigterm := time.Now()
	in.cmd.Process.Signal(syscall.SIGTERM)
	after := 0
	for range 6 {
		r := <-results
		if r.code != 200 {
			t.Errorf("request in flight at SIGTERM: %d", r.code)
		}
		if r.at.After(sigterm) {
			after++
		}
	}
	t.Logf("%d of 6 answered after the SIGTERM", after)
	if after == 0 {
		t.Error("every request was answered before the SIGTERM: the test proves nothing")
	}
	// New requests are refused: the listener is closed.
	if resp, err := http.Post(in.http+"/v2/models/slow/infer", "application/json", bytes.NewReader(body)); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("a new request was served after SIGTERM")
		}
	}
	select {
	case <-in.exited:
		if in.exitErr != nil {
			t.Errorf("exit: %v", in.exitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30 s of SIGTERM")
	}
}

// TestSDKResendsAfterAFrontendCrash: the server is killed with requests in
// flight; once it is back, the SDK, seeing a new connection, sends its
// pending requests again and each is answered within its deadline.
func TestSDKResendsAfterAFrontendCrash(t *testing.T) {
	in := startServe(t)
	in.waitReady(t)
	sdk := in.dial(t)
	batch := fp32Tensor("input", []int64{32, 1, 28, 28}, make([]float32, 32*784))
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := sdk.Infer(ctx, "fashion-mnist-cnn", []client.Tensor{batch})
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	in.kill(t) // requests in its queue and on its worker are gone
	again := startServeOn(t, in.ports)
	again.waitReady(t)
	for range 6 {
		if err := <-errs; err != nil {
			t.Errorf("request across the crash: %v", err)
		}
	}
}

// keepBusy runs n SDK clients in a closed loop on the MLP (each request
// with a server deadline of timeout, the client waiting 30 s) until the
// returned function is called; that function returns how many requests were
// answered and the failures by message. A request never answered at all is
// a test error.
func keepBusy(t *testing.T, sdk *client.Client, n int, timeout time.Duration) func() (int, map[string]int) {
	image := fp32Tensor("input", []int64{1, 1, 28, 28}, make([]float32, 784))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex // guards answered and failed
	answered, failed := 0, map[string]int{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := sdk.Infer(ctx, "fashion-mnist-mlp", []client.Tensor{image}, client.WithTimeout(timeout))
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					t.Error("a request was never answered")
				}
				mu.Lock()
				answered++
				if err != nil {
					failed[err.Error()]++
				}
				mu.Unlock()
			}
		}()
	}
	return func() (int, map[string]int) {
		close(stop)
		wg.Wait()
		return answered, failed
	}
}
