package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimulateJSON runs `gannet simulate --json` on a short step trace
// (virtual time: fast) and checks the last line's JSON and the plot.
func TestSimulateJSON(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "sim.png")
	var stdout, stderr bytes.Buffer
	err := simulate([]string{"--trace", "step", "--duration", "90s", "--step-at", "20s", "--step-until", "60s",
		"--seed", "3", "--plot", png, "--json"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var out struct {
		Policies map[string]map[string]any `json:"policies"`
		Traces   []struct {
			Trace string `json:"trace"`
		} `json:"traces"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, stdout.String())
	}
	if len(out.Traces) != 1 || out.Traces[0].Trace != "step" {
		t.Errorf("traces %+v, want one step trace", out.Traces)
	}
	for _, p := range []string{"gannet", "ray", "kpa"} {
		m, ok := out.Policies[p]
		if !ok {
			t.Errorf("no result for %s", p)
			continue
		}
		for _, k := range []string{"slo_attainment", "replica_seconds", "oracle_replica_seconds", "scaling_actions"} {
			if _, ok := m[k].(float64); !ok {
				t.Errorf("%s: %s missing or not a number: %v", p, k, m[k])
			}
		}
		if a := m["slo_attainment"].(float64); a <= 0 || a > 1 {
			t.Errorf("%s: slo_attainment %v", p, a)
		}
		if r, o := m["replica_seconds"].(float64), m["oracle_replica_seconds"].(float64); r < o*0.999 {
			t.Errorf("%s: replica_seconds %v below the oracle's lower bound %v", p, r, o)
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		t.Errorf("plot: %v", err)
	}
	// Same seed, same output.
	var again bytes.Buffer
	if err := simulate([]string{"--trace", "step", "--duration", "90s", "--step-at", "20s", "--step-until", "60s", "--seed", "3", "--json"}, &again, &stderr); err != nil {
		t.Fatal(err)
	}
	if a := strings.Split(strings.TrimSpace(again.String()), "\n"); a[len(a)-1] != lines[len(lines)-1] {
		t.Errorf("not deterministic:\n%s\n%s", a[len(a)-1], lines[len(lines)-1])
	}
}

func TestSimulateTraceFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "trace.csv")
	if err := os.WriteFile(file, []byte("t_seconds,rate_per_second\n0,100\n10,1500\n# back down\n20,100\n30,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := simulate([]string{"--trace", file, "--policies", "gannet", "--json"}, &stdout, &stderr); err != nil {
		t.Fatalf("simulate: %v", err)
	}
	if !strings.Contains(stdout.String(), `"trace":"trace.csv"`) || !strings.Contains(stdout.String(), `"warm_workers":2`) {
		t.Errorf("output does not name the trace file or the warm pool (2 by default):\n%s", stdout.String())
	}
	huge := filepath.Join(t.TempDir(), "huge.csv")
	if err := os.WriteFile(huge, []byte("0,1e6\n600,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"--trace", "nope"}, {"--policies", "hpa"}, {"--admission", "x"}, {"--warm-workers", "-1"}, {"--interval", "0s"}, {"extra"}} {
		if err := simulate(bad, &stdout, &stderr); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Each of these ran until killed, or took all memory, before its
	// inputs were bounded; now the error names the input.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--trace", huge}, "more than the 20000000"},
		{[]string{"--low", "NaN"}, "--low NaN"},
		{[]string{"--trace", "step", "--step-at", "0s", "--low", "1e308"}, "want rates from 0 to"},
		{[]string{"--trace", "step", "--high", "1e12"}, "want rates from 0 to"},
		{[]string{"--trace", "step", "--high", "1e6"}, "more than the 20000000"},
		{[]string{"--duration", "200h"}, "--duration 200h"},
		{[]string{"--trace", "square", "--period", "1ns", "--duration", "168h"}, "--period 1ns"},
		{[]string{"--trace", "bursts", "--burst-len", "0s"}, "--burst-len 0s"},
		{[]string{"--trace", "bursts", "--burst-gap", "2000000h"}, "--burst-gap 2000000h"},
		{[]string{"--trace", "step", "--step-at", "11m"}, "--step-at 11m"},
		{[]string{"--trace", "step", "--step-until", "30s"}, "--step-until 30s"},
		{[]string{"--max", "100000000"}, "max from 1 to 1024"},
		{[]string{"--max-batch", "1000000000000"}, "--max-batch"},
	} {
		err := simulate(c.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	// A run shorter than the default step: the step goes up at 1m and
	// stays up (the default --step-until, 4/5 of --duration, is before it).
	if err := simulate([]string{"--trace", "step", "--duration", "70s", "--policies", "gannet"}, &stdout, &stderr); err != nil {
		t.Errorf("a 70 s step: %v", err)
	}
}

// TestSimulateInterval: --interval sets how often Gannet's policy decides,
// as serve's --autoscale-interval does: a 60 s trace is 240 decisions at
// the default 250 ms and 600 at 100 ms.
func TestSimulateInterval(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 240},
		{[]string{"--interval", "100ms"}, 600},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"--trace", "ramp", "--duration", "60s", "--policies", "gannet", "--json"}, tc.args...)
		if err := simulate(args, &stdout, &stderr); err != nil {
			t.Fatalf("simulate %q: %v\n%s", args, err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var out struct {
			Policies map[string]struct {
				Reasons map[string]int `json:"reasons"`
			} `json:"policies"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range out.Policies["gannet"].Reasons {
			n += c
		}
		if n < tc.want-1 || n > tc.want+1 {
			t.Errorf("%q: %d decisions, want %d", tc.args, n, tc.want)
		}
	}
}
