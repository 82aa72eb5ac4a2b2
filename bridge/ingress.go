package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Request headers of docs/contract.md.
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
	reason     string // why it was refused, for the log only: one of the reason* constants
	duplicate  bool   // answered from the dedup cache or by joining a publish of the same id
	err        error  // for the log only; never sent
}

func reject(status int, reason, msg string) answer {
	return answer{status: status, reason: reason, body: errorBody(msg)}
}

func errorBody(msg string) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return b
}

// request is what the checks learned, for the log line, and the server span once
// it has begun.
type request struct {
	deliveryID, event string
	sender            *sender // nil: the single sender
	start             time.Time
	// ctx carries the server span (when tracing) from its start: once the signature
	// is verified, or, for a request refused before that, when it is answered.
	ctx  context.Context
	span trace.Span
}

// serveWebhook runs the checks of docs/contract.md in order, then publishes, then answers and
// writes one log line. The body is never logged, nor the signature or any secret.
// snd is the sender whose path this is; nil for the single sender.
func (b *Bridge) serveWebhook(w http.ResponseWriter, r *http.Request, snd *sender) {
	req := request{start: time.Now(), sender: snd}
	a := b.handle(w, r, &req)
	if req.ctx == nil {
		// Refused before its signature was verified: its trace context is the
		// sender's choice, so its span starts a trace of the bridge's own.
		req.ctx, req.span = b.tracing.startServer(r, req.start, false, b.route(snd))
	}

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
	b.tracing.endServer(req.span, &req, a)

	b.seriesOf(snd).request(a.status, metricReason(a))
	level := slog.LevelInfo
	if a.status >= 500 {
		level = slog.LevelWarn
	}
	if !b.log.Enabled(req.ctx, level) {
		return
	}
	var buf [9]slog.Attr // on the stack: the handler copies what it keeps
	attrs := append(buf[:0],
		slog.Int("status", a.status),
		slog.String("duration", time.Since(req.start).String()),
	)
	if snd != nil {
		attrs = append(attrs, slog.String("sender", snd.Name))
	}
	if a.reason != "" {
		attrs = append(attrs, slog.String("reason", a.reason))
	}
	if a.duplicate {
		attrs = append(attrs, slog.Bool("duplicate", true))
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
		attrs = append(attrs, slog.String("err", oneLine(a.err.Error())))
	}
	b.log.LogAttrs(req.ctx, level, "webhook", attrs...)
}

// metricReason is the requests metric's reason of an answer: why it was refused,
// or how a 200 came about.
func metricReason(a answer) string {
	switch {
	case a.reason != "":
		return a.reason
	case a.status == http.StatusOK && a.duplicate:
		return reasonDuplicate
	case a.status == http.StatusOK:
		return reasonConfirmed
	}
	return "other" // not reached: every refusal has a reason
}

// oneLine keeps a broker's error on one log line: client libraries join causes with
// newlines, which log shippers split into separate, meaningless records.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

// route is the path a sender's deliveries arrive on, for traces.
func (b *Bridge) route(snd *sender) string {
	if snd != nil {
		return snd.Path
	}
	return b.cfg.WebhookPath
}

// seriesOf is the metrics of a sender's requests.
func (b *Bridge) seriesOf(snd *sender) *series {
	if snd != nil {
		return snd.series
	}
	return b.metrics.single
}

func (b *Bridge) handle(w http.ResponseWriter, r *http.Request, req *request) answer {
	if r.Method != http.MethodPost {
		return reject(http.StatusMethodNotAllowed, reasonMethod, "method not allowed: use POST")
	}
	rc := http.NewResponseController(w)
	rb, a, ok := b.readBody(w, rc, r)
	if !ok {
		return a
	}
	defer rb.release()
	// The answer is due within PublishTimeout of the body being read (docs/contract.md), however
	// long the upload took: the server's own write deadline ran from the headers.
	_ = rc.SetWriteDeadline(time.Now().Add(b.cfg.PublishTimeout + answerWriteTime))

	snd := req.sender
	if snd != nil {
		return b.handleSender(r, req, snd, rb)
	}
	sig := r.Header.Get(SignatureHeader)
	if b.verifier.verify(sig, rb.parts...) != nil {
		reason := reasonBadSignature
		if sig == "" {
			reason = reasonNoSignature
		}
		return answer{status: http.StatusUnauthorized, body: bodyInvalidSignature, reason: reason}
	}
	// Verified: the sender may now choose the trace this request continues.
	req.ctx, req.span = b.tracing.startServer(r, req.start, true, b.cfg.WebhookPath)

	id := r.Header.Get(DeliveryHeader)
	if id == "" {
		return reject(http.StatusBadRequest, reasonNoDelivery, "missing "+DeliveryHeader+" header")
	}
	if !validDeliveryID(id) {
		return reject(http.StatusBadRequest, reasonBadDelivery, DeliveryHeader+" must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	req.deliveryID = id

	// Authenticated: now the body earns one buffer of its exact size, and the
	// pooled chunks go back before the publish rather than after it.
	body := rb.bytes()
	rb.release()
	p, msg, reason := parseEnvelope(body, audiospliterEnvelope)
	if msg != "" {
		return reject(http.StatusBadRequest, reason, msg)
	}
	req.event = p.event
	return b.deliver(r, req, id, func(received time.Time) sinks.Message {
		return b.message(id, p.event, p.jobID, sig, body, received)
	})
}

// handleSender is handle's part after the body is read, for a sender of a senders
// file: the order of checks is the single sender's, with the sender's scheme. A
// delivery id in the body (Stripe's) can only be checked once the body is parsed,
// so its "missing delivery" answer comes after the checks of the body's JSON.
func (b *Bridge) handleSender(r *http.Request, req *request, snd *sender, rb *rawBody) answer {
	if err := snd.Scheme.Verify(r.Header, rb.parts, time.Now()); err != nil {
		// Why, for the log and the metric; the client hears "invalid signature".
		return answer{status: http.StatusUnauthorized, body: bodyInvalidSignature, reason: verify.Reason(err)}
	}
	req.ctx, req.span = b.tracing.startServer(r, req.start, true, snd.Path)

	var id string
	if h := snd.identity.Delivery.Header; h != "" {
		id = r.Header.Get(h)
		if id == "" {
			return answer{status: http.StatusBadRequest, reason: reasonNoDelivery, body: snd.missingDelivery}
		}
		if !validDeliveryID(id) {
			return answer{status: http.StatusBadRequest, reason: reasonBadDelivery, body: snd.badDelivery}
		}
		req.deliveryID = id
	}

	body := rb.bytes()
	rb.release()
	p, msg, reason := parseEnvelope(body, snd.env)
	if msg != "" {
		return reject(http.StatusBadRequest, reason, msg)
	}
	if snd.env.delivery != "" {
		id = p.delivery
		req.deliveryID = id
	}
	event := p.event
	if h := snd.identity.Event.Header; h != "" {
		event = r.Header.Get(h)
		switch {
		case event == "":
			return answer{status: http.StatusBadRequest, reason: reasonMissingEvent, body: snd.missingEvent}
		case hasControl(event) || !utf8.ValidString(event):
			// A body's event is UTF-8 with the body; a header's is any bytes, and it
			// becomes ce-type and the routing key or subject.
			return answer{status: http.StatusBadRequest, reason: reasonBadEvent, body: snd.badEvent}
		}
	}
	req.event = event
	sig := r.Header.Get(snd.identity.Signature)
	return b.deliver(r, req, snd.idPrefix+id, func(received time.Time) sinks.Message {
		return b.senderMessage(snd, id, event, p.jobID, sig, body, received)
	})
}

// deliver publishes the message build makes, once per message id (key) however
// many requests carry it at once, within the in-flight bound, and answers.
func (b *Bridge) deliver(r *http.Request, req *request, key string, build func(received time.Time) sinks.Message) answer {
	if n := b.inFlight.Add(1); n > int64(b.cfg.MaxInFlight) {
		b.inFlight.Add(-1)
		a := reject(http.StatusServiceUnavailable, reasonBusy, "too many webhooks in flight; retry later")
		a.retryAfter = retryAfterBusy
		return a
	}
	defer b.inFlight.Add(-1)

	ser := b.seriesOf(req.sender)
	seen, f, leader := b.dedup.begin(key)
	switch {
	case seen:
		ser.duplicates.Inc()
		return answer{status: http.StatusOK, body: receivedBody(req.deliveryID, true), duplicate: true}
	case !leader:
		ser.duplicates.Inc()
		select {
		case <-f.done:
			a := f.answer
			a.duplicate = true
			return a
		case <-r.Context().Done():
			a := reject(http.StatusServiceUnavailable, reasonClientGone, "client went away")
			a.duplicate = true
			return a
		}
	}

	// The flight ends whatever happens below, a panic included: requests for the
	// same id wait on it, and would otherwise wait until their clients gave up.
	a := answer{status: http.StatusInternalServerError, body: bodyInternal, reason: reasonPanic}
	defer func() { b.dedup.finish(key, f, a, a.status == http.StatusOK) }()
	a = b.publish(req.ctx, build(time.Now()), req.deliveryID, ser)
	return a
}

// answerWriteTime is what a response may take to write once the publish has ended:
// the answer is a few dozen bytes, so this only bounds a client that stops reading.
const answerWriteTime = 5 * time.Second

var (
	bodyInvalidSignature = errorBody("invalid signature")
	bodyInternal         = errorBody("internal error; retry later")
)

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

// senderMessage builds the broker message of a sender of a senders file: the
// message id is "<sender>:<delivery id>", ce-id the delivery id as received,
// ce-source and audiospliter-sender the sender's name, ce-type the event after
// the sender's type prefix (BRIDGE_CE_TYPE_PREFIX for scheme audiospliter only),
// and the route rendered from the sender's template.
func (b *Bridge) senderMessage(snd *sender, id, event, jobID, sig string, body []byte, received time.Time) sinks.Message {
	headers := make([]sinks.Header, 0, 11)
	headers = append(headers,
		sinks.Header{Name: sinks.HeaderSpecVersion, Value: "1.0"},
		sinks.Header{Name: sinks.HeaderID, Value: id},
		sinks.Header{Name: sinks.HeaderType, Value: snd.typePrefix + event},
		sinks.Header{Name: sinks.HeaderSource, Value: snd.Name},
		sinks.Header{Name: sinks.HeaderTime, Value: received.UTC().Format(time.RFC3339Nano)},
		sinks.Header{Name: sinks.HeaderContentType, Value: "application/json"},
		sinks.Header{Name: sinks.HeaderDelivery, Value: id},
		sinks.Header{Name: sinks.HeaderEvent, Value: event},
	)
	if !b.cfg.OmitSignature && sig != "" {
		headers = append(headers, sinks.Header{Name: sinks.HeaderSignature, Value: sig})
	}
	if jobID != "" {
		headers = append(headers, sinks.Header{Name: sinks.HeaderJobID, Value: jobID})
	}
	// Last: SQS leaves it out of a message that already has ten attributes.
	headers = append(headers, sinks.Header{Name: sinks.HeaderSender, Value: snd.Name})
	msg := sinks.Message{
		ID: snd.idPrefix + id, Event: event, JobID: jobID, Body: body, Headers: headers, Received: received,
		Sender: snd.Name,
	}
	if snd.Route != nil {
		msg.Route = snd.Route.Render(snd.Name, event)
	}
	return msg
}

// message builds the broker message of docs/contract.md.
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
	)
	if !b.cfg.OmitSignature {
		headers = append(headers, sinks.Header{Name: sinks.HeaderSignature, Value: sig})
	}
	if jobID != "" {
		headers = append(headers, sinks.Header{Name: sinks.HeaderJobID, Value: jobID})
	}
	return sinks.Message{ID: id, Event: event, JobID: jobID, Body: body, Headers: headers, Received: received}
}

// publish runs the sink with retries inside BRIDGE_PUBLISH_TIMEOUT. The request's
// cancellation is not passed on: a client that hangs up must not abandon a publish
// whose outcome other requests for the same id are waiting for, and a graceful
// shutdown lets it finish.
//
// deliveryID is the delivery id as received (the answer's), ser the sender's
// metrics.
func (b *Bridge) publish(ctx context.Context, msg sinks.Message, deliveryID string, ser *series) answer {
	// Detached from the request, but not from StopPublishes; the request's values
	// (its span) ride along.
	ctx, cancel := context.WithTimeout(stoppable{b.stop, ctx}, b.cfg.PublishTimeout)
	defer cancel()

	b.metrics.inFlight.Inc()
	start := time.Now()
	attempts, err := publishWithRetry(ctx, func(ctx context.Context, attempt int) error {
		return b.publishOnce(ctx, msg, attempt)
	}, ser.retries.Inc)
	b.metrics.inFlight.Dec()

	if err == nil {
		b.metrics.observe(ctx, ser.confirmed, time.Since(start))
		return answer{status: http.StatusOK, body: receivedBody(deliveryID, false), attempts: attempts}
	}
	b.metrics.observe(ctx, ser.failed, time.Since(start))
	a := answer{attempts: attempts, err: err}
	switch {
	case errors.Is(err, sinks.ErrUnroutable) && msg.Sender != "":
		// A sender's own exchange with no queue bound (the contract's senders
		// section): 503, so that the sender retries until an operator binds one.
		// Without senders file an unroutable message stays a 502 below, as it was.
		a.status, a.body, a.retryAfter, a.reason = http.StatusServiceUnavailable, bodyUnroutable, retryAfterBroker, reasonUnroutable
	case errors.Is(err, errPanic):
		a.status, a.body, a.reason = http.StatusInternalServerError, bodyInternal, reasonPanic
	case errors.Is(err, sinks.ErrClosed), errors.Is(context.Cause(ctx), errStopped):
		a.status, a.body, a.retryAfter, a.reason = http.StatusServiceUnavailable, bodyShuttingDown, retryAfterBroker, reasonShuttingDown
		if errors.Is(context.Cause(ctx), errStopped) && !errors.Is(err, errStopped) {
			a.err = fmt.Errorf("%w; the last attempt: %w", errStopped, err)
		}
	case errors.Is(err, sinks.ErrTooLarge):
		a.status, a.body, a.reason = http.StatusRequestEntityTooLarge, bodySinkTooLarge, reasonSinkTooLarge
	case errors.Is(err, sinks.ErrInvalidRoute):
		a.status, a.body, a.reason = http.StatusBadRequest, bodyInvalidRoute, reasonSinkInvalid
	case errors.Is(err, sinks.ErrInvalidContent):
		a.status, a.body, a.reason = http.StatusBadRequest, bodyInvalidContent, reasonSinkInvalid
	case errors.Is(err, sinks.ErrInvalid):
		a.status, a.body, a.reason = http.StatusBadRequest, bodySinkInvalid, reasonSinkInvalid
	case errors.Is(err, sinks.ErrRefused):
		a.status, a.body, a.reason = http.StatusBadGateway, bodyRefused, reasonBrokerRefused
	case errors.Is(err, sinks.ErrPermanent):
		a.status, a.body, a.reason = http.StatusBadGateway, bodyRejected, reasonBrokerRejected
	case errors.Is(err, sinks.ErrUnavailable):
		a.status, a.body, a.retryAfter, a.reason = http.StatusServiceUnavailable, bodyUnavailable, retryAfterBroker, reasonUnavailable
	case errors.Is(err, sinks.ErrBackedUp):
		a.status, a.body, a.retryAfter, a.reason = http.StatusServiceUnavailable, bodyNotConfirmed, retryAfterBroker, reasonBackedUp
	default:
		a.status, a.body, a.retryAfter, a.reason = http.StatusServiceUnavailable, bodyNotConfirmed, retryAfterBroker, reasonNotConfirmed
	}
	return a
}

// errStopped is the cause of the publishes StopPublishes ended.
var errStopped = errors.New("bridge: shutting down: BRIDGE_SHUTDOWN_TIMEOUT ended before the broker confirmed")

// StopPublishes ends every publish still waiting for the broker: each is answered
// 503 shutting_down with Retry-After (its outcome is unknown, and the sender's
// retry is deduplicated like any other), and logged one line each as every request
// is. Publishes that begin later end at once the same way. The process calls it
// when its shutdown time is up, so that no sender meets a closed connection.
func (b *Bridge) StopPublishes() { b.stopPublishes(errStopped) }

// stoppable is a publish's parent context: done when the bridge stops publishes,
// with the values of the request (its span, for tracing). Its Value answers the
// stop context's own keys first, so that the context package sees a cancelCtx
// parent and registers children with it rather than start a goroutine for each.
type stoppable struct {
	context.Context // the bridge's stop context
	values          context.Context
}

func (s stoppable) Value(key any) any {
	if v := s.Context.Value(key); v != nil {
		return v
	}
	return s.values.Value(key)
}

// errPanic marks a publish attempt that panicked. It is permanent: the same message
// would most likely panic again, and the sender's retry is a fresh chance anyway.
var errPanic = errors.New("bridge: publish panicked")

// publishOnce is one attempt. A panic in the sink is a bug, but it must not take the
// in-flight gauge and the delivery id's flight with it: it becomes an error (with
// the stack in the log, never the message) and the request gets 500.
func (b *Bridge) publishOnce(ctx context.Context, msg sinks.Message, attempt int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			// A runtime error's text is fixed by the runtime; any other panic value
			// might quote the message, so only its type is told.
			what := fmt.Sprintf("%T", p)
			if re, ok := p.(runtime.Error); ok {
				what = re.Error()
			}
			b.log.Error("publish panicked", "delivery_id", msg.ID, "panic", what, "stack", string(debug.Stack()))
			err = sinks.Permanent(fmt.Errorf("%w: %s", errPanic, what))
		}
	}()
	return b.tracing.publish(ctx, b.cfg.Sink, msg, attempt)
}

var (
	bodyShuttingDown   = errorBody("bridge is shutting down; retry later")
	bodySinkTooLarge   = errorBody("body larger than the broker accepts")
	bodySinkInvalid    = errorBody("the broker cannot carry this message as it is: a header, such as its jobId, is over the broker's limits")
	bodyInvalidRoute   = errorBody("the broker cannot carry this message: its event cannot be a routing key or subject there (too long, or characters it does not allow)")
	bodyInvalidContent = errorBody("the broker cannot carry this message: its body or a header has characters the broker does not store")
	bodyRefused        = errorBody("the broker refused the message (a permission or a destination is missing; the bridge's operator must act); retry later")
	bodyRejected       = errorBody("broker rejected the message")
	bodyUnavailable    = errorBody("the broker is not reachable; retry later")
	bodyNotConfirmed   = errorBody("broker did not confirm the message in time; retry later")
	bodyUnroutable     = errorBody("the broker routed the message to no queue (none is bound for this sender's messages yet); retry later")
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
