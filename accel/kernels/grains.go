package kernels

// The grains: the least work of one part of a kernel split across the
// worker pool. A part handed to a parked worker goroutine costs a wake-up
// of its thread (tens of microseconds on a VM, a few on bare metal), so
// each part is at least about 20-50 µs of work at the speeds measured on a
// 2-vCPU VM: convolutions and Gemms about 23 G multiply-adds/s (the
// CNN's 1.2 M at batch 1 in about 55 µs besides its pools), Add about 11 G
// values/s, a max pool about 1 G window values/s (the scalar loop).
//
// Convolutions, Gemms and elementwise kernels split 16 times sooner
// before (parts of 1-3 µs for the first two), which split even a batch of
// one and made the Fashion-MNIST models slower than on one thread. A
// convolution is also planned (its column blocks) for the parts it runs
// in, not for every thread. On that VM, benchstat over 8 interleaved runs each
// of `go test -run '^$' -bench 'Run/(cnn|mlp)/' -benchtime 2000x
// ./models/onnx` went at batch 1 from 95 to 68 µs (CNN) and from 26.2 to
// 14.6 µs (MLP), the MLP at batch 8 from 107 to 96 µs, with no significant
// change at batch 8 (CNN) and 32. Tests set every grain to 1
// (splitGrains), so that the table cases run split too.
var (
	convMinMACs = 1 << 20 // multiply-adds of a convolution
	gemmMinMACs = 1 << 19 // multiply-adds of a Gemm
	poolMinOps  = 1 << 15 // output values times window of a pool (also values a GlobalAvgPool sums: not measured)
	eltMin      = 1 << 19 // values of an elementwise kernel
)
