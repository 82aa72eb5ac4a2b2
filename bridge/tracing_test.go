package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// described is the in-memory sink naming itself like the NATS sink does, or like
// the SQS sink when sqs is set.
type described struct {
	*sinktest.Memory
	sqs bool
}

func (d described) Describe(msg sinks.Message) (string, string) {
	if d.sqs {
		return "aws_sqs", "audiospliter-events"
	}
	return "nats", "audiospliter." + msg.Event
}

// tracedHarness is the harness with an SDK tracer provider whose spans the test reads
// as soon as they end.
func tracedHarness(t *testing.T) (*harness, *tracetest.SpanRecorder) {
	t.Helper()
	return tracedHarnessFor(t, false)
}

func tracedHarnessFor(t *testing.T, sqs bool) (*harness, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := newHarness(t, func(c *bridge.Config) {
		c.TracerProvider = tp
		c.Sink = described{c.Sink.(*sinktest.Memory), sqs}
	})
	return h, rec
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func wantAttr(t *testing.T, s sdktrace.ReadOnlySpan, key, want string) {
	t.Helper()
	if got := attrs(s)[attribute.Key(key)].String(); got != want {
		t.Errorf("span %q: %s = %q, want %q", s.Name(), key, got, want)
	}
}

// byKind splits the ended spans into the one server span and the producer spans.
func byKind(t *testing.T, rec *tracetest.SpanRecorder) (server sdktrace.ReadOnlySpan, producers []sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range rec.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			if server != nil {
				t.Fatalf("two server spans: %q and %q", server.Name(), s.Name())
			}
			server = s
		case trace.SpanKindProducer:
			producers = append(producers, s)
		}
	}
	if server == nil {
		t.Fatal("no server span")
	}
	return server, producers
}

func header(msg sinks.Message, name string) string {
	for _, h := range msg.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// One webhook is one trace: a server span with the HTTP conventions, a producer
// span under it with the messaging conventions, and the message's traceparent names
// that producer span, so a consumer continues the same trace.
func TestTraceOfOneWebhook(t *testing.T) {
	t.Parallel()
	h, rec := tracedHarness(t)
	h.post(t, sample, "sign", "trace-1").wantReceived(t, "trace-1", false)

	server, producers := byKind(t, rec)
	if server.Name() != "POST /webhooks" {
		t.Errorf("server span name %q", server.Name())
	}
	wantAttr(t, server, "http.request.method", "POST")
	wantAttr(t, server, "http.route", "/webhooks")
	wantAttr(t, server, "http.response.status_code", "200")
	wantAttr(t, server, "messaging.message.id", "trace-1")
	if server.Status().Code == codes.Error {
		t.Errorf("server span status %v for a 200", server.Status())
	}
	if server.Parent().IsValid() {
		t.Errorf("no traceparent on the request, yet the server span has parent %s", server.Parent().SpanID())
	}
	if len(producers) != 1 {
		t.Fatalf("%d producer spans, want 1", len(producers))
	}
	p := producers[0]
	if p.Name() != "send audiospliter.job.completed" {
		t.Errorf("producer span name %q", p.Name())
	}
	if p.Parent().SpanID() != server.SpanContext().SpanID() || p.SpanContext().TraceID() != server.SpanContext().TraceID() {
		t.Error("the producer span is not a child of the server span")
	}
	wantAttr(t, p, "messaging.system", "nats")
	wantAttr(t, p, "messaging.destination.name", "audiospliter.job.completed")
	wantAttr(t, p, "messaging.message.id", "trace-1")
	wantAttr(t, p, "messaging.operation.type", "send")
	wantAttr(t, p, "audiospliter.publish.attempt", "1")

	msgs := h.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	tp := header(msgs[0], sinks.HeaderTraceParent)
	want := "00-" + p.SpanContext().TraceID().String() + "-" + p.SpanContext().SpanID().String() + "-01"
	if tp != want {
		t.Errorf("message traceparent %q, want %q (the producer span)", tp, want)
	}
	if msgs[0].AWSTraceHeader != "" {
		t.Errorf("AWSTraceHeader %q on a NATS message: only SQS needs it", msgs[0].AWSTraceHeader)
	}
	tid := p.SpanContext().TraceID().String()

	// The request's log line names the trace.
	line := grep(h.logs.String(), `"msg":"webhook"`)
	for _, want := range []string{`"trace_id":"` + tid + `"`, `"span_id":"` + server.SpanContext().SpanID().String() + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s:\n%s", want, line)
		}
	}
}

// For SQS the producer span's context also goes in X-Ray form, for the
// AWSTraceHeader system attribute.
func TestTraceXRayHeaderForSQS(t *testing.T) {
	t.Parallel()
	h, rec := tracedHarnessFor(t, true)
	h.post(t, sample, "sign", "trace-sqs").wantReceived(t, "trace-sqs", false)
	_, producers := byKind(t, rec)
	p := producers[0]
	wantAttr(t, p, "messaging.system", "aws_sqs")
	wantAttr(t, p, "messaging.destination.name", "audiospliter-events")
	tid := p.SpanContext().TraceID().String()
	want := "Root=1-" + tid[:8] + "-" + tid[8:] + ";Parent=" + p.SpanContext().SpanID().String() + ";Sampled=1"
	if got := h.sink.Messages()[0].AWSTraceHeader; got != want {
		t.Errorf("AWSTraceHeader %q, want %q", got, want)
	}
}

// A caller that sends traceparent owns the trace: the bridge's spans join it.
func TestTraceContinuesTheCallersTrace(t *testing.T) {
	t.Parallel()
	h, rec := tracedHarness(t)
	const caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	hdr := http.Header{}
	hdr.Set(bridge.SignatureHeader, bridge.Sign(secret, sample))
	hdr.Set(bridge.DeliveryHeader, "trace-2")
	hdr.Set("traceparent", caller)
	hdr.Set("tracestate", "vendor=abc")
	h.do(t, http.MethodPost, "/webhooks", sample, hdr).wantReceived(t, "trace-2", false)

	server, producers := byKind(t, rec)
	if got := server.SpanContext().TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %s, want the caller's", got)
	}
	if got := server.Parent().SpanID().String(); got != "00f067aa0ba902b7" || !server.Parent().IsRemote() {
		t.Errorf("server span parent %s, want the caller's span 00f067aa0ba902b7", got)
	}
	msg := h.sink.Messages()[0]
	if tp := header(msg, sinks.HeaderTraceParent); !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-"+producers[0].SpanContext().SpanID().String()) {
		t.Errorf("message traceparent %q is not in the caller's trace", tp)
	}
	if ts := header(msg, sinks.HeaderTraceState); ts != "vendor=abc" {
		t.Errorf("message tracestate %q, want the caller's vendor=abc", ts)
	}
}

// Each attempt is its own producer span: a failed one is an error, the retry that
// succeeds is attempt 2, and the message names the attempt that was confirmed.
func TestTraceShowsRetries(t *testing.T) {
	t.Parallel()
	h, rec := tracedHarness(t)
	failed := false
	h.sink.FailWith(func(sinks.Message) error {
		if !failed {
			failed = true
			return errors.New("broker away")
		}
		return nil
	})
	h.post(t, sample, "sign", "trace-3").wantReceived(t, "trace-3", false)

	server, producers := byKind(t, rec)
	if len(producers) != 2 {
		t.Fatalf("%d producer spans, want 2 (one per attempt)", len(producers))
	}
	first, second := producers[0], producers[1]
	wantAttr(t, first, "audiospliter.publish.attempt", "1")
	wantAttr(t, second, "audiospliter.publish.attempt", "2")
	if first.Status().Code != codes.Error || !strings.Contains(first.Status().Description, "broker away") {
		t.Errorf("failed attempt status %+v", first.Status())
	}
	wantAttr(t, first, "error.type", "retryable")
	if second.Status().Code == codes.Error {
		t.Errorf("confirmed attempt status %+v", second.Status())
	}
	wantAttr(t, server, "audiospliter.publish.attempt", "2")
	msg := h.sink.Messages()[0]
	if tp := header(msg, sinks.HeaderTraceParent); !strings.Contains(tp, second.SpanContext().SpanID().String()) {
		t.Errorf("message traceparent %q does not name the confirmed attempt %s", tp, second.SpanContext().SpanID())
	}
}

// A publish that fails for good makes the server span an error with the status.
func TestTraceOfAFailedPublish(t *testing.T) {
	t.Parallel()
	h, rec := tracedHarness(t)
	h.sink.FailWith(func(sinks.Message) error { return sinks.Permanent(errors.New("refused")) })
	h.post(t, sample, "sign", "trace-4").wantError(t, http.StatusBadGateway)
	server, producers := byKind(t, rec)
	if len(producers) != 1 {
		t.Fatalf("%d producer spans, want 1: a permanent failure is not retried", len(producers))
	}
	wantAttr(t, producers[0], "error.type", "permanent")
	if server.Status().Code != codes.Error {
		t.Errorf("server span status %+v for a 502", server.Status())
	}
	wantAttr(t, server, "http.response.status_code", "502")
	wantAttr(t, server, "error.type", "502")
}

// Without a tracer provider nothing of tracing shows: no trace headers on the
// message, no trace ids in the log, and the caller's traceparent is not passed on.
func TestTracingOffAddsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	hdr := http.Header{}
	hdr.Set(bridge.SignatureHeader, bridge.Sign(secret, sample))
	hdr.Set(bridge.DeliveryHeader, "trace-5")
	hdr.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.do(t, http.MethodPost, "/webhooks", sample, hdr).wantReceived(t, "trace-5", false)
	msg := h.sink.Messages()[0]
	if len(msg.Headers) != 10 || header(msg, sinks.HeaderTraceParent) != "" || msg.AWSTraceHeader != "" {
		t.Errorf("untraced message carries trace context: %v %q", msg.Headers, msg.AWSTraceHeader)
	}
	if strings.Contains(h.logs.String(), "trace_id") {
		t.Errorf("untraced log has a trace id:\n%s", h.logs)
	}
}

// The publish latency histogram carries the trace id as an exemplar in the
// OpenMetrics exposition, which is what Prometheus asks for.
func TestPublishLatencyExemplar(t *testing.T) {
	t.Parallel()
	h, rec := tracedHarness(t)
	h.post(t, sample, "sign", "trace-6").wantReceived(t, "trace-6", false)
	server, _ := byKind(t, rec)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, h.srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `# {trace_id="` + server.SpanContext().TraceID().String() + `"}`
	var found bool
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, `audiospliter_bridge_publish_duration_seconds_bucket{outcome="confirmed"`) && strings.Contains(l, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no exemplar %s on the confirmed publish latency:\n%s", want, grep(string(body), "publish_duration"))
	}
	// The dedup cache's size and bound are there for the near-the-bound alert.
	for _, name := range []string{"audiospliter_bridge_dedup_entries 1.0", "audiospliter_bridge_dedup_max_entries 100000.0"} {
		if !strings.Contains(string(body), name+"\n") {
			t.Errorf("metrics lack %q:\n%s", name, grep(string(body), "dedup"))
		}
	}
}

// benchHandler is BenchmarkHandler with a tracer provider of the caller's (nil: off).
func benchHandler(b *testing.B, tp trace.TracerProvider) {
	sink := sinktest.NewMemory()
	cfg := bridge.Config{Secrets: []string{secret}, DedupTTL: 0, Sink: described{Memory: sink}}
	if tp != nil {
		cfg.TracerProvider = tp
	}
	br, err := bridge.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	sig := bridge.Sign(secret, sample)
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = "d-" + strconv.Itoa(i)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks", nil)
	req.Header.Set(bridge.SignatureHeader, sig)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.Body = io.NopCloser(bytes.NewReader(sample))
		req.ContentLength = int64(len(sample))
		req.Header.Set(bridge.DeliveryHeader, ids[i%len(ids)])
		i++
		rec := httptest.NewRecorder()
		br.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkHandlerTracingOff and BenchmarkHandlerTracingOn compare the handler with
// no tracer provider (what the bridge runs without an OTLP endpoint) and with the
// SDK sampling every request into a batch processor (export discarded).
func BenchmarkHandlerTracingOff(b *testing.B) { benchHandler(b, nil) }

func BenchmarkHandlerTracingOn(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	benchHandler(b, tp)
}

// benchHTTP is BenchmarkHandlerHTTP (loopback HTTP, 64 keep-alive connections, the
// in-memory sink) with a tracer provider of the caller's (nil: off).
func benchHTTP(b *testing.B, tp trace.TracerProvider) {
	cfg := bridge.Config{
		Secrets: []string{secret}, DedupTTL: time.Minute, MaxInFlight: 4096,
		CETypePrefix: bridge.DefaultCETypePrefix, Sink: described{Memory: sinktest.NewMemory()},
	}
	if tp != nil {
		cfg.TracerProvider = tp
	}
	br, err := bridge.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(br)
	defer srv.Close()
	b.ReportAllocs()
	b.ResetTimer()
	res, err := loadgen.Run(b.Context(), loadgen.Target{URL: srv.URL + "/webhooks", Secret: secret, Body: sample},
		loadgen.Options{Concurrency: 64, Requests: b.N})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	res.Report(b, b.Error)
}

func BenchmarkHandlerHTTPTracingOff(b *testing.B) { benchHTTP(b, nil) }

func BenchmarkHandlerHTTPTracingOn(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	benchHTTP(b, tp)
}

// sampledHarness is the harness with a tracer provider using sampler.
func sampledHarness(t *testing.T, sampler sdktrace.Sampler) (*harness, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h := newHarness(t, func(c *bridge.Config) {
		c.TracerProvider = tp
		c.Sink = described{c.Sink.(*sinktest.Memory), false}
	})
	return h, rec
}

// callerTrace is a sampled trace context a client sends.
const callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"

func withCallerTrace(sig, delivery string) http.Header {
	hdr := http.Header{}
	if sig != "" {
		hdr.Set(bridge.SignatureHeader, sig)
	}
	hdr.Set(bridge.DeliveryHeader, delivery)
	hdr.Set("traceparent", "00-"+callerTraceID+"-00f067aa0ba902b7-01")
	hdr.Set("tracestate", "vendor=abc")
	return hdr
}

// Nothing chosen by an unverified sender: with a parent-based sampler that records
// nothing of its own (what "trace only what callers ask for" looks like), an
// anonymous client that sends a sampled traceparent must not get a span recorded,
// let alone under the trace id it picked. A signed request still continues its
// caller's trace.
func TestTraceUnverifiedRequestIsNotContinued(t *testing.T) {
	t.Parallel()
	h, rec := sampledHarness(t, sdktrace.ParentBased(sdktrace.NeverSample()))
	h.do(t, http.MethodPost, "/webhooks", sample, withCallerTrace("sha256=00", "anon-1")).wantError(t, http.StatusUnauthorized)
	h.do(t, http.MethodPost, "/webhooks", sample, withCallerTrace("", "anon-2")).wantError(t, http.StatusUnauthorized)
	if spans := rec.Ended(); len(spans) != 0 {
		t.Fatalf("%d spans recorded for unverified requests (the first in trace %s), want none", len(spans), spans[0].SpanContext().TraceID())
	}
	if strings.Contains(h.logs.String(), callerTraceID) {
		t.Errorf("the log names the trace id an unverified client picked:\n%s", h.logs)
	}

	h.do(t, http.MethodPost, "/webhooks", sample, withCallerTrace(bridge.Sign(secret, sample), "signed-1")).wantReceived(t, "signed-1", false)
	server, producers := byKind(t, rec)
	if got := server.SpanContext().TraceID().String(); got != callerTraceID || server.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("signed request: server span in trace %s under %s, want the caller's", got, server.Parent().SpanID())
	}
	if len(producers) != 1 || header(h.sink.Messages()[0], sinks.HeaderTraceState) != "vendor=abc" {
		t.Errorf("signed request: the message does not carry the caller's trace state")
	}
}

// With a sampler that records traces of its own, an unverified request's span is
// recorded in a new trace, never under the caller's trace id nor as its child, and
// still covers the whole request.
func TestTraceUnverifiedRequestStartsItsOwnTrace(t *testing.T) {
	t.Parallel()
	h, rec := sampledHarness(t, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	h.do(t, http.MethodPost, "/webhooks", sample, withCallerTrace("sha256=00", "anon-3")).wantError(t, http.StatusUnauthorized)
	server, _ := byKind(t, rec)
	if got := server.SpanContext().TraceID().String(); got == callerTraceID || server.Parent().IsValid() {
		t.Errorf("unverified request: span in trace %s under %s, want a new root", got, server.Parent().SpanID())
	}
	wantAttr(t, server, "http.response.status_code", "401")
	if strings.Contains(h.logs.String(), callerTraceID) {
		t.Errorf("the log names the trace id an unverified client picked:\n%s", h.logs)
	}
	if !strings.Contains(grep(h.logs.String(), `"msg":"webhook"`), server.SpanContext().TraceID().String()) {
		t.Errorf("the log line does not name the bridge's own trace:\n%s", h.logs)
	}
}
