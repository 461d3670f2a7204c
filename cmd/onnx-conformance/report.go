package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Count returns the numbers of passed and failed tests (crashes and
// timeouts are failures) and of crashes and timeouts.
func Count(rs []Result) (passed, failed, crashed int) {
	for _, r := range rs {
		switch r.Status {
		case Pass:
			passed++
		case Crash, Timeout:
			crashed++
			failed++
		default:
			failed++
		}
	}
	return
}

// WriteTable prints the per-family table, the per-suite totals and, last,
// the line "N passed, N failed".
func WriteTable(w io.Writer, rs []Result, verbose bool) {
	type row struct{ pass, total int }
	fams := map[string]*row{}
	suites := map[string]*row{}
	for _, r := range rs {
		for k, m := range []map[string]*row{fams, suites} {
			key := r.Family
			if k == 1 {
				key = r.Suite
			}
			if m[key] == nil {
				m[key] = &row{}
			}
			m[key].total++
			if r.Status == Pass {
				m[key].pass++
			}
		}
	}
	if verbose {
		for _, r := range rs {
			if r.Status != Pass {
				fmt.Fprintf(w, "%-8s %s: %s\n", strings.ToUpper(r.Status), r.ID(), r.Reason)
			}
		}
		fmt.Fprintln(w)
	}
	names := make([]string, 0, len(fams))
	for k := range fams {
		names = append(names, k)
	}
	slices.Sort(names)
	fmt.Fprintf(w, "%-40s %6s %6s\n", "op family", "passed", "tests")
	for _, k := range names {
		fmt.Fprintf(w, "%-40s %6d %6d\n", k, fams[k].pass, fams[k].total)
	}
	fmt.Fprintln(w)
	for _, s := range Suites {
		if r := suites[s]; r != nil {
			fmt.Fprintf(w, "%-40s %6d %6d\n", "suite "+s, r.pass, r.total)
		}
	}
	passed, failed, crashed := Count(rs)
	fmt.Fprintf(w, "process crashes and timeouts: %d\n", crashed)
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
}

// Baseline is the committed ratchet: the tests known to pass.
type Baseline struct {
	Passed int
	Tests  []string // suite/name, sorted
}

// ReadBaseline reads a baseline file: comment lines (#), a line
// "passed N", then one passing test per line.
func ReadBaseline(path string) (*Baseline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := &Baseline{Passed: -1}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "passed "):
			if b.Passed, err = strconv.Atoi(strings.TrimPrefix(line, "passed ")); err != nil {
				return nil, fmt.Errorf("%s: %v", path, err)
			}
		default:
			b.Tests = append(b.Tests, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if b.Passed < 0 {
		return nil, fmt.Errorf("%s: no line \"passed N\"", path)
	}
	return b, nil
}

// WriteBaseline writes the passing tests of rs as a baseline file.
func WriteBaseline(path string, rs []Result) error {
	var tests []string
	for _, r := range rs {
		if r.Status == Pass {
			tests = append(tests, r.ID())
		}
	}
	slices.Sort(tests)
	var sb strings.Builder
	sb.WriteString("# ONNX conformance ratchet (cmd/onnx-conformance): the tests of Debian's\n")
	sb.WriteString("# libonnx-testdata that pass. CI fails when fewer pass; raise it with\n")
	sb.WriteString("# `go run ./cmd/onnx-conformance -update`.\n")
	fmt.Fprintf(&sb, "passed %d\n", len(tests))
	for _, t := range tests {
		sb.WriteString(t + "\n")
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}

// Regressions returns the baseline's tests that did not pass in rs.
func (b *Baseline) Regressions(rs []Result) []string {
	status := map[string]string{}
	for _, r := range rs {
		status[r.ID()] = r.Status
	}
	var out []string
	for _, t := range b.Tests {
		if s, ok := status[t]; ok && s != Pass {
			out = append(out, t)
		}
	}
	return out
}
