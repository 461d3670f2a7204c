package onnx

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse asserts that Parse never panics, whatever the bytes. It is seeded
// with the real models (when made), the op fixtures, a hand-built model and
// truncated variants of each.
func FuzzParse(f *testing.F) {
	var seeds [][]byte
	for _, name := range realModels {
		if b, err := os.ReadFile(filepath.Join(testdataDir, "models", name, "1", "model.onnx")); err == nil {
			seeds = append(seeds, b)
		}
	}
	for _, name := range opFixtures {
		if b, err := os.ReadFile(filepath.Join("testdata", name+".onnx")); err == nil {
			seeds = append(seeds, b)
		}
	}
	seeds = append(seeds, convGraph(attrI("group", 1)).encode())
	for _, s := range seeds {
		f.Add(s)
		for _, cut := range []int{1, 2, 7, 64, len(s) / 3, len(s) / 2, len(s) - 1} {
			if cut > 0 && cut < len(s) {
				f.Add(s[:cut])
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil {
				t.Fatal("Parse returned a model with an error")
			}
			return
		}
		_ = m.Inputs()
		_ = m.Outputs()
		_ = m.Opset()
	})
}

// FuzzCompile asserts that Compile and Run never panic (nor crash the
// process from gorgonia's goroutines) on small models. Models with large
// inputs are skipped to bound memory.
func FuzzCompile(f *testing.F) {
	for _, name := range opFixtures {
		if b, err := os.ReadFile(filepath.Join("testdata", name+".onnx")); err == nil {
			f.Add(b)
		}
	}
	f.Add(convGraph().encode())
	f.Add(poolGraph("MaxPool", attrIs("kernel_shape", 2, 2), attrIs("strides", 2, 2)).encode())
	f.Add(poolGraph("AveragePool", attrIs("kernel_shape", 2, 2), attrIs("strides", 2, 2)).encode())
	f.Add(unaryGraph(node("r", "Softmax", []string{"x"}, []string{"y"}, attrI("axis", 1))).encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		m, err := Parse(data)
		if err != nil {
			return
		}
		for _, in := range m.Inputs() {
			size := int64(1)
			for _, d := range in.Shape[min(1, len(in.Shape)):] {
				if d < 0 || d > 4096 {
					return
				}
				size *= d
			}
			if size > 4096 {
				return
			}
		}
		p, err := Compile(m, Options{Buckets: []int{1, 3}})
		if err != nil {
			return
		}
		var inputs [][]byte
		for i := range p.inRow {
			inputs = append(inputs, make([]byte, 2*p.inRow[i]*4))
		}
		if _, _, err := p.Run(2, inputs); err != nil {
			t.Fatalf("Run after a successful Compile: %v", err)
		}
	})
}
