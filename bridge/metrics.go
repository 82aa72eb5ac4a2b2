package bridge

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the bridge's Prometheus series. Every label value comes from a small
// fixed set (status codes, outcomes), never from a request.
type metrics struct {
	requests   *prometheus.CounterVec
	byCode     map[int]prometheus.Counter // resolved once: no label lookup per request
	latency    *prometheus.HistogramVec
	confirmed  prometheus.Observer
	failed     prometheus.Observer
	retries    prometheus.Counter
	duplicates prometheus.Counter
	inFlight   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audiospliter_bridge_requests_total",
			Help: "Webhook requests answered, by HTTP status code.",
		}, []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "audiospliter_bridge_publish_duration_seconds",
			Help:    "Time from the first publish attempt to the broker's confirm or the final failure, retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audiospliter_bridge_publish_retries_total",
			Help: "Publish attempts after the first, over all requests.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audiospliter_bridge_duplicates_total",
			Help: "Requests answered from the dedup cache or by joining an in-flight publish of the same delivery id.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audiospliter_bridge_publishes_in_flight",
			Help: "Publishes waiting for the broker's confirm now.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.retries, m.duplicates, m.inFlight)
	m.byCode = make(map[int]prometheus.Counter)
	for _, code := range []int{200, 400, 401, 404, 405, 413, 500, 502, 503} {
		m.byCode[code] = m.requests.WithLabelValues(strconv.Itoa(code))
	}
	m.confirmed = m.latency.WithLabelValues("confirmed")
	m.failed = m.latency.WithLabelValues("failed")
	return m
}

func (m *metrics) request(code int) {
	if c, ok := m.byCode[code]; ok {
		c.Inc()
		return
	}
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
}
