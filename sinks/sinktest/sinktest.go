// Package sinktest is the conformance suite every sink passes, and an in-memory sink
// for tests of the bridge that need no broker.
//
// A sink package wires the suite in a few lines:
//
//	func TestConformance(t *testing.T) {
//		sinktest.Run(t, sinktest.Harness{Open: func(t *testing.T) sinktest.Env { … }})
//	}
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/schemas"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

var (
	schemaOnce sync.Once
	schemaSet  *schemas.Set
	schemaErr  error
)

func attributeSchema() error {
	schemaOnce.Do(func() { schemaSet, schemaErr = schemas.Compile() })
	return schemaErr
}

// Received is a message as a consumer reads it back from the broker.
type Received struct {
	ID      string            // the broker's message id
	Headers map[string]string // headers or attributes, by docs/contract.md name
	Body    []byte
	// Route is the routing key (RabbitMQ) or the subject after the prefix and its
	// dot (NATS) the message arrived with; empty for a broker without routing.
	Route string
}

// Env is one sink publishing to a destination of its own.
type Env struct {
	Sink sinks.Sink
	// Read returns every message on the destination, waiting until there are at
	// least atLeast of them or a few seconds have passed.
	Read func(t *testing.T, atLeast int) []Received
	// Restart stops the broker and starts it again with its data; nil when the
	// harness cannot.
	Restart func(t *testing.T)
}

// Harness adapts a sink to the suite.
type Harness struct {
	// Open returns a fresh Env. The suite closes the sink; Open registers any other
	// cleanup with t.Cleanup.
	Open func(t *testing.T) Env
	// Dedup is true when the broker itself drops a second message with the same id.
	Dedup bool
	// Routes is true when the broker routes by key (Received.Route is set): a
	// message's Route, else its event, is the key it arrives with.
	Routes bool
	// OpenUnroutable, when not nil, returns a sink whose messages the broker cannot
	// route anywhere; Publish must fail for them. Brokers without routing leave it
	// nil and the case is not run.
	OpenUnroutable func(t *testing.T) sinks.Sink
	// NoRestart, when not empty, says why this harness's Env has no Restart; the
	// restart case is then not run (and is a failure if Restart is missing without
	// a reason).
	NoRestart string
}

// NewMessage returns a message shaped as the bridge builds it, with id as the
// delivery id.
func NewMessage(id string) sinks.Message {
	body := []byte(fmt.Sprintf(`{"event":"job.completed","jobId":"job_%s","data":{"segments":[{"index":0,"downloadUrl":"https://cdn.audiospliter.example/%s/0.mp3","duration":12.5}]}}`, id, id))
	now := time.Now().UTC()
	return sinks.Message{
		ID: id, Event: "job.completed", JobID: "job_" + id, Body: body, Received: now,
		Headers: []sinks.Header{
			{Name: sinks.HeaderSpecVersion, Value: "1.0"},
			{Name: sinks.HeaderID, Value: id},
			{Name: sinks.HeaderType, Value: "com.audiospliter.job.completed"},
			{Name: sinks.HeaderSource, Value: "audiospliter"},
			{Name: sinks.HeaderTime, Value: now.Format(time.RFC3339Nano)},
			{Name: sinks.HeaderContentType, Value: "application/json"},
			{Name: sinks.HeaderDelivery, Value: id},
			{Name: sinks.HeaderEvent, Value: "job.completed"},
			{Name: sinks.HeaderSignature, Value: "sha256=54e9dc332635ed15fe9264714f2d8ad9a0a35cb7363ade3ea33e28071b55542b"},
			{Name: sinks.HeaderJobID, Value: "job_" + id},
		},
	}
}

// NewSenderMessage returns a message shaped as a bridge with a senders file builds
// it for sender's delivery id: the message id "<sender>:<delivery>", ce-id the
// delivery id as received, ce-source and audiospliter-sender the sender's name,
// and the route "<sender>.<event>". It has no jobId, so that it keeps all of its
// headers within SQS's ten message attributes.
func NewSenderMessage(sender, delivery string) sinks.Message {
	msg := NewMessage(delivery)
	msg.ID, msg.Sender, msg.JobID = sender+":"+delivery, sender, ""
	msg.Route = sender + "." + msg.Event
	headers := msg.Headers[:0]
	for _, h := range msg.Headers {
		switch h.Name {
		case sinks.HeaderJobID:
			continue
		case sinks.HeaderSource:
			h.Value = sender
		case sinks.HeaderType:
			h.Value = msg.Event
		}
		headers = append(headers, h)
	}
	msg.Headers = append(headers, sinks.Header{Name: sinks.HeaderSender, Value: sender})
	return msg
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Run("ReadyAfterOpen", func(t *testing.T) { testReady(t, h) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, h) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, h) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelled(t, h) })
	t.Run("PublishAfterClose", func(t *testing.T) { testAfterClose(t, h) })
	t.Run("DuplicateID", func(t *testing.T) { testDuplicate(t, h) })
	t.Run("TwoSendersOneDeliveryID", func(t *testing.T) { testTwoSenders(t, h) })
	if h.Routes {
		t.Run("Route", func(t *testing.T) { testRoute(t, h) })
	} else {
		t.Log("Route: not applicable, the broker has no routing key")
	}
	// Cases a broker cannot have are left out rather than skipped, so that under
	// CI, where a skip is a failure, the suite stays green for every sink.
	if h.OpenUnroutable != nil {
		t.Run("Unroutable", func(t *testing.T) { testUnroutable(t, h) })
	} else {
		t.Log("Unroutable: not applicable, the broker routes every message it accepts")
	}
	if h.NoRestart == "" {
		t.Run("BrokerRestart", func(t *testing.T) { testRestart(t, h) })
	} else {
		t.Logf("BrokerRestart: not run: %s", h.NoRestart)
	}
}

func open(t *testing.T, h Harness) Env {
	t.Helper()
	env := h.Open(t)
	t.Cleanup(func() { _ = env.Sink.Close() })
	return env
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func testReady(t *testing.T, h Harness) {
	env := open(t, h)
	if err := env.Sink.Ready(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatalf("Ready after open: %v", err)
	}
}

func testRoundTrip(t *testing.T, h Harness) {
	env := open(t, h)
	msg := NewMessage("roundtrip-1")
	if err := env.Sink.Publish(ctxFor(t, 10*time.Second), msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	got := env.Read(t, 1)
	if len(got) != 1 {
		t.Fatalf("read %d messages, want 1", len(got))
	}
	AssertCarries(t, got[0], msg)
}

// AssertCarries fails t unless got carries msg: the id as message id, the body byte
// for byte, and every header of msg with its value; and unless the headers as read
// back validate against schemas/message-attributes.schema.json, the published
// description of them.
func AssertCarries(t *testing.T, got Received, msg sinks.Message) {
	t.Helper()
	if err := attributeSchema(); err != nil {
		t.Fatal(err)
	}
	if err := schemaSet.ValidateHeaders(got.Headers); err != nil {
		t.Errorf("headers as read back do not match the published schema: %v", err)
	}
	if got.ID != msg.ID {
		t.Errorf("message id = %q, want %q", got.ID, msg.ID)
	}
	if string(got.Body) != string(msg.Body) {
		t.Errorf("body changed:\n got %q\nwant %q", got.Body, msg.Body)
	}
	for _, hd := range msg.Headers {
		if v, ok := got.Headers[hd.Name]; !ok || v != hd.Value {
			t.Errorf("header %s = %q (present %v), want %q", hd.Name, v, ok, hd.Value)
		}
	}
}

func testConcurrent(t *testing.T, h Harness) {
	env := open(t, h)
	const n = 100
	ctx := ctxFor(t, 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := env.Sink.Publish(ctx, NewMessage(fmt.Sprintf("conc-%03d", i))); err != nil {
				errs <- fmt.Errorf("publish %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := env.Read(t, n)
	seen := make(map[string]int)
	for _, m := range got {
		seen[m.ID]++
	}
	for i := range n {
		if id := fmt.Sprintf("conc-%03d", i); seen[id] != 1 {
			t.Errorf("%s read back %d times, want 1", id, seen[id])
		}
	}
}

func testCancelled(t *testing.T, h Harness) {
	env := open(t, h)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := env.Sink.Publish(ctx, NewMessage("cancelled-1"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context = %v, want an error wrapping context.Canceled", err)
	}
	if err := env.Sink.Publish(ctxFor(t, 10*time.Second), NewMessage("after-cancel-1")); err != nil {
		t.Fatalf("Publish after a cancelled one: %v", err)
	}
}

func testAfterClose(t *testing.T, h Harness) {
	env := open(t, h)
	if err := env.Sink.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := env.Sink.Publish(ctxFor(t, 5*time.Second), NewMessage("closed-1"))
	if !errors.Is(err, sinks.ErrClosed) || !errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("Publish after Close = %v, want ErrClosed (permanent)", err)
	}
	if err := env.Sink.Ready(ctxFor(t, 5*time.Second)); err == nil {
		t.Error("Ready after Close = nil, want an error")
	}
	if err := env.Sink.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func testDuplicate(t *testing.T, h Harness) {
	env := open(t, h)
	msg := NewMessage("dup-1")
	ctx := ctxFor(t, 10*time.Second)
	for i := range 2 {
		if err := env.Sink.Publish(ctx, msg); err != nil {
			t.Fatalf("Publish #%d of the same id: %v", i+1, err)
		}
	}
	got := env.Read(t, 1)
	if h.Dedup {
		// Give a wrongly kept second copy time to show: a wait for something that
		// must not happen, so no condition to wait for.
		time.Sleep(200 * time.Millisecond)
		got = env.Read(t, 1)
		if len(got) != 1 {
			t.Fatalf("read %d messages after publishing one id twice, want 1 (the broker deduplicates)", len(got))
		}
	}
	for _, m := range got {
		AssertCarries(t, m, msg)
	}
}

// Two senders' deliveries with the same delivery id are two messages; a retry of
// one of them (the same message id) is still one where the broker deduplicates.
func testTwoSenders(t *testing.T, h Harness) {
	env := open(t, h)
	ctx := ctxFor(t, 10*time.Second)
	a, b := NewSenderMessage("alpha", "same-1"), NewSenderMessage("beta", "same-1")
	for _, msg := range []sinks.Message{a, b, a} {
		if err := env.Sink.Publish(ctx, msg); err != nil {
			t.Fatalf("Publish %s: %v", msg.ID, err)
		}
	}
	got := env.Read(t, 2)
	if h.Dedup {
		// Give a wrongly kept copy of the retry time to show: a wait for
		// something that must not happen, so no condition to wait for.
		time.Sleep(200 * time.Millisecond)
		got = env.Read(t, 2)
	}
	ids := make(map[string]int)
	for _, m := range got {
		ids[m.ID]++
		switch m.ID {
		case a.ID:
			AssertCarries(t, m, a)
		case b.ID:
			AssertCarries(t, m, b)
		default:
			t.Errorf("read back message id %q, want %q or %q", m.ID, a.ID, b.ID)
		}
	}
	if ids[a.ID] < 1 || ids[b.ID] != 1 {
		t.Fatalf("read back %v, want both senders' messages", ids)
	}
	if h.Dedup && ids[a.ID] != 1 {
		t.Fatalf("read back %v: the retry of %s made a second copy on a broker that deduplicates", ids, a.ID)
	}
}

// A message with a Route arrives with it as its routing key or subject suffix;
// one without, with its event.
func testRoute(t *testing.T, h Harness) {
	env := open(t, h)
	ctx := ctxFor(t, 10*time.Second)
	routed := NewSenderMessage("alpha", "route-1")
	routed.Route = "alpha.billing.invoice-paid"
	plain := NewMessage("route-2")
	for _, msg := range []sinks.Message{routed, plain} {
		if err := env.Sink.Publish(ctx, msg); err != nil {
			t.Fatalf("Publish %s: %v", msg.ID, err)
		}
	}
	want := map[string]string{routed.ID: routed.Route, plain.ID: plain.Event}
	got := env.Read(t, 2)
	if len(got) != 2 {
		t.Fatalf("read %d messages, want 2", len(got))
	}
	for _, m := range got {
		if m.Route != want[m.ID] {
			t.Errorf("message %s arrived with route %q, want %q", m.ID, m.Route, want[m.ID])
		}
	}
}

func testUnroutable(t *testing.T, h Harness) {
	s := h.OpenUnroutable(t)
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Publish(ctxFor(t, 10*time.Second), NewMessage("unroutable-1")); err == nil {
		t.Fatal("Publish of an unroutable message = nil, want an error")
	}
}

func testRestart(t *testing.T, h Harness) {
	env := open(t, h)
	if env.Restart == nil {
		t.Fatal("the harness gives no Restart and no NoRestart reason")
	}
	before := NewMessage("restart-before")
	if err := env.Sink.Publish(ctxFor(t, 10*time.Second), before); err != nil {
		t.Fatalf("Publish before restart: %v", err)
	}
	env.Restart(t)
	// A sender's retries, 100 ms apart, as the bridge retries a publish: this
	// package imports nothing above sinks, so not testkit.Eventually.
	after := NewMessage("restart-after")
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := env.Sink.Publish(ctxFor(t, 2*time.Second), after)
		if err == nil {
			break
		}
		if errors.Is(err, sinks.ErrPermanent) || time.Now().After(deadline) {
			t.Fatalf("Publish after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // the sender's retry pace
	}
	if err := env.Sink.Ready(ctxFor(t, 5*time.Second)); err != nil {
		t.Errorf("Ready after the broker came back: %v", err)
	}
	ids := make(map[string]bool)
	for _, m := range env.Read(t, 2) {
		ids[m.ID] = true
	}
	if !ids[before.ID] || !ids[after.ID] {
		t.Fatalf("after restart the broker holds %v, want both %s and %s", ids, before.ID, after.ID)
	}
}
