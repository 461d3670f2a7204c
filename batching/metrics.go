package batching

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the batching metrics of all models, labelled by model.
type Metrics struct {
	queue     *prometheus.HistogramVec
	compute   *prometheus.HistogramVec
	batchSize *prometheus.HistogramVec
	pending   *prometheus.GaugeVec
	expired   *prometheus.CounterVec
}

// LatencyBuckets are the histogram buckets of every duration metric, in
// seconds: 100 us to 10 s.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewMetrics creates the batching metrics and registers them with reg (nil:
// not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gannet_queue_duration_seconds", Help: "Time requests wait in the model's queue before their batch is dispatched.",
			Buckets: LatencyBuckets}, []string{"model"}),
		compute: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gannet_compute_duration_seconds", Help: "Time a replica spends computing one batch, as the worker measures it.",
			Buckets: LatencyBuckets}, []string{"model"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gannet_batch_size", Help: "Rows per dispatched batch.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}, []string{"model"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_pending_requests", Help: "Requests waiting in the model's queue."}, []string{"model"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_expired_requests_total", Help: "Requests answered unrun because their deadline passed in the queue."}, []string{"model"}),
	}
	if reg != nil {
		reg.MustRegister(m.queue, m.compute, m.batchSize, m.pending, m.expired)
	}
	return m
}

// modelMetrics are one model's children, looked up once.
type modelMetrics struct {
	queue, compute, batchSize prometheus.Observer
	pending                   prometheus.Gauge
	expired                   prometheus.Counter
}

func (m *Metrics) forModel(model string) modelMetrics {
	if m == nil {
		m = NewMetrics(nil)
	}
	return modelMetrics{
		queue:     m.queue.WithLabelValues(model),
		compute:   m.compute.WithLabelValues(model),
		batchSize: m.batchSize.WithLabelValues(model),
		pending:   m.pending.WithLabelValues(model),
		expired:   m.expired.WithLabelValues(model),
	}
}
