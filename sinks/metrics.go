package sinks

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the broker-side series an operator needs beside the bridge's own:
// how often the connection was re-established, what the broker refused, how long
// its confirms take, and how full SQS batches are. One value is shared by the one
// sink of a process; a nil *Metrics records nothing, so sinks call its methods
// unconditionally. Label values are fixed: the sink name and a closed set of reasons.
type Metrics struct {
	reconnects prometheus.Counter
	refused    *prometheus.CounterVec
	returned   prometheus.Counter
	nacked     prometheus.Counter
	confirm    prometheus.Histogram
	batch      prometheus.Histogram
}

// NewMetrics returns the series for a sink named sink (rabbitmq, nats, sqs); the
// caller registers Collectors.
func NewMetrics(sink string) *Metrics {
	labels := prometheus.Labels{"sink": sink}
	m := &Metrics{
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "audiospliter_bridge_sink_reconnects_total",
			Help:        "Times the sink re-established its broker connection after losing it.",
			ConstLabels: labels,
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "audiospliter_bridge_sink_refused_total",
			Help:        "Publish attempts the broker answered with a refusal: returned (unroutable, RabbitMQ basic.return) or nacked (RabbitMQ basic.nack or channel closed before the ack).",
			ConstLabels: labels,
		}, []string{"reason"}),
		confirm: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "audiospliter_bridge_sink_confirm_duration_seconds",
			Help:        "Broker round trip of one publish attempt (RabbitMQ publish to ack, JetStream publish to PubAck) or of one SQS call, successful or not.",
			ConstLabels: labels,
			Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "audiospliter_bridge_sink_batch_entries",
			Help:        "Entries per SQS SendMessageBatch call (1 to 10).",
			ConstLabels: labels,
			Buckets:     []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		}),
	}
	m.returned = m.refused.WithLabelValues("returned")
	m.nacked = m.refused.WithLabelValues("nacked")
	return m
}

// Collectors are the series to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.reconnects, m.refused, m.confirm, m.batch}
}

// Reconnected counts a connection re-established after a loss.
func (m *Metrics) Reconnected() {
	if m != nil {
		m.reconnects.Inc()
	}
}

// Returned counts a message the broker returned as unroutable.
func (m *Metrics) Returned() {
	if m != nil {
		m.returned.Inc()
	}
}

// Nacked counts a publish the broker did not ack.
func (m *Metrics) Nacked() {
	if m != nil {
		m.nacked.Inc()
	}
}

// ObserveConfirm records the broker round trip that began at start.
func (m *Metrics) ObserveConfirm(start time.Time) {
	if m != nil {
		m.confirm.Observe(time.Since(start).Seconds())
	}
}

// ObserveBatch records the entries of one batch call.
func (m *Metrics) ObserveBatch(entries int) {
	if m != nil {
		m.batch.Observe(float64(entries))
	}
}
