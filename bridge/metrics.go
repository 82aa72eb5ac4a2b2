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
// fixed set (status codes, reasons, outcomes, the configured senders' names), never
// from a request.
type metrics struct {
	requests   *prometheus.CounterVec
	byAnswer   sync.Map // requestKey → prometheus.Counter, resolved once: no label lookup per request
	latency    *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	// senders: the series carry a sender label (a senders file); single is then
	// nil, else the one sender's series, without the label, as before senders.
	senders  bool
	single   *series
	named    map[string]*series // by sender name, with senders
	inFlight prometheus.Gauge
	bodyCut  prometheus.Counter // body reads cut to make room
	bodyFull prometheus.Counter // body reads refused: no slot within a second
	// traced: the bridge traces, so latencies carry the trace id as an exemplar.
	traced bool
}

// newMetrics registers the series. With senders (a senders file) the requests,
// publish duration, retries and duplicates series carry a sender label, whose
// values are the configured names (empty for a POST to no sender's path); without,
// they carry none, as before senders existed.
func newMetrics(reg prometheus.Registerer, d *dedup, maxEntries int, reads *admit.Reads, traced bool, senders []string) *metrics {
	var by []string
	if senders != nil {
		by = []string{"sender"}
	}
	m := &metrics{
		traced:  traced,
		senders: senders != nil,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "audiospliter_bridge_requests_total",
			Help: "Webhook requests answered, by HTTP status code and reason (a fixed set: docs/observability.md), and sender with a senders file.",
		}, append([]string{"code", "reason"}, by...)),
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
	// The series an operator graphs and alerts on exist from the start, at 0: per
	// sender with senders, where the unknown path's belong to none.
	m.counter(requestKey{404, reasonUnknownPath, ""})
	if senders == nil {
		m.single = m.series("")
	}
	m.named = make(map[string]*series, len(senders))
	for _, name := range senders {
		m.named[name] = m.series(name)
	}
	return m
}

// series are one sender's series ("" : the single sender's), resolved once: no
// label lookup per request.
type series struct {
	m          *metrics
	sender     string
	confirmed  prometheus.Observer
	failed     prometheus.Observer
	retries    prometheus.Counter
	duplicates prometheus.Counter
}

// series returns the series of sender, and creates its requests series that an
// operator graphs and alerts on, at 0.
func (m *metrics) series(sender string) *series {
	s := &series{m: m, sender: sender}
	s.confirmed = m.latency.WithLabelValues(m.labels("confirmed", sender)...)
	s.failed = m.latency.WithLabelValues(m.labels("failed", sender)...)
	s.retries = m.retries.WithLabelValues(m.by(sender)...)
	s.duplicates = m.duplicates.WithLabelValues(m.by(sender)...)
	keys := []requestKey{
		{200, reasonConfirmed, sender}, {200, reasonDuplicate, sender}, {401, reasonBadSignature, sender},
		{502, reasonBrokerRefused, sender}, {503, reasonUnavailable, sender}, {503, reasonNotConfirmed, sender}, {503, reasonBackedUp, sender},
	}
	if m.senders {
		// What only a senders file gives, and its alerts and dashboard watch.
		keys = append(keys, requestKey{401, reasonOutOfTolerance, sender}, requestKey{503, reasonUnroutable, sender})
	}
	for _, k := range keys {
		m.counter(k)
	}
	return s
}

// labels are the label values of a series: first, then the sender when the
// series carry one.
func (m *metrics) labels(first, sender string) []string {
	return append([]string{first}, m.by(sender)...)
}

// by is the sender label's value, when the series carry one.
func (m *metrics) by(sender string) []string {
	if m.senders {
		return []string{sender}
	}
	return nil
}

func (s *series) request(code int, reason string) {
	s.m.counter(requestKey{code, reason, s.sender}).Inc()
}

// requestKey is one series of the requests metric. Reasons are the fixed set of
// reasons.go and senders the configured names, so the series are bounded.
type requestKey struct {
	code   int
	reason string
	sender string
}

func (m *metrics) request(code int, reason string) { m.counter(requestKey{code, reason, ""}).Inc() }

func (m *metrics) counter(k requestKey) prometheus.Counter {
	if c, ok := m.byAnswer.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.byAnswer.LoadOrStore(k, m.requests.WithLabelValues(append([]string{strconv.Itoa(k.code), k.reason}, m.by(k.sender)...)...))
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
