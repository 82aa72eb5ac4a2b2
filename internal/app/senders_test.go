package app_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// startSenders runs the bridge with a senders file of five (one sender per
// scheme, edited by each), the sink set by edit.
func startSenders(t *testing.T, five []bridgetest.Sender, edit func(*config.Config), opts ...func(*app.Options)) *running {
	t.Helper()
	path := bridgetest.WriteSendersFile(t, t.TempDir(), five)
	return startBridge(t, func(c *config.Config) {
		c.WebhookSecret, c.SendersFile = "", path
		if edit != nil {
			edit(c)
		}
	}, opts...)
}

// deliver sends s's delivery id, signed now, to path ("" : its own).
func (r *running) deliver(t *testing.T, s *bridgetest.Sender, path, id string) apptest.Reply {
	t.Helper()
	hdr, body := s.Delivery(t, id, time.Now())
	if path == "" {
		path = s.Path
	}
	return r.postTo(t, path, body, hdr)
}

func (r *running) postTo(t *testing.T, path string, body []byte, hdr http.Header) apptest.Reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+path, bytes.NewReader(body))
	req.Header = hdr
	return apptest.Do(t, req)
}

// exerciseSenders is the done-when of the senders section, on the running bridge
// b with the five senders: each sender's signed delivery is 200 after the
// confirm; every other sender's signature on its path is 401; old timestamps are
// 401 (the Standard Webhooks specification's 2021 vector, a Stripe signature of an
// hour ago); the same delivery id from two senders is two messages and a retry is
// one. read returns what the broker holds (at least n messages); routes says
// whether it reports the routing key or subject suffix, which is then checked
// against each sender's route; ids whether it reports the broker's message id.
func exerciseSenders(t *testing.T, b *running, five []bridgetest.Sender, read func(t *testing.T, n int) []sinktest.Received, routes, ids bool) {
	t.Helper()
	for i := range five {
		s := &five[i]
		if r := b.deliver(t, s, "", "d-"+s.Name); r.Status != 200 || r.Body != `{"received":true,"deliveryId":"d-`+s.Name+`"}` {
			t.Fatalf("%s: own delivery = %d %s", s.Name, r.Status, r.Body)
		}
		for j := range five {
			if j != i {
				if r := b.deliver(t, s, five[j].Path, "x-"+s.Name); r.Status != 401 {
					t.Errorf("%s's delivery on %s's path = %d %s, want 401", s.Name, five[j].Name, r.Status, r.Body)
				}
			}
		}
	}
	svix, billing := &five[1], &five[3]
	// The specification's vector (its secret is the svix sender's), from 2021.
	hdr := http.Header{}
	hdr.Set("Webhook-Id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	hdr.Set("Webhook-Timestamp", "1614265330")
	hdr.Set("Webhook-Signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	if r := b.postTo(t, svix.Path, []byte(`{"test": 2432232314}`), hdr); r.Status != 401 {
		t.Errorf("the 2021 Standard Webhooks vector = %d, want 401", r.Status)
	}
	old := []byte(`{"id":"evt_old","type":"invoice.paid"}`)
	hdr = http.Header{}
	hdr.Set("Stripe-Signature", verify.SignStripe(billing.Secret, time.Now().Add(-time.Hour), old))
	if r := b.postTo(t, billing.Path, old, hdr); r.Status != 401 {
		t.Errorf("a Stripe signature of an hour ago = %d, want 401", r.Status)
	}
	for _, s := range []*bridgetest.Sender{svix, billing} {
		if r := b.deliver(t, s, "", "same-1"); r.Status != 200 {
			t.Fatalf("%s same-1 = %d %s", s.Name, r.Status, r.Body)
		}
	}
	if r := b.deliver(t, svix, "", "same-1"); r.Status != 200 || !strings.Contains(r.Body, `"duplicate":true`) {
		t.Errorf("svix's retry of same-1 = %d %s, want 200 duplicate", r.Status, r.Body)
	}

	want := map[string]string{"svix:same-1": "svix", "billing:same-1": "billing"}
	for _, s := range five {
		want[s.Name+":d-"+s.Name] = s.Name
	}
	got := read(t, len(want))
	count := map[string]int{}
	for _, m := range got {
		sender := m.Headers[sinks.HeaderSource]
		key := sender + ":" + m.Headers[sinks.HeaderID]
		count[key]++
		if ids && m.ID != key {
			t.Errorf("%s: broker message id %q, want %q", key, m.ID, key)
		}
		if s, ok := m.Headers[sinks.HeaderSender]; ok && s != sender {
			t.Errorf("%s: audiospliter-sender %q", key, s)
		}
		apptest.AssertSchema(t, m.Headers)
		if !routes {
			continue
		}
		event := m.Headers[sinks.HeaderEvent]
		wantRoute := sender + "." + event
		if sender == "audiospliter" {
			wantRoute = event // its route is {event}
		}
		if m.Route != wantRoute {
			t.Errorf("%s: route %q, want %q", key, m.Route, wantRoute)
		}
	}
	for key := range want {
		if count[key] != 1 {
			t.Errorf("%s is on the broker %d times, want once", key, count[key])
		}
	}
	if len(got) != len(want) {
		t.Errorf("the broker holds %d messages, want %d: %v", len(got), len(want), count)
	}
}

func TestSendersNATS(t *testing.T) {
	t.Parallel()
	natsAddr := testkit.FreeAddr(t)
	five := bridgetest.FiveSenders()
	b := startSenders(t, five, func(c *config.Config) { c.Nats.EmbeddedListen = natsAddr })
	exerciseSenders(t, b, five, func(t *testing.T, n int) []sinktest.Received {
		var out []sinktest.Received
		for _, raw := range natstest.ReadStream(t, "nats://"+natsAddr, "AUDIOSPLITER", n) {
			r := sinktest.Received{ID: raw.Header.Get("Nats-Msg-Id"), Body: raw.Data, Headers: map[string]string{},
				Route: strings.TrimPrefix(raw.Subject, "audiospliter.")}
			for k, v := range raw.Header {
				r.Headers[k] = v[0]
			}
			out = append(out, r)
		}
		return out
	}, true, true)
}

// RabbitMQ, with billing on an exchange of its own (a queue bound to it by the
// operator, here the test) and the others on the default exchange and queue; and
// a sender whose own exchange has no queue bound: 503, never 200.
func TestSendersRabbitMQ(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top, own, lonely := rabbittest.NewTopology(t, url), rabbittest.NewTopology(t, url), rabbittest.NewTopology(t, url)
	five := bridgetest.FiveSenders()
	five[3].Destination = "rabbitmq:\n  exchange: " + own.Exchange
	extra := five[0].Another("lonely", "/webhooks/lonely", "lonely-secret-0123456789")
	extra.Destination = "rabbitmq:\n  exchange: " + lonely.Exchange
	b := startSenders(t, append(append([]bridgetest.Sender(nil), five...), extra), func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL, c.Rabbitmq.Exchange, c.Rabbitmq.Queue = "rabbitmq", url, top.Exchange, top.Queue
	})
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Declared by the bridge at start; the operator binds a queue.
	if err := ch.ExchangeDeclarePassive(own.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatalf("billing's exchange: %v", err)
	}
	if _, err := ch.QueueDeclare(own.Queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(own.Queue, "billing.#", own.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	defaultQ, billingQ := &rabbittest.Reader{URL: url, Queue: top.Queue}, &rabbittest.Reader{URL: url, Queue: own.Queue}
	exerciseSenders(t, b, five, func(t *testing.T, n int) []sinktest.Received {
		return append(rabbittest.Received(defaultQ.Read(t, n-2)), rabbittest.Received(billingQ.Read(t, 2))...)
	}, true, true)
	for _, d := range billingQ.Read(t, 2) {
		if d.Exchange != own.Exchange {
			t.Errorf("billing's %s came through %s", d.MessageId, d.Exchange)
		}
	}

	r := b.deliver(t, &extra, "", "nowhere-1")
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("a sender's exchange with no queue bound = %d %s (Retry-After %q), want 503 with Retry-After", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if line := webhookLine(t, b.stderr.String(), "nowhere-1"); line["reason"] != "unroutable" || line["sender"] != "lonely" {
		t.Errorf("log line %v, want reason unroutable for sender lonely", line)
	}
}

// SQS: a standard default queue with billing on a FIFO queue of its own, then a
// FIFO default queue for every sender.
func TestSendersSQS(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	for _, fifo := range []bool{false, true} {
		t.Run("default fifo="+strconv.FormatBool(fifo), func(t *testing.T) {
			def := srv.CreateQueue(t, fifo, nil)
			five := bridgetest.FiveSenders()
			var billingURL string
			if !fifo {
				billingURL = srv.CreateQueue(t, true, nil)
				five[3].Destination = "sqs:\n  queue_url: " + billingURL
			}
			b := startSenders(t, five, func(c *config.Config) { c.Sink, c.Sqs.Endpoint, c.Sqs.QueueURL = "sqs", srv.Endpoint(), def })
			defQ := &sqstest.Reader{Server: srv, URL: def}
			exerciseSenders(t, b, five, func(t *testing.T, n int) []sinktest.Received {
				if billingURL == "" {
					return sqstest.Received(defQ.Read(t, n))
				}
				billingQ := &sqstest.Reader{Server: srv, URL: billingURL}
				return append(sqstest.Received(defQ.Read(t, n-2)), sqstest.Received(billingQ.Read(t, 2))...)
			}, false, fifo)
		})
	}
}

// A sender's secret_file is read again when it changes, as
// BRIDGE_WEBHOOK_SECRET_FILE is, and at once on a reload request (SIGHUP); a file
// that turns empty keeps the previous secrets; the log names the sender.
func TestSenderSecretFileReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	five := bridgetest.FiveSenders()
	path := bridgetest.WriteSendersFile(t, dir, five)
	reload := make(chan struct{})
	b := startBridge(t, func(c *config.Config) { c.WebhookSecret, c.SendersFile = "", path },
		func(o *app.Options) { o.Reload, o.ReloadEvery = reload, time.Hour })
	gh := &five[2]
	if r := b.deliver(t, gh, "", "r-1"); r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	next := gh.Another(gh.Name, gh.Path, "github-next-secret-0123456789")
	writeAtomic(t, filepath.Join(dir, "github.secret"), gh.Secret+"\n"+next.Secret+"\n")
	reload <- struct{}{}
	testkit.Eventually(t, 5*time.Second, func() bool { return b.deliver(t, &next, "", "r-2").Status == 200 },
		"the sender's new secret was not taken on the reload request")
	writeAtomic(t, filepath.Join(dir, "github.secret"), next.Secret+"\n")
	reload <- struct{}{}
	testkit.Eventually(t, 5*time.Second, func() bool { return b.deliver(t, gh, "", "r-3").Status == 401 },
		"the retired secret was still accepted")
	writeAtomic(t, filepath.Join(dir, "github.secret"), "# nothing\n")
	reload <- struct{}{}
	testkit.Eventually(t, 5*time.Second, func() bool { return strings.Contains(b.stderr.String(), "holds no secret") },
		"no error logged for a secret file without secrets")
	if r := b.deliver(t, &next, "", "r-4"); r.Status != 200 {
		t.Errorf("after an empty file the previous secret got %d", r.Status)
	}
	// Another sender was not touched.
	if r := b.deliver(t, &five[0], "", "r-5"); r.Status != 200 {
		t.Errorf("another sender: %d", r.Status)
	}
	logs := b.stderr.String()
	if !strings.Contains(logs, `"sender":"github"`) || !strings.Contains(logs, "secrets replaced") {
		t.Errorf("the reload's log lines do not name the sender:\n%s", logs)
	}
	for _, s := range append(five, next) {
		if strings.Contains(logs, s.Secret) {
			t.Errorf("the log holds %s's secret", s.Name)
		}
	}
}

// Also polled: the change is noticed without a reload request.
func TestSenderSecretFilePolled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	five := bridgetest.FiveSenders()
	path := bridgetest.WriteSendersFile(t, dir, five)
	b := startBridge(t, func(c *config.Config) { c.WebhookSecret, c.SendersFile = "", path },
		func(o *app.Options) { o.ReloadEvery = 50 * time.Millisecond })
	next := five[3].Another(five[3].Name, five[3].Path, "whsec_billing_next_0123456789")
	writeAtomic(t, filepath.Join(dir, "billing.secret"), next.Secret+"\n")
	testkit.Eventually(t, 10*time.Second, func() bool { return b.deliver(t, &next, "", "p-1").Status == 200 },
		"the sender's changed secret file was not picked up by the poll")
}

// Mistakes in the senders file stop the start with BRIDGE_SENDERS_FILE naming the
// sender and the field.
func TestSendersFileMistakeAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := bridgetest.WriteSendersFile(t, dir, bridgetest.FiveSenders())
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Replace(data, []byte("scheme: stripe"), []byte("scheme: paypal"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.SendersFile = path
	err := c.Validate(nil)
	if err == nil || !strings.Contains(err.Error(), "BRIDGE_SENDERS_FILE") || !strings.Contains(err.Error(), `sender "billing"`) || !strings.Contains(err.Error(), "scheme") {
		t.Fatalf("Validate = %v", err)
	}
}

// Hostile input on the senders' paths through the whole app (its server limits
// included): each a clear 4xx, counted by reason and sender, logged with its
// reason, nothing published; a signature header of a megabyte is refused by the
// HTTP server itself (431, over its 64 KiB of headers) and the bridge serves on.
func TestSendersHostileInput(t *testing.T) {
	t.Parallel()
	natsAddr := testkit.FreeAddr(t)
	five := bridgetest.FiveSenders()
	b := startSenders(t, five, func(c *config.Config) { c.Nats.EmbeddedListen = natsAddr })
	svix, billing := &five[1], &five[3]
	hdr, body := svix.Delivery(t, "msg_hostile", time.Now())
	sw := func(edit func(http.Header)) http.Header {
		h := hdr.Clone()
		edit(h)
		return h
	}
	stripeBody := []byte(`{"id":"evt_hostile","type":"invoice.paid"}`)
	st := func(v string) http.Header {
		h := http.Header{}
		h.Set("Stripe-Signature", v)
		return h
	}
	now := time.Now().Unix()
	cases := []struct {
		name, path string
		body       []byte
		hdr        http.Header
		status     int
		reason     string
	}{
		{"timestamp not a number", svix.Path, body, sw(func(h http.Header) { h.Set("Webhook-Timestamp", "soon") }), 401, "bad_timestamp"},
		{"timestamp absurd", svix.Path, body, sw(func(h http.Header) { h.Set("Webhook-Timestamp", strings.Repeat("7", 30)) }), 401, "bad_timestamp"},
		{"timestamp far in the future", svix.Path, body, sw(func(h http.Header) { h.Set("Webhook-Timestamp", strconv.FormatInt(now+86400*365, 10)) }), 401, "timestamp_out_of_tolerance"},
		{"thousands of v1 entries", svix.Path, body, sw(func(h http.Header) { h.Set("Webhook-Signature", strings.Repeat(h.Get("Webhook-Signature")+" ", 1000)) }), 401, "too_many_signatures"},
		{"a signature header of 50 KiB", svix.Path, body, sw(func(h http.Header) { h.Set("Webhook-Signature", "v1,"+strings.Repeat("A", 50<<10)) }), 401, "bad_signature"},
		{"stripe: thousands of v1", billing.Path, stripeBody, st("t=" + strconv.FormatInt(now, 10) + strings.Repeat(",v1=ab", 5000)), 401, "too_many_signatures"},
		{"a trailing slash", svix.Path + "/", body, hdr, 404, "unknown_path"},
	}
	for _, c := range cases {
		if r := b.postTo(t, c.path, c.body, c.hdr); r.Status != c.status || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s, want %d in JSON", c.name, r.Status, r.Body, c.status)
		}
	}
	huge := sw(func(h http.Header) { h.Set("Webhook-Signature", "v1,"+strings.Repeat("A", 1<<20)) })
	if r := b.postTo(t, svix.Path, body, huge); r.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a signature header of 1 MiB: %d, want 431 from the HTTP server", r.Status)
	}
	if r := b.deliver(t, svix, "", "after-hostile"); r.Status != 200 {
		t.Fatalf("the bridge after hostile input: %d %s", r.Status, r.Body)
	}
	if msgs := natstest.ReadStream(t, "nats://"+natsAddr, "AUDIOSPLITER", 1); len(msgs) != 1 {
		t.Errorf("the stream holds %d messages after hostile input and one delivery, want 1", len(msgs))
	}
	logs := b.stderr.String()
	for _, c := range cases {
		if !strings.Contains(logs, `"reason":"`+c.reason+`"`) {
			t.Errorf("%s: no log line with reason %s", c.name, c.reason)
		}
	}
	m := b.get(t, "/metrics").Body
	for _, want := range []string{
		`audiospliter_bridge_requests_total{code="401",reason="bad_timestamp",sender="svix"} 2`,
		`audiospliter_bridge_requests_total{code="401",reason="timestamp_out_of_tolerance",sender="svix"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="too_many_signatures",sender="svix"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="bad_signature",sender="svix"} 1`,
		`audiospliter_bridge_requests_total{code="401",reason="too_many_signatures",sender="billing"} 1`,
		`audiospliter_bridge_requests_total{code="404",reason="unknown_path",sender=""} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
