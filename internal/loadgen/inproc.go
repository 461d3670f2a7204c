package loadgen

import (
	"slices"
	"time"
)

// BatchRow is the in-process timing of one batch size.
type BatchRow struct {
	BatchSize  int     `json:"batch_size"`
	Runs       int     `json:"runs"`
	P50MS      float64 `json:"p50_ms"`
	P90MS      float64 `json:"p90_ms"`
	MinMS      float64 `json:"min_ms"`
	Throughput float64 `json:"throughput"` // rows/s at the median: batch_size / p50
	// CPUPerRowUS is this process's CPU time (user and system, every
	// thread) over the timed runs, per row, in microseconds: with
	// Throughput it tells how many cores the model kept busy.
	CPUPerRowUS float64 `json:"cpu_us_per_row"`
}

// InProcess is the result of `gannet bench --in-process`: the model's
// compute ceiling, without serving.
type InProcess struct {
	Model         string     `json:"model"`
	MaxThroughput float64    `json:"max_throughput"` // the best row's throughput
	BestBatch     int        `json:"best_batch_size"`
	Batch1P50MS   float64    `json:"batch1_p50_ms"` // compute time of one row (0 if 1 is not a bucket)
	Rows          []BatchRow `json:"rows"`
}

// MeasureBatches times run(n) for each batch size n: warm-up runs for a
// tenth of per (at least 3), then runs for the rest of per (at least
// minRuns), and reports the median. A run that fails stops the
// measurement with its error.
func MeasureBatches(sizes []int, per time.Duration, minRuns int, run func(n int) error) (InProcess, error) {
	var res InProcess
	for _, n := range sizes {
		warmEnd := time.Now().Add(per / 10)
		for k := 0; k < 3 || time.Now().Before(warmEnd); k++ {
			if err := run(n); err != nil {
				return res, err
			}
		}
		var times []int64
		cpu0 := cpuTime()
		end := time.Now().Add(per - per/10)
		for len(times) < minRuns || time.Now().Before(end) {
			start := time.Now()
			if err := run(n); err != nil {
				return res, err
			}
			times = append(times, int64(time.Since(start)))
		}
		cpu := cpuTime() - cpu0
		slices.Sort(times)
		row := BatchRow{BatchSize: n, Runs: len(times), P50MS: ms(Percentile(times, 0.5)),
			P90MS: ms(Percentile(times, 0.9)), MinMS: ms(times[0]),
			CPUPerRowUS: float64(cpu.Microseconds()) / float64(len(times)*n)}
		if row.P50MS > 0 {
			row.Throughput = float64(n) / (row.P50MS / 1e3)
		}
		if row.Throughput > res.MaxThroughput {
			res.MaxThroughput, res.BestBatch = row.Throughput, n
		}
		if n == 1 {
			res.Batch1P50MS = row.P50MS
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}
