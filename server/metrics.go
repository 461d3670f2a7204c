package server

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gannet-ml/gannet/batching"
)

// Metrics are the request metrics of both endpoints.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	intake   *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_requests_total", Help: "Inference requests answered, by model, HTTP status code and protocol (http or zmq)."},
			[]string{"model", "code", "protocol"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gannet_request_duration_seconds", Help: "Time from a decoded inference request to its answer, by model and protocol.",
			Buckets: batching.LatencyBuckets}, []string{"model", "protocol"}),
		intake: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gannet_request_intake_seconds", Help: "Time from the kernel receiving an HTTP inference request to the server starting to handle it (socket buffer and run queue; Linux only), by model. It counts against the request's deadline.",
			Buckets: batching.LatencyBuckets}, []string{"model"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.intake)
	}
	return m
}

// modelMetrics caches one model's children for one protocol, so the
// request path does no label lookups for the common codes.
type modelMetrics struct {
	duration prometheus.Observer
	intake   prometheus.Observer
	codes    [6]prometheus.Counter // 200, 400, 404, 413, 500, 503
	vec      *prometheus.CounterVec
	model    string
	protocol string
}

var commonCodes = [6]int{200, 400, 404, 413, 500, 503}

func (m *Metrics) forModel(model, protocol string) *modelMetrics {
	mm := &modelMetrics{duration: m.duration.WithLabelValues(model, protocol), vec: m.requests, model: model, protocol: protocol}
	if protocol == "http" {
		mm.intake = m.intake.WithLabelValues(model)
	}
	for i, c := range commonCodes {
		mm.codes[i] = m.requests.WithLabelValues(model, strconv.Itoa(c), protocol)
	}
	return mm
}

func (mm *modelMetrics) count(code int) {
	for i, c := range commonCodes {
		if c == code {
			mm.codes[i].Inc()
			return
		}
	}
	mm.vec.WithLabelValues(mm.model, strconv.Itoa(code), mm.protocol).Inc()
}
