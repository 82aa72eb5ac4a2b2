package app_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// gotSpan is one span as an OTLP collector receives it.
type gotSpan struct {
	service, name           string
	kind                    tracepb.Span_SpanKind
	traceID, spanID, parent string
	attrs                   map[string]string
	status                  tracepb.Status_StatusCode
}

// otlpReceiver is an OTLP/HTTP trace endpoint: it decodes the real protobuf export
// requests the bridge's exporter sends.
type otlpReceiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []gotSpan
}

func startReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP export to %s as %q", req.URL.Path, req.Header.Get("Content-Type"))
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		var export coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &export); err != nil {
			t.Errorf("OTLP body is not an ExportTraceServiceRequest: %v", err)
			http.Error(w, "bad protobuf", http.StatusBadRequest)
			return
		}
		r.add(&export)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *otlpReceiver) add(export *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range export.ResourceSpans {
		service := kvs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, gotSpan{
					service: service, name: s.Name, kind: s.Kind,
					traceID: hex.EncodeToString(s.TraceId), spanID: hex.EncodeToString(s.SpanId),
					parent: hex.EncodeToString(s.ParentSpanId), attrs: kvs(s.Attributes),
					status: s.GetStatus().GetCode(),
				})
			}
		}
	}
}

func kvs(list []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range list {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(v.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.Key] = strconv.FormatBool(v.BoolValue)
		}
	}
	return m
}

// trace waits for the server span of delivery and its producer spans.
func (r *otlpReceiver) trace(t *testing.T, delivery string) (server gotSpan, producers []gotSpan) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		var found bool
		producers = nil
		for _, s := range r.spans {
			if s.kind == tracepb.Span_SPAN_KIND_SERVER && s.attrs["messaging.message.id"] == delivery {
				server, found = s, true
			}
		}
		for _, s := range r.spans {
			if found && s.kind == tracepb.Span_SPAN_KIND_PRODUCER && s.parent == server.spanID {
				producers = append(producers, s)
			}
		}
		return found && len(producers) > 0
	}, "no server span with its producer span for %s", delivery)
	return server, producers
}

// traced turns tracing on, pointed at the receiver through the standard variables
// only, given as a lookup (nothing is read from the process environment), with vars
// on top.
func traced(r *otlpReceiver, vars map[string]string) func(*app.Options) {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": r.srv.URL,
		"OTEL_SERVICE_NAME":           "bridge-under-test",
		"OTEL_BSP_SCHEDULE_DELAY":     "50", // ms: spans arrive while the test waits
	}
	maps.Copy(env, vars)
	return func(o *app.Options) {
		o.OTel = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	}
}

const callerTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// postTraced posts a webhook with the caller's traceparent.
func (r *running) postTraced(t *testing.T, delivery string) apptest.Reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks", bytes.NewReader(sample))
	req.Header.Set("X-AudioSpliter-Signature", bridge.Sign(testSecret, sample))
	req.Header.Set("X-AudioSpliter-Delivery", delivery)
	req.Header.Set("traceparent", callerTraceParent)
	return apptest.Do(t, req)
}

// checkTrace asserts the span tree of one webhook: a server span (service name from
// OTEL_SERVICE_NAME, HTTP attributes) with one producer span for system/destination,
// and that traceparent, read back from the broker, names that producer span (on SQS,
// which carries no traceparent, the caller checks AWSTraceHeader instead).
func checkTrace(t *testing.T, r *otlpReceiver, delivery, system, destination, traceparent string) gotSpan {
	t.Helper()
	server, producers := r.trace(t, delivery)
	if server.service != "bridge-under-test" || server.name != "POST /webhooks" || server.attrs["http.response.status_code"] != "200" {
		t.Errorf("server span: service %q, name %q, attributes %v", server.service, server.name, server.attrs)
	}
	if len(producers) != 1 {
		t.Fatalf("%d producer spans for %s, want 1", len(producers), delivery)
	}
	p := producers[0]
	want := map[string]string{
		"messaging.system": system, "messaging.destination.name": destination,
		"messaging.message.id": delivery, "messaging.operation.type": "send",
		"audiospliter.publish.attempt": "1",
	}
	for k, v := range want {
		if p.attrs[k] != v {
			t.Errorf("producer span %s = %q, want %q", k, p.attrs[k], v)
		}
	}
	if p.traceID != server.traceID || p.status == tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("producer span trace %s status %v; server trace %s", p.traceID, p.status, server.traceID)
	}
	if system != "aws_sqs" {
		if wantTP := "00-" + p.traceID + "-" + p.spanID + "-01"; traceparent != wantTP {
			t.Errorf("traceparent on the broker %q, want %q (the producer span)", traceparent, wantTP)
		}
	}
	return server
}

func TestTraceEndToEndNATS(t *testing.T) {
	t.Parallel()
	rec := startReceiver(t)
	natsAddr := testkit.FreeAddr(t)
	b := startBridge(t, func(c *config.Config) { c.Nats.EmbeddedListen = natsAddr }, traced(rec, nil))
	if r := b.post(t, sample, "otel-nats-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if r := b.postTraced(t, "otel-nats-2"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	msgs := natstest.ReadStream(t, "nats://"+natsAddr, "AUDIOSPLITER", 2)
	if len(msgs) != 2 {
		t.Fatalf("%d messages on the stream", len(msgs))
	}
	checkTrace(t, rec, "otel-nats-1", "nats", "audiospliter.job.completed", msgs[0].Header.Get("traceparent"))
	headers := map[string]string{}
	for k := range msgs[1].Header {
		headers[k] = msgs[1].Header.Get(k)
	}
	apptest.AssertSchema(t, headers) // traceparent and tracestate as the schema describes them
	server := checkTrace(t, rec, "otel-nats-2", "nats", "audiospliter.job.completed", msgs[1].Header.Get("traceparent"))
	if server.traceID != "4bf92f3577b34da6a3ce929d0e0e4736" || server.parent != "00f067aa0ba902b7" {
		t.Errorf("with a traceparent on the request the trace is %s (parent %s), want the caller's", server.traceID, server.parent)
	}
	// The request's log line leads to the trace.
	if line := grepLines(b.stderr.String(), "otel-nats-2"); !strings.Contains(line, `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("log line of a traced request lacks its trace_id:\n%s", line)
	}
}

func TestTraceEndToEndRabbitMQ(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	exchange, queue := apptest.RabbitNames(t, url)
	rec := startReceiver(t)
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL, c.Rabbitmq.Exchange, c.Rabbitmq.Queue = "rabbitmq", url, exchange, queue
	}, traced(rec, nil))
	if r := b.postTraced(t, "otel-rmq-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("no message on %s: %v", queue, err)
	}
	tp, _ := d.Headers["traceparent"].(string)
	server := checkTrace(t, rec, "otel-rmq-1", "rabbitmq", exchange, tp)
	if server.traceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %s, want the caller's", server.traceID)
	}
}

// SQS has no room for traceparent among its ten message attributes: the trace goes
// as the AWSTraceHeader system attribute. fauxqs accepts that attribute but does not
// hand it back on receive, so the test reads it from the request the bridge sent,
// through a recording proxy in front of fauxqs.
func TestTraceEndToEndSQS(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, false, nil)
	target, _ := url.Parse(srv.Endpoint())
	var mu sync.Mutex
	var sent []map[string]any
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if a := r.Header.Get("X-Amz-Target"); strings.HasSuffix(a, ".SendMessageBatch") || strings.HasSuffix(a, ".SendMessage") {
			var m map[string]any
			_ = json.Unmarshal(body, &m)
			mu.Lock()
			sent = append(sent, m)
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()

	rec := startReceiver(t)
	b := startBridge(t, func(c *config.Config) { c.Sink, c.Sqs.Endpoint, c.Sqs.QueueURL = "sqs", front.URL, queueURL }, traced(rec, nil))
	if r := b.postTraced(t, "otel-sqs-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	got := (&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, 1)
	if len(got) != 1 {
		t.Fatalf("%d messages on the queue", len(got))
	}
	if n := len(got[0].MessageAttributes); n > 10 {
		t.Errorf("%d message attributes: SQS allows 10", n)
	}
	if _, ok := got[0].MessageAttributes["traceparent"]; ok {
		t.Error("traceparent became an eleventh message attribute")
	}
	mu.Lock()
	if len(sent) != 1 {
		t.Fatalf("%d send calls recorded, want 1", len(sent))
	}
	entry := sent[0]
	if entries, ok := entry["Entries"].([]any); ok && len(entries) == 1 {
		entry = entries[0].(map[string]any)
	}
	mu.Unlock()
	sys, _ := entry["MessageSystemAttributes"].(map[string]any)
	header, _ := sys["AWSTraceHeader"].(map[string]any)
	xray, _ := header["StringValue"].(string)

	server, producers := rec.trace(t, "otel-sqs-1")
	checkTrace(t, rec, "otel-sqs-1", "aws_sqs", queueURL[strings.LastIndex(queueURL, "/")+1:], "")
	p := producers[0]
	want := "Root=1-" + p.traceID[:8] + "-" + p.traceID[8:] + ";Parent=" + p.spanID + ";Sampled=1"
	if xray != want {
		t.Errorf("AWSTraceHeader sent %q, want %q", xray, want)
	}
	if server.traceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id %s, want the caller's", server.traceID)
	}
}

// Shutdown flushes: spans still buffered when SIGTERM arrives reach the collector.
func TestTraceFlushedOnShutdown(t *testing.T) {
	t.Parallel()
	rec := startReceiver(t)
	b := startBridge(t, nil, traced(rec, map[string]string{
		"OTEL_BSP_SCHEDULE_DELAY": "600000", // ten minutes: only the flush sends them
	}))
	if r := b.post(t, sample, "otel-flush-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if err := b.stop(t); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	rec.trace(t, "otel-flush-1")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A collector that accepts connections and never answers cannot hold the exit past
// BRIDGE_SHUTDOWN_TIMEOUT (+1 s): the flush shares the shutdown bound.
func TestTraceFlushKeepsTheShutdownBound(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	rec := startReceiver(t) // only for traced's other settings; the endpoint is replaced
	b := startBridge(t, func(c *config.Config) { c.ShutdownTimeout = time.Second }, traced(rec, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + ln.Addr().String(),
		"OTEL_BSP_SCHEDULE_DELAY":     "600000",
	}))
	if r := b.post(t, sample, "otel-stall-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	start := time.Now()
	_ = b.stop(t)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("exit took %s with a stalled collector, want at most the 1s shutdown timeout + 1s", took)
	}
}
