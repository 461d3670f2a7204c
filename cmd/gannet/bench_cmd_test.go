package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lastJSON runs the gannet binary with args and decodes the last line of
// its standard output as one JSON object.
func lastJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(gannetBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gannet %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &stdout, &stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var v map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &v); err != nil {
		t.Fatalf("last line %q: %v\nstdout:\n%s", lines[len(lines)-1], err, &stdout)
	}
	return v
}

// TestBenchCommand runs short, low-rate `gannet bench` load runs against a
// real `gannet serve`, one per transport (and arrival process), and checks
// every request was answered OK and the --json line has the promised
// fields; then the in-process measurement. It asserts counts and shapes,
// never timings.
func TestBenchCommand(t *testing.T) {
	in := startServe(t, "--log-level", "warn")
	in.waitReady(t)
	trace := filepath.Join(t.TempDir(), "rates.trace")
	if err := os.WriteFile(trace, []byte("# 20 requests/s from the start\n0 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		transport string
		arrival   []string
	}{
		{"http-json", []string{"--arrival", "constant", "--rate", "20"}},
		{"http-binary", []string{"--arrival", "trace", "--trace", trace}},
		{"sdk", []string{"--arrival", "ramp", "--rate", "10", "--ramp-to", "30"}},
	} {
		t.Run(c.transport, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"bench", "--url", in.http, "--sdk", in.zmq, "--transport", c.transport,
				"--model", "fashion-mnist-mlp", "--duration", "2s", "--warmup", "300ms", "--timeout", "5s",
				"--json", "--out", out}, c.arrival...)
			r := lastJSON(t, args...)
			for _, k := range []string{"rate", "throughput", "goodput", "p50_ms", "p90_ms", "p99_ms", "p999_ms"} {
				if _, ok := r[k].(float64); !ok {
					t.Errorf("%s missing or not a number in %v", k, r)
				}
			}
			// 20/s for 2 s, and a 10 -> 30/s ramp over 2 s: 40 requests.
			if r["requests"] != 40.0 || r["ok"] != 40.0 {
				t.Errorf("requests %v, ok %v; want 40 answered OK", r["requests"], r["ok"])
			}
			if errs, ok := r["errors"].(map[string]any); !ok || len(errs) != 0 {
				t.Errorf("errors %v, want {}", r["errors"])
			}
			if p50 := r["p50_ms"].(float64); p50 <= 0 {
				t.Errorf("p50 %v ms", p50)
			}
			for _, f := range []string{"result.json", "latency.png", "cdf.png"} {
				if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
	t.Run("in-process", func(t *testing.T) {
		r := lastJSON(t, "bench", "--in-process", "fashion-mnist-mlp", "--model-repository", filepath.Join("..", "..", "testdata", "models"),
			"--bucket-time", "30ms", "--json")
		rows, _ := r["rows"].([]any)
		if mt, _ := r["max_throughput"].(float64); mt <= 0 || len(rows) != 6 { // buckets 1, 2, 4, 8, 16, 32
			t.Fatalf("max_throughput %v, %d rows: %v", r["max_throughput"], len(rows), r)
		}
		for i, row := range rows {
			m := row.(map[string]any)
			if m["batch_size"] != float64(int(1)<<i) || m["p50_ms"].(float64) <= 0 || m["throughput"].(float64) <= 0 {
				t.Errorf("row %d: %v", i, m)
			}
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"bench", "--arrival", "trace"},
			{"bench", "--arrival", "burst"},
			{"bench", "--in-process", "no-such-model"},
		} {
			out, err := exec.Command(gannetBinary(t), args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "gannet: bench:") {
				t.Errorf("%v: %v, %s", args, err, out)
			}
		}
	})
}
