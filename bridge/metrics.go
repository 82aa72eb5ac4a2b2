package bridge

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/internal/admit"
)

// metrics are the bridge's Prometheus series. Every label value comes from a small
// fixed set (status codes, outcomes), never from a request.
type metrics struct {
	requests   *prometheus.CounterVec
	byAnswer   sync.Map // requestKey → prometheus.Counter, resolved once: no label lookup per request
	latency    *prometheus.HistogramVec
	confirmed  prometheus.Observer
	failed     prometheus.Observer
	retries    prometheus.Counter
	duplicates prometheus.Counter
	inFlight   prometheus.Gauge
	bodyCut    prometheus.Counter // body reads cut to make room
	bodyFull   prometheus.Counter // body reads refused: no slot within a second
	// traced: the bridge traces, so latencies carry the trace id as an exemplar.
	traced bool
}

func newMetrics(reg prometheus.Registerer, d *dedup, maxEntries int, reads *admit.Reads, traced bool) *metrics {
	m := &metrics{
		traced: traced,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audiospliter_bridge_requests_total",
			Help: "Webhook requests answered, by HTTP status code and reason (a fixed set: docs/observability.md).",
		}, []string{"code", "reason"}),
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
	// The series an operator graphs and alerts on exist from the start, at 0.
	for _, k := range []requestKey{
		{200, reasonConfirmed}, {200, reasonDuplicate}, {401, reasonBadSignature}, {404, reasonUnknownPath},
		{502, reasonBrokerRefused}, {503, reasonUnavailable}, {503, reasonNotConfirmed}, {503, reasonBackedUp},
	} {
		m.counter(k)
	}
	m.confirmed = m.latency.WithLabelValues("confirmed")
	m.failed = m.latency.WithLabelValues("failed")
	return m
}

// requestKey is one series of the requests metric. Reasons are the fixed set of
// reasons.go, so the series are bounded.
type requestKey struct {
	code   int
	reason string
}

func (m *metrics) request(code int, reason string) { m.counter(requestKey{code, reason}).Inc() }

func (m *metrics) counter(k requestKey) prometheus.Counter {
	if c, ok := m.byAnswer.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.byAnswer.LoadOrStore(k, m.requests.WithLabelValues(strconv.Itoa(k.code), k.reason))
	return c.(prometheus.Counter)
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
