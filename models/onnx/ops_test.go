package onnx

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The op fixtures are tiny PyTorch models made by
// testdata/make_fixtures.py: 5 input rows and PyTorch's outputs.
var opFixtures = []string{"convnet", "mathnet"}

func TestOpFixtures(t *testing.T) {
	for _, name := range opFixtures {
		t.Run(name, func(t *testing.T) {
			read := func(ext string) []byte {
				b, err := os.ReadFile(filepath.Join("testdata", name+ext))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			m, err := Parse(read(".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(m, Options{Buckets: []int{2, 8}})
			if err != nil {
				t.Fatal(err)
			}
			in, want := read(".in.f32"), bytesF32(read(".out.f32"))
			const rows = 5
			inRow, outRow := len(in)/rows, len(want)/rows // bytes, values
			check := func(from, n int) {
				t.Helper()
				outs, shapes, err := p.Run(n, [][]byte{in[from*inRow : (from+n)*inRow]})
				if err != nil {
					t.Fatalf("Run(%d rows from %d): %v", n, from, err)
				}
				if shapes[0][0] != int64(n) {
					t.Errorf("shape %v, want batch %d", shapes[0], n)
				}
				got := bytesF32(outs[0])
				if len(got) != n*outRow {
					t.Fatalf("Run(%d rows from %d): %d values, want %d", n, from, len(got), n*outRow)
				}
				for k, g := range got {
					w := want[from*outRow+k]
					if math.Abs(float64(g-w)) > 1e-5*max(1, math.Abs(float64(w))) {
						t.Fatalf("Run(%d rows from %d): value %d = %v, PyTorch %v", n, from, k, g, w)
					}
				}
			}
			// Twice over: a run must not disturb the weights of the next.
			for range 2 {
				check(0, rows) // padded to 8
				for r := 0; r < rows; r++ {
					check(r, 1) // padded to 2
				}
				check(3, 2)
			}
		})
	}
}

// TestProgramsInParallel runs two Programs of one Model in two goroutines:
// a Program is not safe for concurrent use, but separate Programs are.
func TestProgramsInParallel(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "convnet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(filepath.Join("testdata", "convnet.in.f32"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "convnet.out.f32"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		p, err := Compile(m, Options{Buckets: []int{8}})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range 20 {
				outs, _, err := p.Run(5, [][]byte{in})
				if err != nil {
					errs <- err
					return
				}
				for k, g := range bytesF32(outs[0]) {
					if w := bytesF32(want)[k]; math.Abs(float64(g-w)) > 1e-5 {
						errs <- fmt.Errorf("value %d = %v, want %v", k, g, w)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
