package loadgen

import (
	"math"
	"slices"
	"time"
)

// Sample is what is recorded of one request. Times are nanoseconds.
type Sample struct {
	Latency int64 // from the scheduled send time to the answer (or the error)
	Lag     int64 // from the scheduled send time to the actual send
	Outcome Outcome
	Reason  uint16 // a refusal's reason (an index into Run.Reasons); 0: none
}

// Outcome is OK (0), an error kind (an index into Run.Kinds), or NotSent.
type Outcome uint16

// Outcomes every run has.
const (
	OK      Outcome = 0
	NotSent Outcome = math.MaxUint16 // the run was stopped before its time
)

// Result is the summary of a load run, as printed with --json and written
// to the result file. Latency percentiles are over the requests answered OK
// (errors, refusals included, are counted apart), exact from all samples
// (nearest rank).
type Result struct {
	Model     string  `json:"model,omitempty"`
	Transport string  `json:"transport,omitempty"`
	Arrival   string  `json:"arrival,omitempty"`
	TargetHz  float64 `json:"target_rate,omitempty"` // --rate (a ramp's start)
	RampTo    float64 `json:"ramp_to,omitempty"`
	Batch     int     `json:"batch,omitempty"`      // rows per request
	TimeoutMS float64 `json:"timeout_ms,omitempty"` // the deadline sent with each request

	DurationS float64 `json:"duration_s"` // the measured window (warm-up excluded)
	WarmupS   float64 `json:"warmup_s"`
	SLOMS     float64 `json:"slo_ms"`

	Requests   int     `json:"requests"`   // sent in the measured window
	OK         int     `json:"ok"`         // answered OK
	WithinSLO  int     `json:"within_slo"` // answered OK within the SLO
	Rate       float64 `json:"rate"`       // offered: requests / duration
	Throughput float64 `json:"throughput"` // ok / duration
	Goodput    float64 `json:"goodput"`    // within_slo / duration
	SLOShare   float64 `json:"slo_share"`  // within_slo / requests

	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
	MeanMS float64 `json:"mean_ms"`
	// Service latency: from the actual send, not the scheduled time (the
	// latency above less the generator's send lag), of the same requests.
	ServiceP50MS float64 `json:"service_p50_ms"`
	ServiceP99MS float64 `json:"service_p99_ms"`
	// How fast the errors came (refusals most of all: a server that
	// refuses at once answers 503 in about its p50), from the scheduled
	// time like the latency above; 0 when there were none.
	ErrorP50MS float64 `json:"error_p50_ms,omitempty"`
	ErrorP99MS float64 `json:"error_p99_ms,omitempty"`

	// Errors counts the requests not answered OK by kind: "http_<status>",
	// "sdk_<kind>", "timeout" (no answer within --client-timeout),
	// "conn_refused", "conn_reset", "conn_closed", "no_local_port",
	// "transport" (other failures to get an answer), "overload" (the generator had
	// --max-inflight requests out already: the client was the bottleneck).
	Errors map[string]int `json:"errors"`
	// Refusals counts the server's refusals (HTTP 503, SDK unavailable and
	// deadline) by the reason the server gave; they are in Errors too.
	Refusals map[string]int `json:"refusals"`
	// RefusalExamples holds the first message of each reason in Refusals,
	// numbers and all.
	RefusalExamples map[string]string `json:"refusal_examples,omitempty"`

	Generator Generator `json:"generator"`
	Windows   []Window  `json:"windows,omitempty"`
}

// Generator is the load generator's own account: how late it sent (a
// generator that keeps up sends within tens of microseconds) and what it
// cost.
type Generator struct {
	SendLagP50MS float64 `json:"send_lag_p50_ms"`
	SendLagP99MS float64 `json:"send_lag_p99_ms"`
	SendLagMaxMS float64 `json:"send_lag_max_ms"`
	MaxInflight  int     `json:"max_inflight"` // most requests outstanding at once
	CPUS         float64 `json:"cpu_s"`        // CPU time of this process over the run
	CPUPerReqUS  float64 `json:"cpu_per_request_us"`
	NotSent      int     `json:"not_sent,omitempty"` // the run was interrupted
}

// Window is one slice of the run by scheduled send time.
type Window struct {
	TS     float64 `json:"t_s"` // the window's start, from the start of the measured window
	Sent   int     `json:"sent"`
	OK     int     `json:"ok"`
	Errors int     `json:"errors"`
	P50MS  float64 `json:"p50_ms"` // of the OK ones; 0 when none
	P99MS  float64 `json:"p99_ms"`
}

// Percentile returns the p-quantile (0 < p <= 1) of sorted by nearest
// rank: the smallest value with at least p of the values at or below it.
// It returns 0 for no values.
func Percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	k := int(math.Ceil(p*float64(n))) - 1
	return sorted[min(max(k, 0), n-1)]
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// Summarize computes the result of a run: the requests after the warm-up,
// against the SLO.
func Summarize(run *Run, slo time.Duration) Result {
	sched, samples, warm, dur := run.Schedule, run.Samples, run.Warm, run.Duration
	r := Result{DurationS: dur.Seconds(), WarmupS: float64(run.Start) / 1e9, SLOMS: ms(int64(slo)),
		Errors: map[string]int{}, Refusals: map[string]int{}}
	r.Generator.MaxInflight = run.MaxInflight
	r.Generator.CPUS = run.CPU.Seconds()
	lat := make([]int64, 0, len(samples)-warm)
	lags := make([]int64, 0, len(samples)-warm)
	service := make([]int64, 0, len(samples)-warm)
	var errLat []int64
	var sum float64
	for i := warm; i < len(samples); i++ {
		s := &samples[i]
		switch s.Outcome {
		case NotSent:
			r.Generator.NotSent++
			continue
		case OK:
			lat = append(lat, s.Latency)
			service = append(service, s.Latency-s.Lag)
			sum += float64(s.Latency)
			if s.Latency <= int64(slo) {
				r.WithinSLO++
			}
		default:
			r.Errors[run.name(s.Outcome)]++
			errLat = append(errLat, s.Latency)
			if s.Reason != 0 {
				name := run.reason(s.Reason)
				if r.Refusals[name]++; r.Refusals[name] == 1 && int(s.Reason) < len(run.Examples) {
					if r.RefusalExamples == nil {
						r.RefusalExamples = map[string]string{}
					}
					r.RefusalExamples[name] = run.Examples[s.Reason]
				}
			}
		}
		r.Requests++
		lags = append(lags, s.Lag)
	}
	r.OK = len(lat)
	if d := dur.Seconds(); d > 0 {
		r.Rate = float64(r.Requests) / d
		r.Throughput = float64(r.OK) / d
		r.Goodput = float64(r.WithinSLO) / d
	}
	if r.Requests > 0 {
		r.Generator.CPUPerReqUS = run.CPU.Seconds() * 1e6 / float64(len(samples)-r.Generator.NotSent)
		r.SLOShare = float64(r.WithinSLO) / float64(r.Requests)
	}
	slices.Sort(lat)
	slices.Sort(lags)
	slices.Sort(service)
	if len(lat) > 0 {
		r.P50MS, r.P90MS = ms(Percentile(lat, 0.5)), ms(Percentile(lat, 0.9))
		r.P99MS, r.P999MS = ms(Percentile(lat, 0.99)), ms(Percentile(lat, 0.999))
		r.MaxMS = ms(lat[len(lat)-1])
		r.MeanMS = sum / float64(len(lat)) / 1e6
		r.ServiceP50MS, r.ServiceP99MS = ms(Percentile(service, 0.5)), ms(Percentile(service, 0.99))
	}
	if len(errLat) > 0 {
		slices.Sort(errLat)
		r.ErrorP50MS, r.ErrorP99MS = ms(Percentile(errLat, 0.5)), ms(Percentile(errLat, 0.99))
	}
	if len(lags) > 0 {
		r.Generator.SendLagP50MS = ms(Percentile(lags, 0.5))
		r.Generator.SendLagP99MS = ms(Percentile(lags, 0.99))
		r.Generator.SendLagMaxMS = ms(lags[len(lags)-1])
	}
	r.Windows = windows(sched[warm:], samples[warm:], run.Start, dur)
	return r
}

// windows slices the measured requests by scheduled time into at most
// about 600 windows of at least 100 ms.
func windows(sched []int64, samples []Sample, base int64, dur time.Duration) []Window {
	if len(sched) == 0 {
		return nil
	}
	if dur <= 0 {
		dur = time.Duration(sched[len(sched)-1] - base + 1)
	}
	width := max(100*time.Millisecond, dur/600).Nanoseconds()
	n := int((int64(dur) + width - 1) / width)
	out := make([]Window, n)
	lat := make([][]int64, n)
	for i := range sched {
		k := min(max(int((sched[i]-base)/width), 0), n-1)
		s := samples[i]
		switch s.Outcome {
		case NotSent:
			continue
		case OK:
			out[k].OK++
			lat[k] = append(lat[k], s.Latency)
		default:
			out[k].Errors++
		}
		out[k].Sent++
	}
	for k := range out {
		out[k].TS = float64(int64(k)*width) / 1e9
		slices.Sort(lat[k])
		out[k].P50MS = ms(Percentile(lat[k], 0.5))
		out[k].P99MS = ms(Percentile(lat[k], 0.99))
	}
	return out
}
