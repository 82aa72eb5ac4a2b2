package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

const secret = "whsec-test-0123456789abcdef"

var sample = func() []byte {
	b, err := os.ReadFile("testdata/job.completed.json")
	if err != nil {
		panic(err)
	}
	return bytes.TrimSpace(b)
}()

// harness is a bridge served over real HTTP on loopback, in front of an in-memory
// sink whose faults the test controls.
type harness struct {
	bridge *bridge.Bridge
	srv    *httptest.Server
	sink   *sinktest.Memory
	logs   *testkit.LockedBuffer
}

func newHarness(t *testing.T, edit func(*bridge.Config)) *harness {
	t.Helper()
	return newHarnessServing(t, edit, nil)
}

// newHarnessServing is newHarness with the test server's listener and hooks set
// by serve before it starts.
func newHarnessServing(t *testing.T, edit func(*bridge.Config), serve func(*httptest.Server)) *harness {
	t.Helper()
	h := &harness{sink: sinktest.NewMemory(), logs: &testkit.LockedBuffer{}}
	cfg := bridge.Config{
		Secrets:        []string{secret},
		MaxBodyBytes:   4096,
		PublishTimeout: 2 * time.Second,
		MaxInFlight:    16,
		DedupTTL:       time.Minute,
		CETypePrefix:   bridge.DefaultCETypePrefix,
		Sink:           h.sink,
		Logger:         slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	b, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.bridge = b
	h.srv = httptest.NewUnstartedServer(b)
	if serve != nil {
		serve(h.srv)
	}
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// post sends a webhook; sig "" means no signature header, "sign" means a valid one.
func (h *harness) post(t *testing.T, body []byte, sig, delivery string) reply {
	t.Helper()
	if sig == "sign" {
		sig = bridge.Sign(secret, body)
	}
	hdr := http.Header{}
	if sig != "" {
		hdr.Set(bridge.SignatureHeader, sig)
	}
	if delivery != "" {
		hdr.Set(bridge.DeliveryHeader, delivery)
	}
	return h.do(t, http.MethodPost, "/webhooks", body, hdr)
}

func (h *harness) do(t *testing.T, method, path string, body []byte, hdr http.Header) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (r reply) wantError(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d (%s), want %d", r.status, r.raw, status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if msg, _ := r.body["error"].(string); msg == "" {
		t.Errorf("body %s has no error", r.raw)
	}
}

func (r reply) wantReceived(t *testing.T, id string, duplicate bool) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status = %d (%s), want 200", r.status, r.raw)
	}
	want := fmt.Sprintf(`{"received":true,"deliveryId":%q}`, id)
	if duplicate {
		want = fmt.Sprintf(`{"received":true,"deliveryId":%q,"duplicate":true}`, id)
	}
	if r.raw != want {
		t.Errorf("body = %s, want %s", r.raw, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// One case per rejecting row of docs/contract.md; none of them may reach the sink.
func TestRejectedRequestsPublishNothing(t *testing.T) {
	t.Parallel()
	other := "another-secret-0000000"
	cases := []struct {
		name   string
		method string
		body   []byte
		sig    string
		id     string
		hdr    http.Header
		status int
		reason string // the log line's reason
		check  func(t *testing.T, r reply)
	}{
		{name: "GET", method: http.MethodGet, body: nil, sig: "sign", id: "d1", status: 405, reason: "method",
			check: func(t *testing.T, r reply) {
				if r.header.Get("Allow") != "POST" {
					t.Errorf("Allow = %q, want POST", r.header.Get("Allow"))
				}
			}},
		{name: "PUT", method: http.MethodPut, body: sample, sig: "sign", id: "d1", status: 405, reason: "method"},
		{name: "body over the limit", body: bytes.Repeat([]byte("a"), 4097), sig: "sign", id: "d1", status: 413, reason: "too_large"},
		{name: "no signature", body: sample, sig: "", id: "d1", status: 401, reason: "missing_signature"},
		{name: "wrong signature", body: sample, sig: bridge.Sign(other, sample), id: "d1", status: 401, reason: "bad_signature"},
		{name: "signature of another body", body: sample, sig: bridge.Sign(secret, []byte(`{"event":"x"}`)), id: "d1", status: 401, reason: "bad_signature"},
		{name: "signature not hex", body: sample, sig: "zz", id: "d1", status: 401, reason: "bad_signature"},
		{name: "bad signature and no delivery", body: sample, sig: "00", id: "", status: 401, reason: "bad_signature"},
		{name: "no delivery id", body: sample, sig: "sign", id: "", status: 400, reason: "missing_delivery"},
		{name: "delivery id with a slash", body: sample, sig: "sign", id: "a/b", status: 400, reason: "bad_delivery"},
		{name: "delivery id with a space", body: sample, sig: "sign", id: "a b", status: 400, reason: "bad_delivery"},
		{name: "delivery id of 129 characters", body: sample, sig: "sign", id: strings.Repeat("x", 129), status: 400, reason: "bad_delivery"},
		{name: "body is an array", body: []byte(`[{"event":"job.completed"}]`), sig: "sign", id: "d1", status: 400, reason: "not_object"},
		{name: "body is null", body: []byte(`null`), sig: "sign", id: "d1", status: 400, reason: "not_object"},
		{name: "body is a string", body: []byte(`"job.completed"`), sig: "sign", id: "d1", status: 400, reason: "not_object"},
		{name: "body is broken JSON", body: []byte(`{"event":"job.completed"`), sig: "sign", id: "d1", status: 400, reason: "invalid_json"},
		{name: "body has trailing garbage", body: []byte(`{"event":"job.completed"} x`), sig: "sign", id: "d1", status: 400, reason: "invalid_json"},
		{name: "empty body", body: []byte{}, sig: "sign", id: "d1", status: 400, reason: "invalid_json"},
		// json.Valid accepts these; a broker client may rewrite them (the SQS SDK
		// turns them into U+FFFD), so the broker would hold a body other than the
		// signed one.
		{name: "body with an invalid UTF-8 byte", body: []byte("{\"event\":\"job.completed\",\"name\":\"caf\xe9\"}"), sig: "sign", id: "d1", status: 400, reason: "not_utf8"},
		{name: "body with a UTF-8 encoded surrogate", body: []byte("{\"event\":\"job.completed\",\"name\":\"\xed\xa0\x80\"}"), sig: "sign", id: "d1", status: 400, reason: "not_utf8"},
		{name: "event truncated mid-character", body: []byte("{\"event\":\"job.\xc3\"}"), sig: "sign", id: "d1", status: 400, reason: "not_utf8"},
		{name: "no event", body: []byte(`{"jobId":"j1"}`), sig: "sign", id: "d1", status: 400, reason: "missing_event"},
		{name: "event null", body: []byte(`{"event":null}`), sig: "sign", id: "d1", status: 400, reason: "missing_event"},
		{name: "event empty", body: []byte(`{"event":""}`), sig: "sign", id: "d1", status: 400, reason: "missing_event"},
		{name: "event a number", body: []byte(`{"event":42}`), sig: "sign", id: "d1", status: 400, reason: "bad_event"},
		{name: "event an object", body: []byte(`{"event":{"type":"x"}}`), sig: "sign", id: "d1", status: 400, reason: "bad_event"},
		{name: "event with a newline", body: []byte(`{"event":"job\ncompleted"}`), sig: "sign", id: "d1", status: 400, reason: "bad_event"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, nil)
			sig := c.sig
			if sig == "sign" {
				sig = bridge.Sign(secret, c.body)
			}
			hdr := http.Header{}
			if sig != "" {
				hdr.Set(bridge.SignatureHeader, sig)
			}
			if c.id != "" {
				hdr.Set(bridge.DeliveryHeader, c.id)
			}
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			r := h.do(t, method, "/webhooks", c.body, hdr)
			r.wantError(t, c.status)
			if c.status == 401 && r.raw != `{"error":"invalid signature"}` {
				t.Errorf("401 body = %s: it must say nothing beyond invalid signature", r.raw)
			}
			if c.check != nil {
				c.check(t, r)
			}
			if n := h.sink.Calls(); n != 0 {
				t.Errorf("sink was called %d times for a rejected request", n)
			}
			line := h.webhookLine(t)
			if line["reason"] != c.reason {
				t.Errorf("log line reason = %v, want %q: %v", line["reason"], c.reason, line)
			}
		})
	}
}

// webhookLine returns the only "webhook" log line so far, decoded.
func (h *harness) webhookLine(t *testing.T) map[string]any {
	t.Helper()
	lines := h.webhookLines(t)
	if len(lines) != 1 {
		t.Fatalf("%d webhook log lines, want 1:\n%s", len(lines), h.logs.String())
	}
	return lines[0]
}

func (h *harness) webhookLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var m map[string]any
		if l == "" {
			continue
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == "webhook" {
			out = append(out, m)
		}
	}
	return out
}

func TestChunkedBodyOverTheLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	body := bytes.Repeat([]byte("a"), 5000)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.srv.URL+"/webhooks", io.MultiReader(bytes.NewReader(body)))
	req.ContentLength = -1 // chunked: the limit must hold without a Content-Length
	req.Header.Set(bridge.SignatureHeader, bridge.Sign(secret, body))
	req.Header.Set(bridge.DeliveryHeader, "d1")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("status = %d, want 413", resp.StatusCode)
	}
	if h.sink.Calls() != 0 {
		t.Fatal("an oversized body reached the sink")
	}
}

func TestConfirmedDeliveryCarriesTheContract(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *bridge.Config) { c.CESource = "test-source" })
	before := time.Now()
	h.post(t, sample, "sha256="+bridge.Sign(secret, sample), "dlv_001:a.b-c").wantReceived(t, "dlv_001:a.b-c", false)

	msgs := h.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sink holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.ID != "dlv_001:a.b-c" || m.Event != "job.completed" || m.JobID != "job_8f3a2c1e" {
		t.Errorf("message id/event/job = %q %q %q", m.ID, m.Event, m.JobID)
	}
	if !bytes.Equal(m.Body, sample) {
		t.Error("body changed on its way to the sink")
	}
	got := map[string]string{}
	for _, hd := range m.Headers {
		got[hd.Name] = hd.Value
	}
	ceTime, err := time.Parse(time.RFC3339Nano, got["ce-time"])
	if err != nil || ceTime.Before(before.Add(-time.Second)) || ceTime.After(time.Now()) {
		t.Errorf("ce-time = %q (%v), want the RFC 3339 time of receipt", got["ce-time"], err)
	}
	delete(got, "ce-time")
	want := map[string]string{
		"ce-specversion":         "1.0",
		"ce-id":                  "dlv_001:a.b-c",
		"ce-type":                "com.audiospliter.job.completed",
		"ce-source":              "test-source",
		"content-type":           "application/json",
		"audiospliter-delivery":  "dlv_001:a.b-c",
		"audiospliter-event":     "job.completed",
		"audiospliter-signature": "sha256=" + bridge.Sign(secret, sample),
		"audiospliter-job-id":    "job_8f3a2c1e",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("header %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("headers = %v, want exactly %v plus ce-time", got, want)
	}
}

// BRIDGE_FORWARD_SIGNATURE=false: the message carries every header but the
// signature, so whoever reads the queue holds no body and signature pair to send
// again as a new delivery.
func TestSignatureLeftOutOnRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *bridge.Config) { c.OmitSignature = true })
	h.post(t, sample, "sign", "no-sig-1").wantReceived(t, "no-sig-1", false)
	m := h.sink.Messages()[0]
	for _, hd := range m.Headers {
		if hd.Name == sinks.HeaderSignature || strings.Contains(hd.Value, bridge.Sign(secret, sample)) {
			t.Errorf("header %s = %q: the signature went with the message", hd.Name, hd.Value)
		}
	}
	if len(m.Headers) != 9 {
		t.Errorf("%d headers, want the other 9: %v", len(m.Headers), m.Headers)
	}
}

func TestJobIDHeaderOnlyForAStringJobID(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"event":"e"}`, `{"event":"e","jobId":7}`, `{"event":"e","jobId":null}`, `{"event":"e","jobId":"a\nb"}`} {
		h := newHarness(t, nil)
		h.post(t, []byte(body), "sign", "d1").wantReceived(t, "d1", false)
		for _, hd := range h.sink.Messages()[0].Headers {
			if hd.Name == sinks.HeaderJobID {
				t.Errorf("%s: has %s = %q", body, hd.Name, hd.Value)
			}
		}
	}
}

func TestUnknownEventsAreForwarded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.post(t, []byte(`{"event":"job.invented-tomorrow","x":1}`), "sign", "d1").wantReceived(t, "d1", false)
	if m := h.sink.Messages(); len(m) != 1 || m[0].Event != "job.invented-tomorrow" {
		t.Fatalf("messages = %v", m)
	}
}

func TestAnyConfiguredSecretVerifies(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *bridge.Config) { c.Secrets = []string{"old-secret-00000000", secret} })
	h.post(t, sample, bridge.Sign("old-secret-00000000", sample), "d-old").wantReceived(t, "d-old", false)
	h.post(t, sample, bridge.Sign(secret, sample), "d-new").wantReceived(t, "d-new", false)
	h.post(t, sample, bridge.Sign("retired-secret-0000", sample), "d-retired").wantError(t, 401)
}

func TestDuplicateAfterConfirmIsNotRepublished(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", false)
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", true)
	if n := h.sink.Calls(); n != 1 {
		t.Fatalf("sink called %d times, want 1", n)
	}
	lines := h.webhookLines(t)
	if len(lines) != 2 || lines[0]["duplicate"] != nil || lines[1]["duplicate"] != true {
		t.Errorf("log lines %v: want duplicate=true on the second only", lines)
	}
	for _, l := range lines {
		if l["reason"] != nil {
			t.Errorf("a 200 carries a reason: %v", l)
		}
	}
}

// A wrong path or method gets JSON like every other answer.
func TestWrongPathOrMethodAnswersJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodPost, "/webhook", 404, ""},
		{http.MethodGet, "/", 404, ""},
		{http.MethodGet, "/webhooks/x", 404, ""},
		{http.MethodGet, "/healthz/", 404, ""},
		{http.MethodPost, "/healthz", 405, "GET, HEAD"},
		{http.MethodDelete, "/readyz", 405, "GET, HEAD"},
		{http.MethodPost, "/metrics", 405, "GET, HEAD"},
	} {
		r := h.do(t, c.method, c.path, nil, nil)
		r.wantError(t, c.status)
		if c.status == 404 && r.raw != `{"error":"not found"}` {
			t.Errorf("%s %s: body %s", c.method, c.path, r.raw)
		}
		if r.header.Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow = %q, want %q", c.method, c.path, r.header.Get("Allow"), c.allow)
		}
	}
	if r := h.do(t, http.MethodHead, "/healthz", nil, nil); r.status != 200 {
		t.Errorf("HEAD /healthz = %d", r.status)
	}
	if h.sink.Calls() != 0 {
		t.Error("a wrong path reached the sink")
	}
}

// panicSink panics on its first publish and confirms the later ones. A real broker
// cannot panic on demand; a bug in a sink can.
type panicSink struct {
	*sinktest.Memory
	panicked atomic.Bool
	release  chan struct{} // the first publish waits for it, then panics
	entered  chan struct{}
}

func (p *panicSink) Publish(ctx context.Context, msg sinks.Message) error {
	if p.panicked.CompareAndSwap(false, true) {
		close(p.entered)
		<-p.release
		var m map[string]int
		m["x"]++ //nolint:staticcheck // SA5000: a nil-map write on purpose, a runtime panic as a sink bug would make
	}
	return p.Memory.Publish(ctx, msg)
}

// A panic during a publish ends its flight: the request and every request that
// joined it get an answer, and a later request for that id publishes again.
func TestPanicDuringPublishReleasesTheDeliveryID(t *testing.T) {
	t.Parallel()
	sink := &panicSink{Memory: sinktest.NewMemory(), release: make(chan struct{}), entered: make(chan struct{})}
	h := newHarness(t, func(c *bridge.Config) { c.Sink = sink })
	h.sink = sink.Memory
	first := make(chan reply, 1)
	go func() { first <- h.post(t, sample, "sign", "p1") }()
	<-sink.entered
	joined := make(chan reply, 1)
	go func() { joined <- h.post(t, sample, "sign", "p1") }()
	testkit.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(h.do(t, http.MethodGet, "/metrics", nil, nil).raw, "audiospliter_bridge_duplicates_total 1")
	}, "the second request did not join the first")
	close(sink.release)
	for _, c := range []chan reply{first, joined} {
		select {
		case r := <-c:
			r.wantError(t, 500)
		case <-time.After(5 * time.Second):
			t.Fatal("a request for the panicked delivery id got no answer")
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	done := make(chan reply, 1)
	go func() { done <- h.post(t, sample, "sign", "p1") }()
	select {
	case r := <-done:
		r.wantReceived(t, "p1", false)
	case <-ctx.Done():
		t.Fatal("the delivery id stayed in flight after the panic")
	}
	m := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
	if !strings.Contains(m, "audiospliter_bridge_publishes_in_flight 0") {
		t.Errorf("in-flight gauge after the panic:\n%s", grep(m, "in_flight"))
	}
	if !strings.Contains(h.logs.String(), `"reason":"internal_error"`) || !strings.Contains(h.logs.String(), "assignment to entry in nil map") {
		t.Errorf("the panic is not in the log:\n%s", h.logs.String())
	}
}

func TestDedupDisabledRepublishes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *bridge.Config) { c.DedupTTL = 0 })
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", false)
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", false)
	if n := h.sink.Calls(); n != 2 {
		t.Fatalf("sink called %d times, want 2 (the broker's dedup takes over)", n)
	}
}

// A failed publish is not remembered: the sender's retry publishes again.
func TestFailedPublishIsNotRemembered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *bridge.Config) { c.PublishTimeout = 200 * time.Millisecond })
	h.sink.FailWith(func(sinks.Message) error { return errors.New("broker away") })
	r := h.post(t, sample, "sign", "d1")
	r.wantError(t, 503)
	h.sink.FailWith(nil)
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", false)
	if len(h.sink.Messages()) != 1 {
		t.Fatal("the retry did not reach the sink")
	}
}

func TestConcurrentSameDeliveryPublishesOnce(t *testing.T) {
	t.Parallel()
	for _, outcome := range []struct {
		name   string
		err    error
		status int
	}{{"confirmed", nil, 200}, {"failed", sinks.Permanent(errors.New("rejected")), 502}} {
		t.Run(outcome.name, func(t *testing.T) {
			h := newHarness(t, nil)
			release := make(chan struct{})
			var entered atomic.Int32
			h.sink.FailWith(func(sinks.Message) error {
				entered.Add(1)
				<-release
				return outcome.err
			})
			const n = 8
			replies := make(chan reply, n)
			for range n {
				go func() { replies <- h.post(t, sample, "sign", "same-id") }()
			}
			// Let every request arrive and join the first one's flight: each joiner
			// counts as a duplicate before it waits.
			testkit.Eventually(t, 5*time.Second, func() bool {
				return entered.Load() == 1 &&
					strings.Contains(h.do(t, http.MethodGet, "/metrics", nil, nil).raw, fmt.Sprintf("audiospliter_bridge_duplicates_total %d", n-1))
			}, "the %d requests did not all join the one publish", n)
			close(release)
			for range n {
				r := <-replies
				if r.status != outcome.status {
					t.Errorf("status = %d (%s), want %d", r.status, r.raw, outcome.status)
				}
			}
			if calls := h.sink.Calls(); calls != 1 {
				t.Errorf("sink called %d times for one delivery id, want 1", calls)
			}
		})
	}
}

func TestTooManyInFlight(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *bridge.Config) { c.MaxInFlight = 2 })
	release := make(chan struct{})
	var entered atomic.Int32
	h.sink.FailWith(func(sinks.Message) error { entered.Add(1); <-release; return nil })
	done := make(chan reply, 2)
	for i := range 2 {
		go func() { done <- h.post(t, sample, "sign", fmt.Sprintf("held-%d", i)) }()
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return entered.Load() == 2 }, "two publishes did not enter the sink")
	r := h.post(t, sample, "sign", "third")
	r.wantError(t, 503)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	close(release)
	for range 2 {
		if r := <-done; r.status != 200 {
			t.Errorf("held request: %d", r.status)
		}
	}
	if h.sink.Calls() != 2 {
		t.Errorf("sink called %d times, want 2: the refused request must not publish", h.sink.Calls())
	}
	h.post(t, sample, "sign", "third").wantReceived(t, "third", false)
}

func TestBrokerThatNeverConfirms(t *testing.T) {
	// Not in parallel: it times the answer against the publish timeout.
	h := newHarness(t, func(c *bridge.Config) { c.PublishTimeout = 300 * time.Millisecond })
	h.sink.FailWith(func(sinks.Message) error { select {} })
	start := time.Now()
	r := h.post(t, sample, "sign", "d1")
	took := time.Since(start)
	r.wantError(t, 503)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if took > 2*time.Second {
		t.Errorf("answered after %s, want about the publish timeout", took)
	}
}

func TestRetryableErrorsAreRetried(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var n atomic.Int32
	h.sink.FailWith(func(sinks.Message) error {
		if n.Add(1) <= 2 {
			return errors.New("connection reset")
		}
		return nil
	})
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", false)
	if h.sink.Calls() != 3 {
		t.Fatalf("sink called %d times, want 3", h.sink.Calls())
	}
	metrics := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
	if !strings.Contains(metrics, "audiospliter_bridge_publish_retries_total 2") {
		t.Errorf("metrics do not count 2 retries:\n%s", grep(metrics, "retries"))
	}
}

func TestSinkErrorsMapToStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
		retry  bool
		reason string
	}{
		{fmt.Errorf("x: %w", sinks.ErrTooLarge), 413, false, "broker_too_large"},
		{fmt.Errorf("x: %w", sinks.ErrInvalid), 400, false, "broker_invalid"},
		{sinks.Permanent(errors.New("unroutable")), 502, false, "broker_rejected"},
		{fmt.Errorf("x: %w", sinks.ErrClosed), 503, true, "shutting_down"},
		{errors.New("nack"), 503, true, "not_confirmed"},
		{fmt.Errorf("x: %w: permissions violation for publish to \"other.job.completed\"", sinks.ErrRefused), 502, false, "broker_refused"},
		{fmt.Errorf("x: %w: connection refused", sinks.ErrUnavailable), 503, true, "broker_unavailable"},
		{fmt.Errorf("x: %w: 64 calls under way", sinks.ErrBackedUp), 503, true, "backed_up"},
		{fmt.Errorf("x: %w: has a space", sinks.ErrInvalidRoute), 400, false, "broker_invalid"},
		{fmt.Errorf("x: %w: U+0000", sinks.ErrInvalidContent), 400, false, "broker_invalid"},
	}
	for _, c := range cases {
		t.Run(c.err.Error(), func(t *testing.T) {
			h := newHarness(t, func(cfg *bridge.Config) { cfg.PublishTimeout = 200 * time.Millisecond })
			h.sink.FailWith(func(sinks.Message) error { return c.err })
			r := h.post(t, sample, "sign", "d1")
			r.wantError(t, c.status)
			if got := r.header.Get("Retry-After") != ""; got != c.retry {
				t.Errorf("Retry-After present = %v, want %v", got, c.retry)
			}
			if !c.retry && h.sink.Calls() != 1 {
				t.Errorf("a permanent error was retried: %d calls", h.sink.Calls())
			}
			line := h.webhookLine(t)
			if line["reason"] != c.reason {
				t.Errorf("log line reason = %v, want %q", line["reason"], c.reason)
			}
			// The cause is in that request's own log line.
			if got, _ := line["err"].(string); !strings.Contains(got, c.err.Error()) {
				t.Errorf("log line err = %q, want the sink's %q", got, c.err)
			}
			m := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
			if want := fmt.Sprintf(`audiospliter_bridge_requests_total{code="%d",reason=%q} 1`, c.status, c.reason); !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s:\n%s", want, grep(m, "requests_total"))
			}
		})
	}
}

// A broker_invalid answer says which part of the message the broker cannot carry.
func TestInvalidAnswerSaysWhich(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", sinks.ErrInvalidRoute), "event cannot be a routing key or subject"},
		{fmt.Errorf("x: %w", sinks.ErrInvalidContent), "body or a header has characters"},
	} {
		h := newHarness(t, nil)
		h.sink.FailWith(func(sinks.Message) error { return c.err })
		r := h.post(t, sample, "sign", "d1")
		r.wantError(t, 400)
		if msg, _ := r.body["error"].(string); !strings.Contains(msg, c.want) {
			t.Errorf("%v: answer %q, want it to say %q", c.err, msg, c.want)
		}
	}
}

// A sender with a wrong URL is not invisible: its POST is logged with the path and
// counted as a 404.
func TestPostToAWrongPathIsLoggedAndCounted(t *testing.T) {
	h := newHarness(t, nil)
	h.do(t, http.MethodPost, "/webhook?token=s3cret", sample, nil).wantError(t, 404)
	h.do(t, http.MethodGet, "/favicon.ico", nil, nil).wantError(t, 404)
	line := h.webhookLine(t)
	if line["status"] != float64(404) || line["reason"] != "unknown_path" || line["path"] != "/webhook" || line["webhook_path"] != "/webhooks" {
		t.Errorf("log line of a POST to a wrong path: %v", line)
	}
	if strings.Contains(h.logs.String(), "s3cret") {
		t.Error("the query string reached the log")
	}
	m := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
	if !strings.Contains(m, `audiospliter_bridge_requests_total{code="404",reason="unknown_path"} 1`) {
		t.Errorf("the POST to a wrong path is not counted once (a GET is not counted):\n%s", grep(m, "requests_total"))
	}
}

// StopPublishes (the end of BRIDGE_SHUTDOWN_TIMEOUT) answers every request still
// waiting for the broker 503 with Retry-After, one log line each, and any later one
// at once the same way.
func TestStopPublishesAnswersWaitingRequests(t *testing.T) {
	h := newHarness(t, func(c *bridge.Config) { c.PublishTimeout = time.Minute })
	h.sink.FailWith(func(sinks.Message) error { select {} })
	replies := make(chan reply, 2)
	for _, id := range []string{"d1", "d2"} {
		go func() { replies <- h.post(t, sample, "sign", id) }()
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return h.sink.Calls() >= 2 }, "both publishes under way")
	start := time.Now()
	h.bridge.StopPublishes()
	for range 2 {
		r := <-replies
		r.wantError(t, 503)
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("answered %s after StopPublishes", took)
	}
	ids := map[any]bool{}
	for _, line := range h.webhookLines(t) {
		if line["reason"] != "shutting_down" || !strings.Contains(line["err"].(string), "BRIDGE_SHUTDOWN_TIMEOUT") {
			t.Errorf("log line %v, want reason shutting_down naming BRIDGE_SHUTDOWN_TIMEOUT", line)
		}
		ids[line["delivery_id"]] = true
	}
	if !ids["d1"] || !ids["d2"] {
		t.Errorf("one log line per unanswered delivery: %v", ids)
	}
	start = time.Now()
	h.post(t, sample, "sign", "d3").wantError(t, 503)
	if took := time.Since(start); took > time.Second {
		t.Errorf("a publish after StopPublishes took %s", took)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newHarness(t, func(c *bridge.Config) { c.Clock = clk })
	if r := h.do(t, http.MethodGet, "/healthz", nil, nil); r.status != 200 {
		t.Errorf("/healthz = %d", r.status)
	}
	if r := h.do(t, http.MethodGet, "/readyz", nil, nil); r.status != 200 {
		t.Errorf("/readyz = %d", r.status)
	}
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", false)
	h.post(t, sample, "sign", "d1").wantReceived(t, "d1", true)
	h.post(t, sample, "bad", "d2").wantError(t, 401)
	m := h.do(t, http.MethodGet, "/metrics", nil, nil)
	for _, want := range []string{
		`audiospliter_bridge_requests_total{code="200",reason="confirmed"} 1`,
		`audiospliter_bridge_requests_total{code="200",reason="duplicate"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="bad_signature"} 1`,
		`audiospliter_bridge_duplicates_total 1`,
		`audiospliter_bridge_publish_duration_seconds_count{outcome="confirmed"} 1`,
		`audiospliter_bridge_publishes_in_flight 0`,
	} {
		if !strings.Contains(m.raw, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	_ = h.sink.Close()
	clk.Advance(bridge.ReadyEvery) // the sink is asked at most once a second
	if r := h.do(t, http.MethodGet, "/readyz", nil, nil); r.status != 503 || r.raw != `{"ready":false,"reason":"shutting_down"}` {
		t.Errorf("/readyz with a closed sink = %d %s, want 503 shutting_down", r.status, r.raw)
	}
	if r := h.do(t, http.MethodGet, "/healthz", nil, nil); r.status != 200 {
		t.Errorf("/healthz with a closed sink = %d, want 200", r.status)
	}
}

// Nothing a request carries that is secret, and no body, reaches the logs or any
// answer: the secret, the signature, the payload.
func TestNoSecretOrBodyInLogsOrAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *bridge.Config) { c.PublishTimeout = 100 * time.Millisecond })
	marker := "payload-marker-5f1e"
	body := []byte(`{"event":"job.completed","jobId":"j","note":"` + marker + `"}`)
	sig := bridge.Sign(secret, body)
	var answers []string
	add := func(r reply) { answers = append(answers, r.raw) }
	add(h.post(t, body, sig, "d1"))
	add(h.post(t, body, "0"+sig[1:], "d2"))
	add(h.post(t, []byte(`{"event":`+marker), "sign", "d3"))
	add(h.post(t, []byte(`{"event":"`+marker+`\n"}`), "sign", "d4"))
	add(h.post(t, []byte(`{"event":"`+strings.Repeat("e", 3000)+`"}`), "sign", "d4b"))
	h.sink.FailWith(func(sinks.Message) error { return errors.New("broker down") })
	add(h.post(t, body, sig, "d5"))
	h.sink.FailWith(func(sinks.Message) error { return sinks.ErrInvalid })
	add(h.post(t, body, sig, "d6"))
	add(h.do(t, http.MethodGet, "/metrics", nil, nil))
	all := h.logs.String() + strings.Join(answers, "\n")
	if !strings.Contains(h.logs.String(), `"delivery_id":"d5"`) {
		t.Fatalf("expected request log lines, got:\n%s", h.logs.String())
	}
	if !strings.Contains(all, "audiospliter_bridge_requests_total") {
		t.Fatal("the metrics page was not read")
	}
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if len(line) > 1024 {
			t.Errorf("a log line of %d bytes: the payload decides its length", len(line))
		}
	}
	for _, leak := range []string{secret, sig, sig[1:], marker} {
		if strings.Contains(all, leak) {
			t.Errorf("%q leaked into logs or answers:\n%s", leak, all)
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// BenchmarkHandlerHTTP is the HTTP ceiling: the whole bridge over loopback from 64
// keep-alive connections of the lean load client, in front of the in-memory sink
// (no broker).
func BenchmarkHandlerHTTP(b *testing.B) {
	bridgetest.BenchHTTP(b, sinktest.NewMemory(), sample, 64)
}

// BenchmarkHandler is the handler alone, no network: verify, parse, dedup check,
// publish to the in-memory sink, answer.
func BenchmarkHandler(b *testing.B) {
	sink := sinktest.NewMemory()
	br, err := bridge.New(bridge.Config{Secrets: []string{secret}, DedupTTL: 0, Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	sig := bridge.Sign(secret, sample)
	ids := make([]string, 4096)
	for i := range ids {
		ids[i] = fmt.Sprintf("d-%d", i)
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

// A flood of large bodies with bad signatures does no work beyond reading a bounded
// body: nothing reaches the sink, and memory stays bounded by the bodies in flight.
func TestFloodOfInvalidSignaturesStaysBounded(t *testing.T) {
	// Not in parallel: it measures the heap, which other tests would grow.
	h := newHarness(t, func(c *bridge.Config) { c.MaxBodyBytes = 1 << 20 })
	body := bytes.Repeat([]byte("x"), 1<<20)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 25 {
				r := h.post(t, body, "0000000000000000000000000000000000000000000000000000000000000000", fmt.Sprintf("flood-%d-%d", w, i))
				if r.status != 401 {
					t.Errorf("status %d", r.status)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	if h.sink.Calls() != 0 {
		t.Fatal("an unauthenticated request reached the sink")
	}
	// 16 bodies of 1 MiB in flight on each side (client and server) plus garbage
	// not yet collected: bounded, and far from 400 MiB sent in all.
	if p := peak.Load(); p > 160<<20 {
		t.Errorf("heap peaked at %d MiB during 400 MiB of invalid requests", p>>20)
	} else {
		t.Logf("heap peak %d MiB during 400 MiB of invalid requests", p>>20)
	}
}

// Secrets swap at once while requests are verified: the next request after
// SetSecrets sees the new set, and a refused set leaves the old one in place.
func TestSetSecretsSwapsWhileServing(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewMemory()
	br, err := bridge.New(bridge.Config{Secrets: []string{"old-secret-0000000000"}, Sink: sink, DedupTTL: 0})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(br)
	defer srv.Close()
	h := &harness{srv: srv, sink: sink, logs: &testkit.LockedBuffer{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 { // verifications racing the swaps
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := h.post(t, sample, bridge.Sign("old-secret-0000000000", sample), fmt.Sprintf("race-%d-%d", w, i))
				if r.status != 200 && r.status != 401 {
					t.Errorf("status %d", r.status)
				}
			}
		})
	}
	for range 50 {
		if err := br.SetSecrets([]string{"new-secret-0000000000"}); err != nil {
			t.Fatal(err)
		}
		if err := br.SetSecrets([]string{"old-secret-0000000000", "new-secret-0000000000"}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()

	if err := br.SetSecrets([]string{"new-secret-0000000000"}); err != nil {
		t.Fatal(err)
	}
	h.post(t, sample, bridge.Sign("old-secret-0000000000", sample), "after-old").wantError(t, 401)
	h.post(t, sample, bridge.Sign("new-secret-0000000000", sample), "after-new").wantReceived(t, "after-new", false)
	for _, bad := range [][]string{nil, {"x", ""}} {
		if br.SetSecrets(bad) == nil {
			t.Errorf("SetSecrets(%q) accepted", bad)
		}
	}
	h.post(t, sample, bridge.Sign("new-secret-0000000000", sample), "still-new").wantReceived(t, "still-new", false)
}
