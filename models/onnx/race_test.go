//go:build race

package onnx

// raceEnabled: the race detector allocates on its own (sync.Pool is off
// under it), so allocation counts mean nothing.
const raceEnabled = true
