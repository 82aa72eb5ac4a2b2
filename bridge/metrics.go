package bridge

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/internal/admit"
)

// metrics are the bridge's Prometheus series. Every label value comes from a small
// fixed set (status codes, outcomes, the configured senders' names), never from a
// request.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	// single is the one sender's series without a senders file (no sender label);
	// with one, each sender has its own (senderSeries).
	single   *series
	inFlight prometheus.Gauge
	bodyCut  prometheus.Counter // body reads cut to make room
	bodyFull prometheus.Counter // body reads refused: no slot within a second
	// traced: the bridge traces, so latencies carry the trace id as an exemplar.
	traced bool
}

// newMetrics registers the series. With senders (a senders file), the requests,
// publish duration, retries and duplicates series carry a sender label, whose
// values are the configured names; without, they carry none, as before senders
// existed.
func newMetrics(reg prometheus.Registerer, d *dedup, maxEntries int, reads *admit.Reads, traced, senders bool) *metrics {
	var by []string
	if senders {
		by = []string{"sender"}
	}
	m := &metrics{
		traced: traced,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audiospliter_bridge_requests_total",
			Help: "Webhook requests answered, by HTTP status code (and sender, with a senders file).",
		}, append([]string{"code"}, by...)),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "audiospliter_bridge_publish_duration_seconds",
			Help:    "Time from the first publish attempt to the broker's confirm or the final failure, retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, append([]string{"outcome"}, by...)),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audiospliter_bridge_publish_retries_total",
			Help: "Publish attempts after the first, over all requests.",
		}, by),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audiospliter_bridge_duplicates_total",
			Help: "Requests answered from the dedup cache or by joining an in-flight publish of the same delivery id.",
		}, by),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audiospliter_bridge_publishes_in_flight",
			Help: "Publishes waiting for the broker's confirm now.",
		}),
		bodyCut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audiospliter_bridge_body_reads_cut_total",
			Help: "Body reads cut to make room: they had lasted a second or more, the longest of those being read, while another request waited.",
		}),
		bodyFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audiospliter_bridge_body_reads_refused_total",
			Help: "Requests refused before reading their body: no body read ended or could be cut within a second.",
		}),
	}
	bodyReads := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "audiospliter_bridge_body_reads",
		Help: "Requests reading their body now, before their signature is checked.",
	}, func() float64 { return float64(reads.InUse()) })
	dedupEntries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "audiospliter_bridge_dedup_entries",
		Help: "Delivery ids the dedup cache remembers now (confirmed within BRIDGE_DEDUP_TTL).",
	}, func() float64 { return float64(d.live()) })
	dedupMax := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "audiospliter_bridge_dedup_max_entries",
		Help: "Bound of the dedup cache: past it the oldest ids are forgotten early.",
	})
	dedupMax.Set(float64(maxEntries))
	reg.MustRegister(m.requests, m.latency, m.retries, m.duplicates, m.inFlight, dedupEntries, dedupMax,
		bodyReads, m.bodyCut, m.bodyFull)
	if !senders {
		m.single = m.series()
	}
	return m
}

// series are one sender's series, resolved once: no label lookup per request.
type series struct {
	m          *metrics
	sender     []string // the sender label's value, or none
	byCode     map[int]prometheus.Counter
	confirmed  prometheus.Observer
	failed     prometheus.Observer
	retries    prometheus.Counter
	duplicates prometheus.Counter
}

// series returns the series of the sender named by labels (none: the single
// sender).
func (m *metrics) series(sender ...string) *series {
	s := &series{m: m, sender: sender, byCode: make(map[int]prometheus.Counter)}
	for _, code := range []int{200, 400, 401, 404, 405, 413, 500, 502, 503} {
		s.byCode[code] = m.requests.WithLabelValues(append([]string{strconv.Itoa(code)}, sender...)...)
	}
	s.confirmed = m.latency.WithLabelValues(append([]string{"confirmed"}, sender...)...)
	s.failed = m.latency.WithLabelValues(append([]string{"failed"}, sender...)...)
	s.retries = m.retries.WithLabelValues(sender...)
	s.duplicates = m.duplicates.WithLabelValues(sender...)
	return s
}

func (s *series) request(code int) {
	if c, ok := s.byCode[code]; ok {
		c.Inc()
		return
	}
	s.m.requests.WithLabelValues(append([]string{strconv.Itoa(code)}, s.sender...)...).Inc()
}

// observe records a publish latency; while tracing, a sampled request's trace id
// rides along as an exemplar, so a slow bucket on the dashboard leads to its trace.
func (m *metrics) observe(ctx context.Context, o prometheus.Observer, d time.Duration) {
	if m.traced {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			o.(prometheus.ExemplarObserver).ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
			return
		}
	}
	o.Observe(d.Seconds())
}
