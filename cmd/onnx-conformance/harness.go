package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gannet-ml/gannet/models/onnx"
)

// Suites are the folders of the ONNX backend test data that the harness
// runs (real/ holds only links to model downloads).
var Suites = []string{"node", "pytorch-converted", "pytorch-operator", "simple"}

// DefaultData is where Debian's libonnx-testdata installs the test data.
const DefaultData = "/usr/share/libonnx-testdata/data"

// Status of one test.
const (
	Pass    = "pass"
	Fail    = "fail"
	Crash   = "crash"
	Timeout = "timeout"
)

// Result is the outcome of one test.
type Result struct {
	Suite, Name string
	Family      string // the op (node tests) or the suite, for the table
	Status      string
	Reason      string
	Elapsed     time.Duration
}

// ID names the test as suite/name.
func (r Result) ID() string { return r.Suite + "/" + r.Name }

// Test is one test folder.
type Test struct{ Suite, Name, Dir string }

// ListTests returns the tests under data, sorted by suite and name.
func ListTests(data string) ([]Test, error) {
	var out []Test
	for _, s := range Suites {
		ents, err := os.ReadDir(filepath.Join(data, s))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() {
				out = append(out, Test{s, e.Name(), filepath.Join(data, s, e.Name())})
			}
		}
	}
	return out, nil
}

// The child process prints these line prefixes on stdout.
const (
	linePass = "PASS"
	lineFail = "FAIL "
	lineOps  = "OPS "
)

// runChild is the body of the child process: it checks one test and prints
// its ops and its outcome. A panic or a crash leaves no outcome line.
func runChild(dir string) {
	if raw, err := os.ReadFile(filepath.Join(dir, "model.onnx")); err == nil {
		if m, err := onnx.Parse(raw); err == nil {
			fmt.Printf("%s%s\n", lineOps, strings.Join(m.OpTypes(), ","))
		}
	}
	if err := checkTest(dir); err != nil {
		fmt.Printf("%s%s\n", lineFail, strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	fmt.Println(linePass)
}

// Runner runs tests in child processes.
type Runner struct {
	// Command makes the command that runs one test folder in a child
	// process (which calls runChild).
	Command func(ctx context.Context, dir string) *exec.Cmd
	Jobs    int           // concurrent children
	Limit   time.Duration // per test
}

// Run runs every test, Jobs at a time, and returns the results in the order
// of tests.
func (r *Runner) Run(tests []Test) []Result {
	results := make([]Result, len(tests))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(r.Jobs, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = r.one(tests[i])
			}
		}()
	}
	for i := range tests {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func (r *Runner) one(t Test) Result {
	res := Result{Suite: t.Suite, Name: t.Name, Family: t.Suite}
	ctx, cancel := context.WithTimeout(context.Background(), r.Limit)
	defer cancel()
	cmd := r.Command(ctx, t.Dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res.Elapsed = time.Since(start)
	var ops []string
	outcome := ""
	for _, line := range strings.Split(stdout.String(), "\n") {
		switch {
		case strings.HasPrefix(line, lineOps):
			ops = strings.Split(strings.TrimPrefix(line, lineOps), ",")
		case line == linePass, strings.HasPrefix(line, lineFail):
			outcome = line
		}
	}
	if t.Suite == "node" {
		res.Family = family(t.Name, ops)
	}
	switch {
	case ctx.Err() != nil:
		res.Status, res.Reason = Timeout, fmt.Sprintf("no answer within %v", r.Limit)
	case outcome == linePass && err == nil:
		res.Status = Pass
	case strings.HasPrefix(outcome, lineFail) && err == nil:
		res.Status, res.Reason = Fail, strings.TrimPrefix(outcome, lineFail)
	default:
		res.Status = Crash
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		res.Reason = fmt.Sprintf("child process: %v: %s", err, msg)
	}
	return res
}

// family names the op a node test is about: the op whose name best matches
// the test's name (test_reduce_sum_... is ReduceSum), with " (expanded)"
// for the tests that spell a function out in primitive ops.
func family(name string, ops []string) string {
	if len(ops) == 0 {
		return "(unparsed)"
	}
	norm := strings.ReplaceAll(strings.TrimPrefix(name, "test_"), "_", "")
	best := ""
	for _, op := range ops {
		lo := strings.ToLower(op[strings.LastIndexByte(op, ':')+1:])
		if strings.HasPrefix(norm, lo) && len(lo) > len(best) {
			best = op
		}
	}
	if best == "" {
		if len(slices.Compact(slices.Clone(ops))) == 1 || len(ops) == 1 {
			best = ops[0]
		} else {
			best = "(other)"
		}
	}
	if strings.Contains(name, "_expanded") {
		return best + " (expanded)"
	}
	return best
}
