package batching

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gannet-ml/gannet/internal/latency"
)

// Metrics are the batching metrics of all models, labelled by model.
type Metrics struct {
	queue     *prometheus.HistogramVec
	compute   *prometheus.HistogramVec
	batchSize *prometheus.HistogramVec
	pending   *prometheus.GaugeVec
	shed      *prometheus.CounterVec
	reason    *prometheus.CounterVec
	slo       *prometheus.CounterVec
	profile   *prometheus.GaugeVec
}

// LatencyBuckets are the histogram buckets of every duration metric, in
// seconds: 100 us to 10 s.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Reasons a request is answered without running (label "reason" of
// gannet_shed_requests_total).
const (
	shedQueueFull = iota // refused: the queue is at max_queue_size
	shedPredicted        // refused at admission: predicted to miss its deadline
	shedLate             // answered from the queue: too little time left to run
	shedExpired          // answered from the queue: its deadline passed
	shedClosed           // the server is shutting down
	shedOverload         // dropped by the policy so that a larger batch behind it meets its deadline
	numShed
)

var shedNames = [numShed]string{"queue_full", "predicted_late", "late", "expired", "closed", "overload"}

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
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_shed_requests_total", Help: "Requests answered without running, by reason: queue_full, predicted_late (refused at admission), late (too little time left in the queue), expired (deadline passed in the queue), closed (shutting down), overload (dropped so that a larger batch behind them met its deadline)."},
			[]string{"model", "reason"}),
		reason: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_batches_total", Help: "Batches dispatched, by why the batch was sent: full, deadline (a larger batch would miss a deadline), idle (all that waited), waited (after waiting for more), timer (fixed delay ran out), cap (AIMD cap)."},
			[]string{"model", "reason"}),
		slo: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_slo_requests_total", Help: "Requests answered successfully, by whether their time in the server (arrival to answer; over HTTP on Linux, arrival is the kernel receive time) met the model's SLO latency: met, missed."},
			[]string{"model", "outcome"}),
		profile: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_latency_profile_seconds", Help: "The model's latency profile: compute time of a batch of batch_size rows (stat mean or high, about p98), and the overhead from dispatch to answer beyond compute (batch_size 0)."},
			[]string{"model", "batch_size", "stat"}),
	}
	if reg != nil {
		reg.MustRegister(m.queue, m.compute, m.batchSize, m.pending, m.shed, m.reason, m.slo, m.profile)
	}
	return m
}

// modelMetrics are one model's children, looked up once.
type modelMetrics struct {
	queue, compute, batchSize prometheus.Observer
	pending                   prometheus.Gauge
	shed                      [numShed]prometheus.Counter
	reason                    [numReasons]prometheus.Counter
	slo                       [2]prometheus.Counter // missed, met
	buckets                   []int
	mean, high                []prometheus.Gauge // per bucket, then overhead
}

func (m *Metrics) forModel(model string, buckets []int) modelMetrics {
	if m == nil {
		m = NewMetrics(nil)
	}
	mm := modelMetrics{
		queue:     m.queue.WithLabelValues(model),
		compute:   m.compute.WithLabelValues(model),
		batchSize: m.batchSize.WithLabelValues(model),
		pending:   m.pending.WithLabelValues(model),
		slo:       [2]prometheus.Counter{m.slo.WithLabelValues(model, "missed"), m.slo.WithLabelValues(model, "met")},
		buckets:   buckets,
	}
	for i := range mm.shed {
		mm.shed[i] = m.shed.WithLabelValues(model, shedNames[i])
	}
	for i := range mm.reason {
		if i == int(ReasonNone) {
			continue // never counted: no batch was sent
		}
		mm.reason[i] = m.reason.WithLabelValues(model, Reason(i).String())
	}
	for _, b := range append(buckets, 0) {
		mm.mean = append(mm.mean, m.profile.WithLabelValues(model, strconv.Itoa(b), "mean"))
		mm.high = append(mm.high, m.profile.WithLabelValues(model, strconv.Itoa(b), "high"))
	}
	return mm
}

// observeProfile exports the profile's estimates of the bucket of rows and
// of the overhead.
func (mm *modelMetrics) observeProfile(p *latency.Profile, rows int) {
	i := 0
	for i < len(mm.buckets)-1 && mm.buckets[i] < rows {
		i++
	}
	mm.mean[i].Set(p.Mean(rows).Seconds())
	om, oh := p.Overhead()
	mm.high[i].Set((p.Predict(rows) - oh).Seconds())
	last := len(mm.mean) - 1
	mm.mean[last].Set(om.Seconds())
	mm.high[last].Set(oh.Seconds())
}
