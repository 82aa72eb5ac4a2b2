package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Request headers of SPEC §2.
const (
	SignatureHeader = "X-AudioSpliter-Signature"
	DeliveryHeader  = "X-AudioSpliter-Delivery"
)

const maxDeliveryIDLen = 128

// maxLoggedEvent bounds the event in a log line: the payload decides its length.
const maxLoggedEvent = 128

// Retry-After values, in seconds: a full bridge clears quickly; a broker that did not
// confirm in time deserves a little longer.
var (
	retryAfterBusy   = []string{"1"}
	retryAfterBroker = []string{"5"}
)

// answer is what one webhook request gets back. Requests that join an in-flight
// publish of the same delivery id receive the leader's answer unchanged.
type answer struct {
	status     int
	body       []byte
	retryAfter []string
	attempts   int
	err        error // for the log only; never sent
}

func reject(status int, msg string) answer { return answer{status: status, body: errorBody(msg)} }

func errorBody(msg string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return b
}

// request is what the checks learned, for the log line.
type request struct {
	deliveryID, event string
}

// serveWebhook runs the checks of SPEC §2 in order, then publishes, then answers and
// writes one log line. The body is never logged, nor the signature or any secret.
func (b *Bridge) serveWebhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r, span := b.tracing.startServer(r)
	var req request
	a := b.handle(w, r, &req)

	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	if a.status == http.StatusMethodNotAllowed {
		h.Set("Allow", http.MethodPost)
	}
	if a.retryAfter != nil {
		h["Retry-After"] = a.retryAfter
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	b.tracing.endServer(span, &req, a)

	b.metrics.request(a.status)
	level := slog.LevelInfo
	if a.status >= 500 {
		level = slog.LevelWarn
	}
	if !b.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.Int("status", a.status),
		slog.String("duration", time.Since(start).String()),
	}
	if req.deliveryID != "" {
		attrs = append(attrs, slog.String("delivery_id", req.deliveryID))
	}
	if req.event != "" {
		event := req.event
		if len(event) > maxLoggedEvent {
			event = event[:maxLoggedEvent] + "…"
		}
		attrs = append(attrs, slog.String("event", event))
	}
	if a.attempts > 0 {
		attrs = append(attrs, slog.Int("attempts", a.attempts))
	}
	if a.err != nil {
		attrs = append(attrs, slog.String("err", a.err.Error()))
	}
	b.log.LogAttrs(r.Context(), level, "webhook", attrs...)
}

func (b *Bridge) handle(w http.ResponseWriter, r *http.Request, req *request) answer {
	if r.Method != http.MethodPost {
		return reject(http.StatusMethodNotAllowed, "method not allowed: use POST")
	}
	body, a, ok := b.readBody(w, r)
	if !ok {
		return a
	}

	sig := r.Header.Get(SignatureHeader)
	if b.verifier.Verify(body, sig) != nil {
		return answer{status: http.StatusUnauthorized, body: bodyInvalidSignature}
	}

	id := r.Header.Get(DeliveryHeader)
	if id == "" {
		return reject(http.StatusBadRequest, "missing "+DeliveryHeader+" header")
	}
	if !validDeliveryID(id) {
		return reject(http.StatusBadRequest, DeliveryHeader+" must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	req.deliveryID = id

	event, jobID, msg := parseEnvelope(body)
	if msg != "" {
		return reject(http.StatusBadRequest, msg)
	}
	req.event = event

	if n := b.inFlight.Add(1); n > int64(b.cfg.MaxInFlight) {
		b.inFlight.Add(-1)
		a := reject(http.StatusServiceUnavailable, "too many webhooks in flight; retry later")
		a.retryAfter = retryAfterBusy
		return a
	}
	defer b.inFlight.Add(-1)

	seen, f, leader := b.dedup.begin(id)
	switch {
	case seen:
		b.metrics.duplicates.Inc()
		return answer{status: http.StatusOK, body: receivedBody(id, true)}
	case !leader:
		b.metrics.duplicates.Inc()
		select {
		case <-f.done:
			return f.answer
		case <-r.Context().Done():
			return reject(http.StatusServiceUnavailable, "client went away")
		}
	}

	msgOut := b.message(id, event, jobID, sig, body, time.Now())
	a = b.publish(r.Context(), msgOut)
	b.dedup.finish(id, f, a, a.status == http.StatusOK)
	return a
}

var bodyInvalidSignature = errorBody("invalid signature")

// readBody enforces BRIDGE_MAX_BODY_BYTES before anything else reads the body.
func (b *Bridge) readBody(w http.ResponseWriter, r *http.Request) ([]byte, answer, bool) {
	max := b.cfg.MaxBodyBytes
	if r.ContentLength > max {
		return nil, reject(http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(max, 10)+" bytes"), false
	}
	size := r.ContentLength
	if size < 0 {
		size = 4096
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, reject(http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(max, 10)+" bytes"), false
	case err != nil:
		return nil, reject(http.StatusBadRequest, "could not read the request body"), false
	}
	return buf.Bytes(), answer{}, true
}

func validDeliveryID(id string) bool {
	if len(id) == 0 || len(id) > maxDeliveryIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// hasControl reports ASCII control characters, which no header of any broker may
// carry safely (NATS headers are text lines).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// message builds the broker message of SPEC §3.
func (b *Bridge) message(id, event, jobID, sig string, body []byte, received time.Time) sinks.Message {
	headers := make([]sinks.Header, 0, 10)
	headers = append(headers,
		sinks.Header{Name: sinks.HeaderSpecVersion, Value: "1.0"},
		sinks.Header{Name: sinks.HeaderID, Value: id},
		sinks.Header{Name: sinks.HeaderType, Value: b.cfg.CETypePrefix + event},
		sinks.Header{Name: sinks.HeaderSource, Value: b.cfg.CESource},
		sinks.Header{Name: sinks.HeaderTime, Value: received.UTC().Format(time.RFC3339Nano)},
		sinks.Header{Name: sinks.HeaderContentType, Value: "application/json"},
		sinks.Header{Name: sinks.HeaderDelivery, Value: id},
		sinks.Header{Name: sinks.HeaderEvent, Value: event},
		sinks.Header{Name: sinks.HeaderSignature, Value: sig},
	)
	if jobID != "" {
		headers = append(headers, sinks.Header{Name: sinks.HeaderJobID, Value: jobID})
	}
	return sinks.Message{ID: id, Event: event, JobID: jobID, Body: body, Headers: headers, Received: received}
}

// publish runs the sink with retries inside BRIDGE_PUBLISH_TIMEOUT. The request's
// cancellation is not passed on: a client that hangs up must not abandon a publish
// whose outcome other requests for the same id are waiting for, and a graceful
// shutdown lets it finish.
func (b *Bridge) publish(ctx context.Context, msg sinks.Message) answer {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.PublishTimeout)
	defer cancel()

	b.metrics.inFlight.Inc()
	start := time.Now()
	attempts, err := publishWithRetry(ctx, func(ctx context.Context, attempt int) error {
		return b.tracing.publish(ctx, b.cfg.Sink, msg, attempt)
	}, b.metrics.retries.Inc)
	b.metrics.inFlight.Dec()

	if err == nil {
		b.metrics.observe(ctx, b.metrics.confirmed, time.Since(start))
		return answer{status: http.StatusOK, body: receivedBody(msg.ID, false), attempts: attempts}
	}
	b.metrics.observe(ctx, b.metrics.failed, time.Since(start))
	a := answer{attempts: attempts, err: err}
	switch {
	case errors.Is(err, sinks.ErrClosed):
		a.status, a.body, a.retryAfter = http.StatusServiceUnavailable, bodyShuttingDown, retryAfterBroker
	case errors.Is(err, sinks.ErrTooLarge):
		a.status, a.body = http.StatusRequestEntityTooLarge, bodySinkTooLarge
	case errors.Is(err, sinks.ErrInvalid):
		a.status, a.body = http.StatusBadRequest, bodySinkInvalid
	case errors.Is(err, sinks.ErrPermanent):
		a.status, a.body = http.StatusBadGateway, bodyRejected
	default:
		a.status, a.body, a.retryAfter = http.StatusServiceUnavailable, bodyNotConfirmed, retryAfterBroker
	}
	return a
}

var (
	bodyShuttingDown = errorBody("bridge is shutting down; retry later")
	bodySinkTooLarge = errorBody("body larger than the broker accepts")
	bodySinkInvalid  = errorBody(`"event" cannot be used as a routing key or subject on this broker`)
	bodyRejected     = errorBody("broker rejected the message")
	bodyNotConfirmed = errorBody("broker did not confirm the message in time; retry later")
)

// receivedBody is {"received":true,"deliveryId":"…"}; the id's alphabet needs no
// JSON escaping.
func receivedBody(id string, duplicate bool) []byte {
	out := make([]byte, 0, 64+len(id))
	out = append(out, `{"received":true,"deliveryId":"`...)
	out = append(out, id...)
	if duplicate {
		return append(out, `","duplicate":true}`...)
	}
	return append(out, `"}`...)
}
