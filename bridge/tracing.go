package bridge

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// tracerName is the instrumentation scope of the bridge's spans.
const tracerName = "github.com/audiospliter/audiospliter-bridge/bridge"

// AttemptKey numbers the publish attempts of one webhook, from 1: a retry is a second
// producer span with attempt 2.
const AttemptKey = attribute.Key("audiospliter.publish.attempt")

// tracing makes one server span per webhook and one producer span per publish
// attempt, and puts the attempt's trace context into the message. A nil *tracing
// is tracing off: every method returns at once, so an untraced bridge pays one nil
// check per request.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	xray   xray.Propagator
}

func newTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) *tracing {
	if tp == nil {
		return nil
	}
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return &tracing{tracer: tp.Tracer(tracerName), prop: prop}
}

// startServer starts the server span of r, received on route (the webhook path, or
// the sender's), dated from start, and returns the
// context that carries it. Only a request whose signature was verified (trusted)
// continues the caller's trace (traceparent, tracestate and whatever else the
// propagator reads); any other starts a trace of the bridge's own, so that an
// anonymous client can neither pick the trace id a span is recorded under nor
// make a parent-based sampler record it. With tracing off it returns r's context.
func (t *tracing) startServer(r *http.Request, start time.Time, trusted bool, route string) (context.Context, trace.Span) {
	if t == nil {
		return r.Context(), nil
	}
	ctx := r.Context()
	opts := make([]trace.SpanStartOption, 0, 4)
	if trusted {
		ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	} else {
		opts = append(opts, trace.WithNewRoot())
	}
	method, name := semconv.HTTPRequestMethodPost, http.MethodPost+" "+route
	if r.Method != http.MethodPost {
		// Any other method is answered 405; its name stays out of the span name so
		// that names stay few.
		method, name = semconv.HTTPRequestMethodOther, "HTTP "+route
	}
	attrs := make([]attribute.KeyValue, 0, 8)
	attrs = append(attrs,
		method,
		semconv.HTTPRoute(route),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme(r)),
		semconv.NetworkProtocolVersion(protoVersion(r)),
	)
	if r.Method != http.MethodPost {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(r.Method))
	}
	if ua := r.UserAgent(); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	if r.ContentLength >= 0 {
		attrs = append(attrs, semconv.HTTPRequestBodySize(int(r.ContentLength)))
	}
	opts = append(opts, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return t.tracer.Start(ctx, name, opts...)
}

func protoVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 1 && r.ProtoMinor == 1:
		return "1.1"
	case r.ProtoMajor == 2:
		return "2"
	}
	return strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// endServer records the answer on the server span and ends it. Per the HTTP
// conventions only a 5xx makes a server span an error: a 4xx is the caller's fault.
func (t *tracing) endServer(span trace.Span, req *request, a answer) {
	if span == nil {
		return
	}
	attrs := make([]attribute.KeyValue, 1, 4)
	attrs[0] = semconv.HTTPResponseStatusCode(a.status)
	if req.deliveryID != "" {
		attrs = append(attrs, semconv.MessagingMessageID(req.deliveryID))
	}
	if a.attempts > 0 {
		attrs = append(attrs, AttemptKey.Int(a.attempts))
	}
	if a.status >= 500 {
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(a.status)))
	}
	span.SetAttributes(attrs...)
	if a.status >= 500 {
		msg := http.StatusText(a.status)
		if a.err != nil {
			msg = a.err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}

// publish runs one publish attempt inside a producer span whose context travels with
// the message: traceparent/tracestate in its headers, and the X-Ray form for SQS.
func (t *tracing) publish(ctx context.Context, sink sinks.Sink, msg sinks.Message, attempt int) error {
	if t == nil {
		return sink.Publish(ctx, msg)
	}
	system, destination := "", ""
	if d, ok := sink.(sinks.Describer); ok {
		system, destination = d.Describe(msg)
	}
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("send"),
		semconv.MessagingMessageID(msg.ID),
		semconv.MessagingMessageBodySize(len(msg.Body)),
		AttemptKey.Int(attempt),
	)
	name := "send"
	if system != "" {
		attrs = append(attrs, semconv.MessagingSystemKey.String(system))
	}
	if destination != "" {
		attrs = append(attrs, semconv.MessagingDestinationName(destination))
		name += " " + destination
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	defer span.End()

	// A copy per attempt: each attempt's span is the parent its message names.
	headers := make([]sinks.Header, len(msg.Headers), len(msg.Headers)+2)
	copy(headers, msg.Headers)
	carrier := headerCarrier{&headers}
	t.prop.Inject(ctx, carrier)
	msg.Headers = headers
	if system == "aws_sqs" {
		// Only SQS needs the X-Ray form (its ten attributes are taken).
		var c xrayCarrier
		t.xray.Inject(ctx, &c)
		msg.AWSTraceHeader = c.value
	}

	err := sink.Publish(ctx, msg)
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

// errorType is a bounded name for a publish failure (error.type).
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, sinks.ErrClosed):
		return "closed"
	case errors.Is(err, sinks.ErrTooLarge):
		return "too_large"
	case errors.Is(err, sinks.ErrInvalid):
		return "invalid"
	case errors.Is(err, sinks.ErrPermanent):
		return "permanent"
	}
	return "retryable"
}

// headerCarrier lets a propagator write into sinks.Message.Headers, so sinks copy
// the trace context like any other header and never import OpenTelemetry.
type headerCarrier struct{ h *[]sinks.Header }

func (c headerCarrier) Get(key string) string {
	for _, h := range *c.h {
		if h.Name == key {
			return h.Value
		}
	}
	return ""
}

func (c headerCarrier) Set(key, value string) {
	for i, h := range *c.h {
		if h.Name == key {
			(*c.h)[i].Value = value
			return
		}
	}
	*c.h = append(*c.h, sinks.Header{Name: key, Value: value})
}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(*c.h))
	for i, h := range *c.h {
		keys[i] = h.Name
	}
	return keys
}

// xrayCarrier receives the one header the X-Ray propagator writes.
type xrayCarrier struct{ value string }

func (c *xrayCarrier) Get(string) string      { return c.value }
func (c *xrayCarrier) Set(_ string, v string) { c.value = v }
func (c *xrayCarrier) Keys() []string         { return nil }
