package server

import (
	"encoding/json"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"

	"github.com/gannet-ml/gannet/wire"
)

// Statistics is the body of GET /v2/models/{m}[/versions/{v}]/stats, in
// the shape of Triton's statistics extension where it fits.
type Statistics struct {
	ModelStats []ModelStatistics `json:"model_stats"`
}

// ModelStatistics is one model's entry. The counts come from the
// metrics registry (Config.Gatherer), since the server started.
type ModelStatistics struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// InferenceCount is rows inferred (gannet_batch_size's sum),
	// ExecutionCount batches run (its count).
	InferenceCount uint64         `json:"inference_count"`
	ExecutionCount uint64         `json:"execution_count"`
	InferenceStats InferenceStats `json:"inference_stats"`
	// Autoscaler is the model's autoscaler status (Config.ModelStatus),
	// absent for a model that is not autoscaled.
	Autoscaler any `json:"autoscaler,omitempty"`
}

// InferenceStats are Triton's cumulative counts and durations. Success
// counts requests answered 200 (HTTP and SDK); its ns is the time of
// every answered request (the metrics do not split durations by
// outcome). Fail counts the others (ns 0). Queue is time in the model's
// queue per request, ComputeInfer compute time per batch.
type InferenceStats struct {
	Success      StatDuration `json:"success"`
	Fail         StatDuration `json:"fail"`
	Queue        StatDuration `json:"queue"`
	ComputeInfer StatDuration `json:"compute_infer"`
}

// StatDuration is a count and a total duration in nanoseconds.
type StatDuration struct {
	Count uint64 `json:"count"`
	NS    uint64 `json:"ns"`
}

// stats answers GET /v2/models/{m}/stats.
func (h *httpHandler) stats(ctx *fasthttp.RequestCtx, m *model) {
	st := ModelStatistics{Name: m.Meta.Name, Version: m.Meta.Version}
	if g := h.s.cfg.Gatherer; g != nil {
		families, err := g.Gather()
		if err != nil {
			writeErr(ctx, wire.Errorf(wire.KindInternal, "gathering metrics: %v", err))
			return
		}
		fill(&st, families)
	}
	if f := h.s.cfg.ModelStatus; f != nil {
		if s, ok := f(m.Meta.Name); ok {
			st.Autoscaler = s
		}
	}
	body, err := json.Marshal(Statistics{ModelStats: []ModelStatistics{st}})
	if err != nil {
		writeErr(ctx, wire.Errorf(wire.KindInternal, "encoding statistics: %v", err))
		return
	}
	writeJSON(ctx, http.StatusOK, body)
}

// fill adds up the model's series of the request, queue and compute
// metrics.
func fill(st *ModelStatistics, families []*dto.MetricFamily) {
	ns := func(seconds float64) uint64 { return uint64(seconds * 1e9) }
	for _, f := range families {
		for _, s := range f.GetMetric() {
			code, ours := "", false
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "model":
					ours = l.GetValue() == st.Name
				case "code":
					code = l.GetValue()
				}
			}
			if !ours {
				continue
			}
			is := &st.InferenceStats
			h := s.GetHistogram()
			switch f.GetName() {
			case "gannet_requests_total":
				if code == "200" {
					is.Success.Count += uint64(s.GetCounter().GetValue())
				} else {
					is.Fail.Count += uint64(s.GetCounter().GetValue())
				}
			case "gannet_request_duration_seconds":
				is.Success.NS += ns(h.GetSampleSum())
			case "gannet_queue_duration_seconds":
				is.Queue.Count += h.GetSampleCount()
				is.Queue.NS += ns(h.GetSampleSum())
			case "gannet_compute_duration_seconds":
				is.ComputeInfer.Count += h.GetSampleCount()
				is.ComputeInfer.NS += ns(h.GetSampleSum())
			case "gannet_batch_size":
				st.ExecutionCount += h.GetSampleCount()
				st.InferenceCount += uint64(h.GetSampleSum())
			}
		}
	}
}
