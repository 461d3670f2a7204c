package dispatch

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the dispatcher's metrics.
type Metrics struct {
	workers      *prometheus.GaugeVec
	replicas     *prometheus.GaugeVec
	lost         *prometheus.CounterVec
	lateReplies  prometheus.Counter
	abandoned    prometheus.Counter
	redispatched prometheus.Counter
	malformed    prometheus.Counter
	sendErrors   prometheus.Counter
	missed       prometheus.Counter
	detection    prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_workers", Help: "Registered workers by state (loading, ready, failed, draining; parked: warm-pool workers on no model)."}, []string{"state"}),
		replicas: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gannet_replicas", Help: "Model replicas by state."}, []string{"model", "state"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gannet_workers_lost_total", Help: "Workers declared dead, by reason."}, []string{"reason"}),
		lateReplies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gannet_late_replies_total", Help: "Worker replies for batches no longer in flight, dropped."}),
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gannet_batches_abandoned_total", Help: "Batches answered with a deadline error because their worker had not replied a heartbeat interval after the deadline."}),
		redispatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gannet_batches_redispatched_total", Help: "Batches of lost workers sent again to another replica."}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gannet_worker_malformed_messages_total", Help: "Messages from workers that could not be decoded."}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gannet_worker_send_errors_total", Help: "Messages to workers that could not be sent."}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gannet_worker_heartbeats_missed_total", Help: "Heartbeat intervals in which a worker sent nothing (it is declared dead after --heartbeat x 3 of silence)."}),
		detection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gannet_worker_failure_detection_seconds", Help: "For workers declared dead for silence: time from their last message to being declared dead.",
			Buckets: []float64{0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30}}),
	}
	for _, s := range stateNames {
		m.workers.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.workers, m.replicas, m.lost, m.lateReplies, m.abandoned, m.redispatched, m.malformed, m.sendErrors, m.missed, m.detection)
	}
	return m
}

// SetStarting sets gannet_replicas{model,state="starting"}: replicas asked
// for (e.g. worker processes started by an autoscaler) and not ready yet.
func (m *Metrics) SetStarting(model string, n int) {
	m.replicas.WithLabelValues(model, "starting").Set(float64(n))
}
