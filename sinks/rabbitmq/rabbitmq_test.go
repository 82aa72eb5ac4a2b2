package rabbitmq_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

func openSink(t testing.TB, url string, top rabbittest.Topology, queueType string) *rabbitmq.Sink {
	t.Helper()
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{
		URL: url, Exchange: top.Exchange, Queue: top.Queue, QueueType: queueType,
	})
	if err != nil {
		t.Fatalf("rabbitmq.New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	shared := rabbittest.SharedURL(t)
	open := func(t *testing.T, url string, restart func(t *testing.T)) sinktest.Env {
		top := rabbittest.NewTopology(t, url)
		s := openSink(t, url, top, "classic")
		r := &rabbittest.Reader{URL: url, Queue: top.Queue}
		return sinktest.Env{
			Sink:    s,
			Read:    func(t *testing.T, n int) []sinktest.Received { return rabbittest.Received(r.Read(t, n)) },
			Restart: restart,
		}
	}
	sinktest.Run(t, sinktest.Harness{
		Open: func(t *testing.T) sinktest.Env {
			if t.Name() == "TestConformance/BrokerRestart" {
				n := rabbittest.PrivateNode(t)
				return open(t, n.URL, func(t *testing.T) { n.Restart(t) })
			}
			return open(t, shared, nil)
		},
		OpenUnroutable: func(t *testing.T) sinks.Sink {
			return openSink(t, shared, rabbittest.Topology{Exchange: rabbittest.NewTopology(t, shared).Exchange}, "classic")
		},
		Routes: true,
	})
}

// The message on the queue carries every property and header of docs/contract.md.
func TestMessageProperties(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s := openSink(t, url, top, "classic")
	defer s.Close()
	msg := sinktest.NewMessage("props-1")
	msg.Event = "job.failed"
	msg.Received = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	if err := s.Publish(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	d := (&rabbittest.Reader{URL: url, Queue: top.Queue}).Read(t, 1)[0]
	sinktest.AssertCarries(t, rabbittest.Received([]amqp.Delivery{d})[0], msg)
	checks := []struct{ name, got, want string }{
		{"exchange", d.Exchange, top.Exchange},
		{"routing key", d.RoutingKey, "job.failed"},
		{"message_id", d.MessageId, "props-1"},
		{"type", d.Type, "job.failed"},
		{"content_type", d.ContentType, "application/json"},
		{"app_id", d.AppId, "audiospliter-bridge"},
		{"timestamp", d.Timestamp.UTC().Format(time.RFC3339), "2026-11-27T12:00:00Z"},
		{"delivery_mode", fmt.Sprint(d.DeliveryMode), fmt.Sprint(amqp.Persistent)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestUnroutableIsPermanentNotSuccess(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s := openSink(t, url, rabbittest.Topology{Exchange: top.Exchange}, "classic") // no queue bound
	defer s.Close()
	// Many at once on the same channels: each must see its own return.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			err := s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("unroutable-%d", i)))
			if !errors.Is(err, rabbitmq.ErrUnroutable) || !errors.Is(err, sinks.ErrPermanent) {
				t.Errorf("Publish #%d = %v, want ErrUnroutable", i, err)
			}
		})
	}
	wg.Wait()
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("returns must not break the sink: Ready = %v", err)
	}
}

// Routed and unroutable messages interleaved on the same channels: every routed
// publish succeeds and is on the queue, every unroutable one fails.
func TestReturnsAreCorrelatedByMessageID(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s := openSink(t, url, rabbittest.Topology{Exchange: top.Exchange}, "classic") // the sink declares no queue
	defer s.Close()
	// A queue of the test's own bound to "routed" only: any other event is unroutable.
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDeclare(top.Queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(top.Queue, "routed", top.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var routed atomic.Int32
	for i := range 200 {
		wg.Go(func() {
			msg := sinktest.NewMessage(fmt.Sprintf("mix-%03d", i))
			msg.Event = "routed"
			if i%2 == 1 {
				msg.Event = "nowhere"
			}
			err := s.Publish(t.Context(), msg)
			switch {
			case msg.Event == "routed" && err != nil:
				t.Errorf("routed %s: %v", msg.ID, err)
			case msg.Event == "nowhere" && !errors.Is(err, rabbitmq.ErrUnroutable):
				t.Errorf("unroutable %s: %v", msg.ID, err)
			case err == nil:
				routed.Add(1)
			}
		})
	}
	wg.Wait()
	got := (&rabbittest.Reader{URL: url, Queue: top.Queue}).Read(t, int(routed.Load()))
	if len(got) != 100 {
		t.Fatalf("queue holds %d messages, want the 100 routed ones", len(got))
	}
}

// When the bridge's own queue is deleted at runtime, a return means the topology is
// gone: the sink declares it again, and the publish is retryable, not permanent.
func TestQueueDeletedAtRuntimeIsDeclaredAgain(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s := openSink(t, url, top, "classic")
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("before-delete")); err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if _, err := ch.QueueDelete(top.Queue, false, false, false); err != nil {
		t.Fatal(err)
	}
	err = s.Publish(t.Context(), sinktest.NewMessage("after-delete-1"))
	if err == nil || errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("first publish after the queue was deleted = %v, want a retryable error", err)
	}
	if err := s.Publish(t.Context(), sinktest.NewMessage("after-delete-2")); err != nil {
		t.Fatalf("publish after the sink declared the queue again: %v", err)
	}
	got := (&rabbittest.Reader{URL: url, Queue: top.Queue}).Read(t, 1)
	if len(got) != 1 || got[0].MessageId != "after-delete-2" {
		t.Fatalf("queue holds %d messages, want after-delete-2", len(got))
	}
}

func TestQuorumQueue(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s := openSink(t, url, top, "quorum")
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("quorum-1")); err != nil {
		t.Fatal(err)
	}
	// Declaring the same queue as classic must now be refused: it is a quorum queue.
	_, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, Exchange: top.Exchange, Queue: top.Queue, QueueType: "classic"})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Queue" {
		t.Fatalf("redeclare as classic = %v, want a ConfigError on Queue", err)
	}
}

func TestStartupErrorsNameTheField(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if err := ch.ExchangeDeclare(top.Exchange, "fanout", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		cfg   rabbitmq.Config
		field string
	}{
		{"unreachable", rabbitmq.Config{URL: "amqp://guest:guest@127.0.0.1:1/", ConnectTimeout: time.Second}, "URL"},
		{"bad credentials", rabbitmq.Config{URL: "amqp://guest:wrong@127.0.0.1:5672/"}, "URL"},
		{"exchange of another type", rabbitmq.Config{URL: url, Exchange: top.Exchange}, "Exchange"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := rabbitmq.New(t.Context(), c.cfg)
			var ce *sinks.ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field {
				t.Fatalf("New = %v, want a ConfigError on %s", err, c.field)
			}
			if c.name == "bad credentials" && strings.Contains(err.Error(), "wrong") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestRoutingKeyTooLong(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	s := openSink(t, url, rabbittest.NewTopology(t, url), "classic")
	defer s.Close()
	msg := sinktest.NewMessage("long-key")
	msg.Event = string(make([]byte, 256))
	if err := s.Publish(t.Context(), msg); !errors.Is(err, sinks.ErrInvalid) {
		t.Fatalf("Publish = %v, want ErrInvalid", err)
	}
}

// At start the sink says where it publishes: the node (password masked), exchange,
// queue and queue type.
func TestStartLogNamesBrokerAndTopology(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	var buf bytes.Buffer
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{
		URL: url, Exchange: top.Exchange, Queue: top.Queue, QueueType: "quorum",
		Logger: slog.New(slog.NewJSONHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var ready map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "rabbitmq sink ready" {
			ready = m
		}
	}
	if ready == nil {
		t.Fatalf("no start line in the log:\n%s", buf.String())
	}
	want := map[string]string{"node": sinks.RedactURL(url), "exchange": top.Exchange, "queue": top.Queue, "queue_type": "quorum"}
	for k, v := range want {
		if ready[k] != v {
			t.Errorf("start line %s = %v, want %q", k, ready[k], v)
		}
	}
	if u, _ := neturl.Parse(url); u != nil {
		if pw, ok := u.User.Password(); ok && strings.Contains(buf.String(), ":"+pw+"@") {
			t.Errorf("the log shows the broker password:\n%s", buf.String())
		}
	}
}

// Returns are matched to publishes by message id. Publishes of one id at once on one
// channel (a caller that does not coalesce them as the bridge does) must each still
// see the return of their own message: an unroutable message is never reported as
// confirmed.
func TestSameIDAtOnceUnroutableNeverConfirmed(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, Exchange: top.Exchange, QueueType: "classic", Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var confirmed atomic.Int32
	for round := range 200 {
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				err := s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("same-%d", round)))
				switch {
				case err == nil:
					confirmed.Add(1)
				case !errors.Is(err, rabbitmq.ErrUnroutable):
					t.Errorf("round %d: %v, want unroutable", round, err)
				}
			})
		}
		wg.Wait()
	}
	if n := confirmed.Load(); n > 0 {
		t.Errorf("%d of 600 unroutable publishes were reported confirmed", n)
	}
}
