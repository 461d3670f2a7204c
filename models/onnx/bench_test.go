package onnx

import (
	"fmt"
	"testing"

	"github.com/gannet-ml/gannet/internal/fmnist"
)

// BenchmarkRun times Program.Run on real Fashion-MNIST images.
func BenchmarkRun(b *testing.B) {
	images, _, err := fmnist.TestImages(fmnist.DefaultDir, 32)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct{ short, name string }{{"mlp", realModels[0]}, {"cnn", realModels[1]}} {
		b.Run(bm.short, func(b *testing.B) {
			p := compileReal(b, bm.name)
			for _, n := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
					in := [][]byte{batchBytes(images, 0, n)}
					b.ReportAllocs()
					for b.Loop() {
						if _, _, err := p.Run(n, in); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
