// Command onnx-conformance runs the ONNX backend test data of Debian's
// libonnx-testdata (node/, pytorch-converted/, pytorch-operator/, simple/)
// through models/onnx: each test is compiled for its inputs' shapes
// (onnx.CompileStatic), run, and compared with its expected outputs within
// 1e-4 absolute plus 1e-4 relative. Each test runs in a child process, so
// that a crash is counted, not fatal. It prints a table per op family and
// ends with the line "N passed, N failed".
//
//	go run ./cmd/onnx-conformance [-data DIR] [-j N] [-run REGEXP] [-v]
//	    [-baseline FILE] [-update]
//
// With -baseline (default testdata/conformance/baseline.txt when it
// exists), it exits 1 when fewer tests pass than the baseline records;
// -update rewrites the baseline from this run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"time"
)

const defaultBaseline = "testdata/conformance/baseline.txt"

func main() {
	data := flag.String("data", DefaultData, "the libonnx-testdata data folder")
	jobs := flag.Int("j", runtime.NumCPU(), "tests run at once")
	run := flag.String("run", "", "run only the tests whose suite/name matches this regexp")
	verbose := flag.Bool("v", false, "list every failing test and why")
	baseline := flag.String("baseline", defaultBaseline, "ratchet file (\"\" for none)")
	update := flag.Bool("update", false, "rewrite the baseline from this run")
	limit := flag.Duration("timeout", 2*time.Minute, "time limit per test")
	child := flag.String("child", "", "internal: run the test in this folder and print its outcome")
	flag.Parse()
	if *child != "" {
		runChild(*child)
		return
	}
	os.Exit(mainRun(*data, *jobs, *run, *verbose, *baseline, *update, *limit))
}

func mainRun(data string, jobs int, run string, verbose bool, baseline string, update bool, limit time.Duration) int {
	tests, err := ListTests(data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "onnx-conformance: %v (install libonnx-testdata)\n", err)
		return 2
	}
	if run != "" {
		re, err := regexp.Compile(run)
		if err != nil {
			fmt.Fprintf(os.Stderr, "onnx-conformance: -run: %v\n", err)
			return 2
		}
		var kept []Test
		for _, t := range tests {
			if re.MatchString(t.Suite + "/" + t.Name) {
				kept = append(kept, t)
			}
		}
		tests = kept
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "onnx-conformance: %v\n", err)
		return 2
	}
	r := &Runner{Jobs: jobs, Limit: limit, Command: func(ctx context.Context, dir string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, self, "-child", dir)
		cmd.Env = childEnv()
		return cmd
	}}
	results := r.Run(tests)
	WriteTable(os.Stdout, results, verbose)
	if baseline == "" || run != "" {
		return 0
	}
	if update {
		if err := WriteBaseline(baseline, results); err != nil {
			fmt.Fprintf(os.Stderr, "onnx-conformance: %v\n", err)
			return 2
		}
		return 0
	}
	b, err := ReadBaseline(baseline)
	if os.IsNotExist(err) && baseline == defaultBaseline {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "onnx-conformance: %v\n", err)
		return 2
	}
	return ratchet(os.Stderr, b, results)
}

// ratchet reports the baseline's tests that no longer pass and returns 1
// when fewer tests pass than the baseline records.
func ratchet(w *os.File, b *Baseline, results []Result) int {
	for _, t := range b.Regressions(results) {
		fmt.Fprintf(w, "regression: %s passed in the baseline\n", t)
	}
	if passed, _, _ := Count(results); passed < b.Passed {
		fmt.Fprintf(w, "onnx-conformance: %d passed, the baseline has %d\n", passed, b.Passed)
		return 1
	}
	return 0
}

// childEnv is the environment of a child: one OS thread of Go and of
// OpenBLAS each, since the children run in parallel.
func childEnv() []string {
	return append(os.Environ(), "GOMAXPROCS=1", "OPENBLAS_NUM_THREADS=1")
}
