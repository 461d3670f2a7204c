package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gannet-ml/gannet/client"
	"github.com/gannet-ml/gannet/wire"
)

// sloRepository is a model repository with the CNN twice: "cnn-slo" with
// a 20ms SLO, and "cnn-tiny-queue" that runs one row at a time and queues
// at most two requests.
func sloRepository(t *testing.T) string {
	t.Helper()
	onnx, err := os.ReadFile("../../testdata/models/fashion-mnist-cnn/1/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, config := range map[string]string{
		"cnn-slo":        "max_batch_size: 32\nslo: 20ms at p99\n",
		"cnn-tiny-queue": "max_batch_size: 1\nmax_queue_size: 2\n",
	} {
		if err := os.MkdirAll(filepath.Join(dir, name, "1"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name, "config.yaml"), []byte(config), 0o644)
		os.WriteFile(filepath.Join(dir, name, "1", "model.onnx"), onnx, 0o644)
	}
	return dir
}

// TestRefusals checks the refusal paths end to end with real processes: a
// request whose deadline cannot be met is refused at once, over HTTP and
// the SDK, and never run; a full queue refuses with 503; every refusal is
// counted by reason, and requests that ran are counted against the SLO.
func TestRefusals(t *testing.T) {
	in := startServe(t, "--model-repository", sloRepository(t))
	in.waitReady(t)
	images, _ := testImages(t, 1)
	body := jsonImage(images[0])

	// Warm the latency profile: the CNN takes about a millisecond here.
	for range 20 {
		if code, _, b := in.post(t, "/v2/models/cnn-slo/infer", body, nil); code != 200 {
			t.Fatalf("warm-up: %d %s", code, b)
		}
	}

	t.Run("deadline already impossible over HTTP", func(t *testing.T) {
		tight := bytes.Replace(body, []byte(`{"inputs"`), []byte(`{"parameters":{"timeout":50},"inputs"`), 1)
		code, h, b := in.post(t, "/v2/models/cnn-slo/infer", tight, nil)
		// Counted from the kernel's receive time (Linux), 50us may be gone
		// before the decode is done: refused as past its deadline.
		if code != 503 || h.Get("Retry-After") == "" ||
			!strings.Contains(string(b), "predicted to miss its deadline") && !strings.Contains(string(b), "its deadline passed on arrival") {
			t.Fatalf("50us timeout: %d (Retry-After %q) %s; want 503 predicted to miss its deadline, or past it on arrival", code, h.Get("Retry-After"), b)
		}
	})

	t.Run("deadline already impossible over the SDK", func(t *testing.T) {
		sdk := in.dial(t)
		_, err := sdk.Infer(withTimeout(t, 10*time.Second), "cnn-slo", []client.Tensor{fp32Tensor("input", []int64{1, 1, 28, 28}, images[0])},
			client.WithTimeout(50*time.Microsecond))
		var we *wire.Error
		if !errors.As(err, &we) || we.Kind != wire.KindUnavailable || !strings.Contains(err.Error(), "predicted to miss its deadline") {
			t.Fatalf("50us timeout: %v; want unavailable, predicted to miss its deadline", err)
		}
	})

	t.Run("queue full", func(t *testing.T) {
		var (
			mu    sync.Mutex
			codes = map[int]int{}
			full  int
		)
		for round := 0; round < 5 && full == 0; round++ {
			var wg sync.WaitGroup
			for range 40 {
				wg.Go(func() {
					code, _, b := in.post(t, "/v2/models/cnn-tiny-queue/infer", body, nil)
					mu.Lock()
					defer mu.Unlock()
					codes[code]++
					if code == 503 && strings.Contains(string(b), "exceeds maximum queue size") {
						full++
					} else if code != 200 {
						t.Errorf("%d %s", code, b)
					}
				})
			}
			wg.Wait()
		}
		if full == 0 || codes[200] == 0 {
			t.Fatalf("answers by status %v, %d queue-full; want some of each", codes, full)
		}
	})

	m := scrape(t, in)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"gannet_shed_requests_total", map[string]string{"model": "cnn-slo", "reason": "predicted_late"}},
		{"gannet_shed_requests_total", map[string]string{"model": "cnn-tiny-queue", "reason": "queue_full"}},
		{"gannet_slo_requests_total", map[string]string{"model": "cnn-slo", "outcome": "met"}},
		{"gannet_latency_profile_seconds", map[string]string{"model": "cnn-slo", "batch_size": "1", "stat": "mean"}},
	} {
		if v := value(m, c.name, c.labels); v <= 0 {
			t.Errorf("%s%v = %v, want > 0", c.name, c.labels, v)
		}
	}
	if v := sum(m, "gannet_batches_total", map[string]string{"model": "cnn-slo"}); v < 20 {
		t.Errorf("gannet_batches_total{model=cnn-slo} = %v, want the 20 warm-up batches", v)
	}
	in.live(t)
}
