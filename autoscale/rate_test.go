package autoscale

import (
	"testing"
	"time"
)

func TestRateEstimate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type call struct {
		at      time.Time
		n       uint64
		decayed float64
		want    float64
	}
	tests := []struct {
		name  string
		calls []call
	}{
		{"first calls use the decayed estimate", []call{
			{at(0), 0, 5, 5}, {at(250), 100, 7, 7}}},
		{"a step up is counted within two calls", []call{
			{at(0), 0, 10, 10}, {at(250), 10, 10, 10}, {at(500), 510, 30, 1020}}},
		{"a drop decays: the decayed estimate wins", []call{
			{at(0), 0, 400, 400}, {at(250), 100, 400, 400}, {at(500), 100, 300, 300}}},
		{"below the idle rate is 0", []call{
			{at(0), 0, 0.05, 0}, {at(250), 0, 0.05, 0}, {at(500), 0, 0.09, 0}}},
		{"a counter that went back (queue replaced) is ignored", []call{
			{at(0), 500, 3, 3}, {at(250), 600, 3, 3}, {at(500), 10, 3, 3}}},
		{"two calls at one instant: no division by zero", []call{
			{at(0), 0, 2, 2}, {at(0), 0, 2, 2}, {at(0), 50, 2, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r RateEstimate
			for i, c := range tt.calls {
				if got := r.Rate(c.at, c.n, c.decayed); got != c.want {
					t.Fatalf("call %d: Rate = %v, want %v", i, got, c.want)
				}
			}
		})
	}
}
