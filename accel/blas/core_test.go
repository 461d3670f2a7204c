package blas

import "testing"

func TestBetterCore(t *testing.T) {
	tests := []struct {
		core      string
		avx2, fma bool
		want      string
	}{
		{"Prescott", true, true, "Haswell"}, // 0.3.21 on Sapphire Rapids
		{"Sandybridge", true, true, "Haswell"},
		{"Prescott", false, false, ""}, // an old CPU: the generic kernels are right
		{"Prescott", true, false, ""},
		{"Haswell", true, true, ""},
		{"SkylakeX", true, true, ""},
		{"Zen", true, true, ""},
		{"", true, true, ""}, // gonum build: no OpenBLAS
	}
	for _, tt := range tests {
		if got := betterCore(tt.core, tt.avx2, tt.fma); got != tt.want {
			t.Errorf("betterCore(%q, avx2=%v, fma=%v) = %q, want %q", tt.core, tt.avx2, tt.fma, got, tt.want)
		}
	}
}
