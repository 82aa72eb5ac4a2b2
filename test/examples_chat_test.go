package test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/schemas"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// chatRecorder is a chat's incoming webhook: it records what it receives and
// answers with the given statuses in turn (the last one from then on).
type chatRecorder struct {
	*httptest.Server
	mu       sync.Mutex
	received [][]byte
}

func newChatRecorder(t *testing.T, answers ...int) *chatRecorder {
	t.Helper()
	rec := &chatRecorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.received = append(rec.received, body)
		status := answers[min(len(rec.received), len(answers))-1]
		rec.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *chatRecorder) bodies() [][]byte {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([][]byte(nil), rec.received...)
}

func jobFailedSample(t *testing.T) []byte {
	t.Helper()
	b, err := fs.ReadFile(schemas.FS(), "samples/job.failed.json")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// The chat notifier posts AudioSpliter's Discord embed (or Slack message) for a
// job.completed, once, after the chat has made it wait, and only then acknowledges.
func TestChatNotifierExample(t *testing.T) {
	t.Parallel()

	t.Run("NATS, Discord, rate limited once", func(t *testing.T) {
		t.Parallel()
		s := natsUsersTLS(t) // the consumer's user has exactly the documented permissions
		b := startBridge(t, s.bridge)
		for _, d := range []struct {
			id   string
			body []byte
		}{{"chat-failed-1", jobFailedSample(t)}, {"chat-done-1", sample}} {
			if r := b.post(t, d.body, d.id).Status; r != 200 {
				t.Fatalf("POST %s = %d", d.id, r)
			}
		}
		rec := newChatRecorder(t, http.StatusTooManyRequests, http.StatusNoContent)
		code, out, took := exampleRun{lang: "go", name: "chatnotify", args: []string{"-count=1"},
			settings: with(s.consumer, "CHAT_WEBHOOK_URL", rec.URL+"/api/webhooks/123/SECRET-TOKEN")}.run(t)
		t.Logf("exit %d after %s:\n%s", code, took.Round(time.Millisecond), out)
		if code != 0 || strings.Contains(out, "SECRET-TOKEN") {
			t.Fatalf("exit %d, want 0 and no webhook token in the output", code)
		}
		got := rec.bodies()
		if len(got) != 2 || !bytes.Equal(got[0], got[1]) {
			t.Fatalf("the chat received %d posts, want the same one twice (429, then 204): %q", len(got), got)
		}
		var m struct {
			Username string
			Embeds   []struct {
				Title, Description, Timestamp string
				Color                         int
				Fields                        []struct{ Name, Value string }
				Footer                        struct{ Text string }
			}
		}
		if err := json.Unmarshal(got[0], &m); err != nil || len(m.Embeds) != 1 {
			t.Fatalf("not a Discord message with one embed: %v %s", err, got[0])
		}
		e := m.Embeds[0]
		if m.Username != "AudioSpliter" || e.Title != "Split job completed" ||
			e.Description != "Job `job_8f3a2c1e` finished: 2 segments, 22.25 s of audio." ||
			e.Footer.Text != "delivery chat-done-1" || e.Color != 0x2ecc71 {
			t.Errorf("embed: %s", got[0])
		}
		if _, err := time.Parse(time.RFC3339, e.Timestamp); err != nil {
			t.Errorf("timestamp %q: %v", e.Timestamp, err)
		}
		if len(e.Fields) != 2 || e.Fields[0].Value != "[Download](https://cdn.audiospliter.example/job_8f3a2c1e/0.mp3) · 12.5 s" ||
			e.Fields[1].Value != "[Download](https://cdn.audiospliter.example/job_8f3a2c1e/1.mp3) · 9.75 s" {
			t.Errorf("fields: %+v", e.Fields)
		}
		nc := s.admin(t)
		defer nc.Close()
		js, _ := jetstream.New(nc)
		cons, err := js.Consumer(t.Context(), "AUDIOSPLITER", "chat-notify")
		if err != nil {
			t.Fatal(err)
		}
		if info := cons.CachedInfo(); info.AckFloor.Stream != 2 || info.NumAckPending != 0 || info.NumPending != 0 {
			t.Errorf("consumer chat-notify: ack floor at stream sequence %d, %d pending ack, %d left; want the job.completed (2) acked",
				info.AckFloor.Stream, info.NumAckPending, info.NumPending)
		}
	})

	t.Run("RabbitMQ, Slack, a second copy", func(t *testing.T) {
		t.Parallel()
		n := rabbittest.StartNode(t, rabbittest.Options{})
		userURL := func(user, password string) string {
			return strings.Replace(n.URL, "guest:guest", user+":"+password, 1)
		}
		b := startBridge(t, map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": userURL("bridge", n.AddUser(t, "bridge"))})
		// The notifier's user, with exactly the permissions examples/README.md gives.
		const password = "chat-pw-3e8a"
		for _, line := range strings.Split(strings.TrimSpace(docBlock(t, "examples/README.md", "rabbitmq-chat-permissions")), "\n") {
			w := shellWords(t, line)
			for i := range w {
				if w[i] == "its-password" {
					w[i] = password
				}
			}
			n.Ctl(t, w[1:]...)
		}
		rec := newChatRecorder(t, http.StatusOK)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		var out testkit.LockedBuffer
		cmd := exampleRun{lang: "go", name: "chatnotify", args: []string{"rabbitmq", "-count=2"}, settings: map[string]string{
			"RABBITMQ_URL": userURL("audiospliter-chat", password), "CHAT_FORMAT": "slack", "CHAT_WEBHOOK_URL": rec.URL + "/services/T0/B0/SECRET",
		}}.start(t, ctx, &out)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		conn, err := amqp.Dial(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		testkit.Eventually(t, 30*time.Second, func() bool {
			ch, err := conn.Channel()
			if err != nil {
				return false
			}
			defer ch.Close()
			q, err := ch.QueueDeclarePassive("audiospliter.chat", true, false, false, false, nil)
			return err == nil && q.Consumers == 1
		}, "the notifier's queue audiospliter.chat with its consumer:\n%s", &out)

		for _, d := range []struct {
			id   string
			body []byte
		}{{"chat-rmq-failed", jobFailedSample(t)}, {"chat-rmq-1", sample}} {
			if r := b.post(t, d.body, d.id).Status; r != 200 {
				t.Fatalf("POST %s = %d", d.id, r)
			}
		}
		// A second copy of the job.completed, as a retry through another replica of
		// the bridge publishes one: taken from the bridge's own queue, published again.
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		var copied bool
		for range 2 {
			d, ok, err := ch.Get("audiospliter.events", true)
			if err != nil || !ok {
				t.Fatalf("audiospliter.events: %v %v", ok, err)
			}
			if d.MessageId == "chat-rmq-1" {
				copied = true
				if err := ch.PublishWithContext(t.Context(), "audiospliter", d.RoutingKey, true, false, amqp.Publishing{
					Headers: d.Headers, ContentType: d.ContentType, DeliveryMode: amqp.Persistent, MessageId: d.MessageId,
					Timestamp: d.Timestamp, Type: d.Type, AppId: d.AppId, Body: d.Body,
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !copied {
			t.Fatal("the job.completed is not on audiospliter.events")
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("notifier: %v\n%s", err, &out)
			}
		case <-ctx.Done():
			t.Fatalf("the notifier did not handle two messages:\n%s", &out)
		}
		t.Logf("notifier:\n%s", &out)
		got := rec.bodies()
		if len(got) != 1 {
			t.Fatalf("the chat received %d posts, want 1 (the copy skipped)", len(got))
		}
		if !strings.Contains(out.String(), "skipped chat-rmq-1: notified already") {
			t.Errorf("the notifier did not say it skipped the copy")
		}
		var m struct {
			Text   string
			Blocks []struct {
				Type     string
				Text     struct{ Text string }
				Elements []struct{ Text string }
			}
		}
		if err := json.Unmarshal(got[0], &m); err != nil {
			t.Fatal(err)
		}
		if m.Text != "Split job job_8f3a2c1e completed: 2 segments, 22.25 s of audio" || len(m.Blocks) != 4 ||
			m.Blocks[2].Text.Text != "• <https://cdn.audiospliter.example/job_8f3a2c1e/0.mp3|Segment 0> · 12.5 s\n• <https://cdn.audiospliter.example/job_8f3a2c1e/1.mp3|Segment 1> · 9.75 s" ||
			!strings.HasPrefix(m.Blocks[3].Elements[0].Text, "delivery chat-rmq-1 · ") {
			t.Errorf("Slack message: %s", got[0])
		}
		q, err := ch.QueueDeclarePassive("audiospliter.chat", true, false, false, false, nil)
		if err != nil || q.Messages != 0 {
			t.Errorf("audiospliter.chat: %d messages left (%v); want both copies acknowledged", q.Messages, err)
		}
	})
}
