package bridge_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// newSendersHarness serves a bridge with the five senders of bridgetest (one per
// scheme) in front of an in-memory sink.
func newSendersHarness(t *testing.T, edit func(*bridge.Config)) (*harness, []bridgetest.Sender) {
	t.Helper()
	five := bridgetest.FiveSenders()
	h := newHarness(t, func(c *bridge.Config) {
		c.Secrets, c.WebhookPath = nil, ""
		c.MaxBodyBytes = 128 << 10
		for i := range five {
			c.Senders = append(c.Senders, five[i].Bridge())
		}
		if edit != nil {
			edit(c)
		}
	})
	return h, five
}

// send posts s's delivery id, signed now, to path ("" : s's own).
func (h *harness) send(t *testing.T, s *bridgetest.Sender, path, id string) reply {
	t.Helper()
	hdr, body := s.Delivery(t, id, time.Now())
	if path == "" {
		path = s.Path
	}
	return h.do(t, http.MethodPost, path, body, hdr)
}

func headerMap(m sinks.Message) map[string]string {
	out := map[string]string{}
	for _, hd := range m.Headers {
		out[hd.Name] = hd.Value
	}
	return out
}

// Each of the five senders' signed deliveries is answered 200 after the confirm,
// with the message of the contract's senders section: message id
// "<sender>:<delivery id>", ce-id the delivery id as received, ce-source and
// audiospliter-sender the sender's name, ce-type with the type prefix for scheme
// audiospliter only, the signature header as received, the route rendered from
// the sender's template. Its log line and metrics carry the sender.
func TestSendersAcceptTheirOwn(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	for i := range five {
		s := &five[i]
		hdr, body := s.Delivery(t, "dlv-"+s.Name, time.Now())
		h.do(t, http.MethodPost, s.Path, body, hdr).wantReceived(t, "dlv-"+s.Name, false)
		msgs := h.sink.Messages()
		m := msgs[len(msgs)-1]
		event := map[string]string{"audiospliter": "job.completed", "svix": "invoice.paid", "github": "push",
			"billing": "invoice.paid", "partner": "order.created"}[s.Name]
		wantType, wantRoute := event, s.Name+"."+event
		if s.Name == "audiospliter" {
			wantType, wantRoute = bridge.DefaultCETypePrefix+event, event
		}
		got := headerMap(m)
		want := map[string]string{
			sinks.HeaderID: "dlv-" + s.Name, sinks.HeaderDelivery: "dlv-" + s.Name, sinks.HeaderSource: s.Name,
			sinks.HeaderSender: s.Name, sinks.HeaderType: wantType, sinks.HeaderEvent: event,
			sinks.HeaderSignature: hdr.Get(s.Bridge().Scheme.Identity().Signature),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: header %s = %q, want %q", s.Name, k, got[k], v)
			}
		}
		if m.ID != s.Name+":dlv-"+s.Name || m.Sender != s.Name || m.Event != event || m.Route != wantRoute || !bytes.Equal(m.Body, body) {
			t.Errorf("%s: message id %q sender %q event %q route %q", s.Name, m.ID, m.Sender, m.Event, m.Route)
		}
	}
	lines := h.webhookLines(t)
	if len(lines) != len(five) {
		t.Fatalf("%d log lines, want %d", len(lines), len(five))
	}
	for i, line := range lines {
		if line["sender"] != five[i].Name || line["status"] != float64(200) || line["delivery_id"] != "dlv-"+five[i].Name {
			t.Errorf("log line %v, want sender %s", line, five[i].Name)
		}
	}
	m := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
	for _, s := range five {
		want := fmt.Sprintf(`audiospliter_bridge_requests_total{code="200",reason="confirmed",sender=%q} 1`, s.Name)
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(m, "requests_total"))
		}
	}
}

// A sender's deliveries are 401 on every other sender's path, however they are
// signed; nothing is published.
func TestSendersRefuseEachOther(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	for i := range five {
		for j := range five {
			if i == j {
				continue
			}
			r := h.send(t, &five[i], five[j].Path, "x-"+five[i].Name)
			r.wantError(t, 401)
			if r.raw != `{"error":"invalid signature"}` {
				t.Errorf("401 body = %s", r.raw)
			}
		}
	}
	if n := h.sink.Calls(); n != 0 {
		t.Fatalf("the sink was called %d times", n)
	}
	for _, line := range h.webhookLines(t) {
		if line["status"] != float64(401) || line["reason"] == nil || line["reason"] == "" || line["sender"] == nil {
			t.Errorf("log line %v: want 401 with its reason and sender", line)
		}
	}
}

// Two senders of the same scheme with different secrets: one's delivery is 401
// on the other's path.
func TestSameSchemeOtherSecretIs401(t *testing.T) {
	t.Parallel()
	a := bridgetest.FiveSenders()[0]
	b := a.Another("second", "/webhooks/second", "another-secret-0123456789")
	h := newHarness(t, func(c *bridge.Config) {
		c.Secrets, c.WebhookPath = nil, ""
		c.Senders = []bridge.Sender{a.Bridge(), b.Bridge()}
	})
	h.send(t, &a, b.Path, "d1").wantError(t, 401)
	h.send(t, &b, a.Path, "d1").wantError(t, 401)
	h.send(t, &b, "", "d1").wantReceived(t, "d1", false)
}

// The same delivery id from two senders is two messages; a retry from one of
// them is one (answered as a duplicate, nothing republished).
func TestSameDeliveryIDFromTwoSenders(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	for _, i := range []int{1, 3, 1} { // svix, billing, svix again
		h.send(t, &five[i], "", "evt_same")
	}
	msgs := h.sink.Messages()
	if len(msgs) != 2 || msgs[0].ID != "svix:evt_same" || msgs[1].ID != "billing:evt_same" {
		t.Fatalf("messages %v, want svix:evt_same and billing:evt_same", ids(msgs))
	}
	if h.sink.Calls() != 2 {
		t.Errorf("the retry reached the sink: %d calls", h.sink.Calls())
	}
	h.send(t, &five[3], "", "evt_same").wantReceived(t, "evt_same", true)
	m := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
	for _, want := range []string{`audiospliter_bridge_duplicates_total{sender="svix"} 1`, `audiospliter_bridge_duplicates_total{sender="billing"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(m, "duplicates_total"))
		}
	}
}

func ids(msgs []sinks.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

// vectors are the published test vectors of the senders section.
func vectors(t *testing.T) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile("verify/testdata/senders.json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]map[string]string
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The Standard Webhooks specification's vector is from 2021: 401 by tolerance
// (timestamp_out_of_tolerance), and the same content signed now is 200. GitHub's
// documented vector verifies, and its body, which is not JSON, is then 400.
func TestSenderVectors(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	v := vectors(t)
	sw := v["standard-webhooks"]
	hdr := http.Header{}
	hdr.Set("Webhook-Id", sw["webhook-id"])
	hdr.Set("Webhook-Timestamp", sw["webhook-timestamp"])
	hdr.Set("Webhook-Signature", sw["webhook-signature"])
	h.do(t, http.MethodPost, five[1].Path, []byte(sw["body"]), hdr).wantError(t, 401)
	if line := h.webhookLines(t)[0]; line["reason"] != "timestamp_out_of_tolerance" {
		t.Errorf("the 2021 vector: reason %v, want timestamp_out_of_tolerance", line["reason"])
	}
	// Re-signed now with the vector's secret (the svix sender's): accepted; its
	// body {"test": …} has no "type", so it is 400 missing_event after the
	// signature, and with a type it is 200.
	now := time.Now()
	sig, err := verify.SignStandardWebhooks(sw["secret"], sw["webhook-id"], now, []byte(sw["body"]))
	if err != nil {
		t.Fatal(err)
	}
	hdr.Set("Webhook-Timestamp", strconv.FormatInt(now.Unix(), 10))
	hdr.Set("Webhook-Signature", sig)
	h.do(t, http.MethodPost, five[1].Path, []byte(sw["body"]), hdr).wantError(t, 400)
	if line := h.webhookLines(t)[1]; line["reason"] != "missing_event" {
		t.Errorf("the vector re-signed now: reason %v, want missing_event (past the signature)", line["reason"])
	}
	typed := []byte(`{"test": 2432232314, "type": "test.vector"}`)
	if sig, err = verify.SignStandardWebhooks(sw["secret"], sw["webhook-id"], now, typed); err != nil {
		t.Fatal(err)
	}
	hdr.Set("Webhook-Signature", sig)
	h.do(t, http.MethodPost, five[1].Path, typed, hdr).wantReceived(t, sw["webhook-id"], false)

	gh := v["github"]
	hdr = http.Header{}
	hdr.Set("X-Hub-Signature-256", gh["X-Hub-Signature-256"])
	hdr.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	hdr.Set("X-GitHub-Event", "ping")
	h.do(t, http.MethodPost, five[2].Path, []byte(gh["body"]), hdr).wantError(t, 400)
	if line := h.webhookLines(t)[3]; line["reason"] != "invalid_json" {
		t.Errorf("GitHub's vector: reason %v, want invalid_json (past the signature)", line["reason"])
	}
	if n := h.sink.Calls(); n != 1 {
		t.Errorf("the sink was called %d times, want once", n)
	}
}

// The single sender's order of checks holds per sender: signature before the
// body is parsed, delivery id before the event. Stripe's delivery id is in the
// body, so its "missing delivery" comes after the body is known to be a JSON
// object.
func TestSenderOrderOfChecks(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	billing, github := &five[3], &five[2]
	now := time.Now()
	stripe := func(body string) http.Header {
		hdr := http.Header{}
		hdr.Set("Stripe-Signature", verify.SignStripe(billing.Secret, now, []byte(body)))
		return hdr
	}
	cases := []struct {
		name, path, body string
		hdr              http.Header
		status           int
		reason           string
	}{
		{"stripe: not JSON", billing.Path, `{"id":`, stripe(`{"id":`), 400, "invalid_json"},
		{"stripe: no id", billing.Path, `{"type":"invoice.paid"}`, stripe(`{"type":"invoice.paid"}`), 400, "missing_delivery"},
		{"stripe: id null", billing.Path, `{"id":null,"type":"x"}`, stripe(`{"id":null,"type":"x"}`), 400, "missing_delivery"},
		{"stripe: id a number", billing.Path, `{"id":7,"type":"x"}`, stripe(`{"id":7,"type":"x"}`), 400, "bad_delivery"},
		{"stripe: id with a space", billing.Path, `{"id":"a b","type":"x"}`, stripe(`{"id":"a b","type":"x"}`), 400, "bad_delivery"},
		{"stripe: no id and no type", billing.Path, `{}`, stripe(`{}`), 400, "missing_delivery"},
		{"stripe: no type", billing.Path, `{"id":"evt_1"}`, stripe(`{"id":"evt_1"}`), 400, "missing_event"},
		{"stripe: not signed", billing.Path, `{"id":"evt_1"}`, http.Header{}, 401, "missing_signature"},
	}
	hdr, body := github.Delivery(t, "gh-1", now)
	hdr.Del("X-Github-Event")
	cases = append(cases, struct {
		name, path, body string
		hdr              http.Header
		status           int
		reason           string
	}{"github: no event header", github.Path, string(body), hdr, 400, "missing_event"})
	hdr, body = github.Delivery(t, "gh-2", now)
	hdr.Del("X-Github-Delivery")
	cases = append(cases, struct {
		name, path, body string
		hdr              http.Header
		status           int
		reason           string
	}{"github: no delivery header", github.Path, string(body), hdr, 400, "missing_delivery"})
	for i, c := range cases {
		h.do(t, http.MethodPost, c.path, []byte(c.body), c.hdr).wantError(t, c.status)
		if line := h.webhookLines(t)[i]; line["reason"] != c.reason {
			t.Errorf("%s: reason %v, want %s", c.name, line["reason"], c.reason)
		}
	}
	if n := h.sink.Calls(); n != 0 {
		t.Errorf("the sink was called %d times", n)
	}
}

// Hostile input on a sender's path: each is a clear 4xx, counted, logged with its
// reason, and nothing is published.
func TestSenderHostileInput(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	svix, billing := &five[1], &five[3]
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	swHeaders := func(ts, sig string) http.Header {
		hdr := http.Header{}
		hdr.Set("Webhook-Id", "msg_1")
		hdr.Set("Webhook-Timestamp", ts)
		hdr.Set("Webhook-Signature", sig)
		return hdr
	}
	body := svix.Body
	good, err := verify.SignStandardWebhooks(svix.Secret, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	stripeBody := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	stHeaders := func(v string) http.Header {
		hdr := http.Header{}
		hdr.Set("Stripe-Signature", v)
		return hdr
	}
	stGood := verify.SignStripe(billing.Secret, now, stripeBody)
	github := &five[2]
	ghHeaders := func(event string) http.Header {
		hdr := http.Header{}
		hdr.Set("X-Hub-Signature-256", verify.SignGitHub(github.Secret, github.Body))
		hdr.Set("X-GitHub-Delivery", "gh-1")
		hdr["X-Github-Event"] = []string{event} // as sent, bytes and all
		return hdr
	}
	cases := []struct {
		name, path string
		body       []byte
		hdr        http.Header
		status     int
		reason     string
	}{
		{"timestamp not a number", svix.Path, body, swHeaders("yesterday", good), 401, "bad_timestamp"},
		{"timestamp absurd", svix.Path, body, swHeaders(strings.Repeat("9", 40), good), 401, "bad_timestamp"},
		{"timestamp far in the future", svix.Path, body, swHeaders(strconv.FormatInt(now.Add(24*time.Hour).Unix(), 10), good), 401, "timestamp_out_of_tolerance"},
		{"timestamp of 2021", svix.Path, body, swHeaders("1614265330", good), 401, "timestamp_out_of_tolerance"},
		{"thousands of v1 entries", svix.Path, body, swHeaders(ts, strings.Repeat(good+" ", 3000)), 401, "too_many_signatures"},
		{"a signature header of 40 KiB", svix.Path, body, swHeaders(ts, "v1,"+strings.Repeat("A", 40<<10)), 401, "bad_signature"},
		{"stripe: thousands of v1", billing.Path, stripeBody, stHeaders("t=" + ts + strings.Repeat(",v1=00", 3000)), 401, "too_many_signatures"},
		{"stripe: t not a number", billing.Path, stripeBody, stHeaders("t=now,v1=00"), 401, "bad_timestamp"},
		{"stripe: t far ahead", billing.Path, stripeBody, stHeaders(strings.Replace(stGood, "t="+ts, "t="+strconv.FormatInt(now.Unix()+3600, 10), 1)), 401, "timestamp_out_of_tolerance"},
		// An event from a header becomes ce-type and the routing key or subject.
		{"github: an event not UTF-8", github.Path, github.Body, ghHeaders("push\xff\xfe"), 400, "bad_event"},
		{"a path with a trailing slash", svix.Path + "/", body, swHeaders(ts, good), 404, "unknown_path"},
		{"a path with another case", strings.ToUpper(svix.Path), body, swHeaders(ts, good), 404, "unknown_path"},
	}
	for _, c := range cases {
		r := h.do(t, http.MethodPost, c.path, c.body, c.hdr)
		r.wantError(t, c.status)
		if c.status == 401 && r.raw != `{"error":"invalid signature"}` {
			t.Errorf("%s: 401 body = %s", c.name, r.raw)
		}
	}
	if n := h.sink.Calls(); n != 0 {
		t.Fatalf("the sink was called %d times", n)
	}
	lines := h.webhookLines(t)
	if len(lines) != len(cases) {
		t.Fatalf("%d log lines for %d requests", len(lines), len(cases))
	}
	for i, c := range cases {
		line := lines[i]
		if line["reason"] != c.reason {
			t.Errorf("%s: log line %v, want reason %s", c.name, line, c.reason)
		}
		// A sender's path names its sender; an unknown path is nobody's, and its
		// line lists the senders' paths.
		if c.status == 404 {
			if line["path"] != c.path || !strings.Contains(fmt.Sprint(line["webhook_paths"]), svix.Path) {
				t.Errorf("%s: log line %v, want the path and the senders' paths", c.name, line)
			}
		} else if line["sender"] == nil {
			t.Errorf("%s: log line %v without the sender", c.name, line)
		}
	}
	m := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
	for _, want := range []string{
		`audiospliter_bridge_requests_total{code="401",reason="bad_timestamp",sender="svix"} 2`,
		`audiospliter_bridge_requests_total{code="401",reason="timestamp_out_of_tolerance",sender="svix"} 2`,
		`audiospliter_bridge_requests_total{code="401",reason="too_many_signatures",sender="svix"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="bad_signature",sender="svix"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="too_many_signatures",sender="billing"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="bad_timestamp",sender="billing"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="timestamp_out_of_tolerance",sender="billing"} 1`,
		`audiospliter_bridge_requests_total{code="404",reason="unknown_path",sender=""} 2`,
		`audiospliter_bridge_requests_total{code="400",reason="bad_event",sender="github"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(m, "requests_total"))
		}
	}
}

// With senders, a message the broker routes to no queue (a sender's exchange with
// none bound) is 503 with Retry-After, never 200; without a senders file it stays
// 502 as it was.
func TestSenderUnroutableIs503(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	h.sink.FailWith(func(sinks.Message) error { return fmt.Errorf("x: %w", sinks.ErrUnroutable) })
	r := h.send(t, &five[0], "", "d1")
	r.wantError(t, 503)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if line := h.webhookLine(t); line["reason"] != "unroutable" {
		t.Errorf("reason %v, want unroutable", line["reason"])
	}
	if h.sink.Calls() != 1 {
		t.Errorf("unroutable was retried: %d calls", h.sink.Calls())
	}

	single := newHarness(t, nil)
	single.sink.FailWith(func(sinks.Message) error { return fmt.Errorf("x: %w", sinks.ErrUnroutable) })
	single.post(t, sample, "sign", "d1").wantError(t, 502)
}

// Configurations that cannot serve are refused by New.
func TestSendersConfigRefused(t *testing.T) {
	t.Parallel()
	five := bridgetest.FiveSenders()
	a, b := five[0].Bridge(), five[1].Bridge()
	base := bridge.Config{Sink: sinktest.NewMemory()}
	for _, c := range []struct {
		name string
		edit func(*bridge.Config)
	}{
		{"senders and secrets", func(c *bridge.Config) { c.Senders, c.Secrets = []bridge.Sender{a}, []string{secret} }},
		{"senders and a webhook path", func(c *bridge.Config) { c.Senders, c.WebhookPath = []bridge.Sender{a}, "/webhooks" }},
		{"two of one name", func(c *bridge.Config) { b2 := b; b2.Name = a.Name; c.Senders = []bridge.Sender{a, b2} }},
		{"two on one path", func(c *bridge.Config) { b2 := b; b2.Path = a.Path; c.Senders = []bridge.Sender{a, b2} }},
		{"a name with a colon", func(c *bridge.Config) { a2 := a; a2.Name = "a:b"; c.Senders = []bridge.Sender{a2} }},
		{"the metrics path", func(c *bridge.Config) { a2 := a; a2.Path = "/metrics"; c.Senders = []bridge.Sender{a2} }},
		// Paths are matched exactly: none that net/http's mux would take as a
		// subtree or a pattern (two patterns panicked inside the mux).
		{"a trailing slash", func(c *bridge.Config) { a2 := a; a2.Path = "/x/"; c.Senders = []bridge.Sender{a2} }},
		{"the root", func(c *bridge.Config) { a2 := a; a2.Path = "/"; c.Senders = []bridge.Sender{a2} }},
		{"below the health check", func(c *bridge.Config) { a2 := a; a2.Path = "/healthz/"; c.Senders = []bridge.Sender{a2} }},
		{"a pattern", func(c *bridge.Config) { a2 := a; a2.Path = "/a/{id}"; c.Senders = []bridge.Sender{a2} }},
		{"two patterns", func(c *bridge.Config) {
			a2, b2 := a, b
			a2.Path, b2.Path = "/{a}", "/{b}"
			c.Senders = []bridge.Sender{a2, b2}
		}},
		{"no scheme", func(c *bridge.Config) { a2 := a; a2.Scheme = nil; c.Senders = []bridge.Sender{a2} }},
	} {
		cfg := base
		c.edit(&cfg)
		if _, err := bridge.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", c.name)
		}
	}
	cfg := base
	cfg.Senders = []bridge.Sender{a, b}
	bb, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := bb.SetSecrets([]string{secret}); err == nil {
		t.Error("SetSecrets with senders = nil, want an error (each sender's scheme takes its own)")
	}
}

// A sender's secrets rotate through its scheme while the bridge serves.
func TestSenderSecretsRotate(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	gh := &five[2]
	scheme := gh.Bridge().Scheme
	h.send(t, gh, "", "r1").wantReceived(t, "r1", false)
	if err := scheme.SetSecrets([]string{"the-next-secret-0123456789"}); err != nil {
		t.Fatal(err)
	}
	h.send(t, gh, "", "r2").wantError(t, 401)
	hdr, body := gh.Delivery(t, "r3", time.Now())
	hdr.Set("X-Hub-Signature-256", verify.SignGitHub("the-next-secret-0123456789", body))
	h.do(t, http.MethodPost, gh.Path, body, hdr).wantReceived(t, "r3", false)
}

// Events on a sender's route that the broker cannot carry are 400 for that
// request alone (the sink's ErrInvalid), like an invalid event without senders.
func TestSenderInvalidRouteIs400(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	h.sink.FailWith(func(m sinks.Message) error {
		if strings.Contains(m.Route, " ") {
			return fmt.Errorf("x: %w: subject", sinks.ErrInvalid)
		}
		return nil
	})
	gh := five[2]
	gh.Body = []byte(`{"x":1}`)
	s := gh.Signer()
	s.Event = "push event"
	hdr, body, err := s.Request("bad-route", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.do(t, http.MethodPost, gh.Path, body, hdr).wantError(t, 400)
	h.send(t, &five[2], "", "good-route").wantReceived(t, "good-route", false)
}

// A flood of hostile requests on a sender's path costs what it sends: nothing
// waits, and the bridge stays answerable (the parsers' own bounds are tested in
// bridge/verify).
func TestSenderPathsServeConcurrently(t *testing.T) {
	t.Parallel()
	h, five := newSendersHarness(t, nil)
	done := make(chan error, len(five))
	for i := range five {
		go func() {
			for k := range 20 {
				id := fmt.Sprintf("c-%d", k)
				hdr, body := five[i].Delivery(t, id, time.Now())
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+five[i].Path, bytes.NewReader(body))
				req.Header = hdr
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					done <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					done <- fmt.Errorf("%s %s: %d", five[i].Name, id, resp.StatusCode)
					return
				}
			}
			done <- nil
		}()
	}
	for range five {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(h.sink.Messages()) == 5*20 }, "every delivery published once")
}
