// Command chatnotify posts a chat notification for every job.completed the bridge
// published: a Discord embed (the job, each segment's download link and length), or
// the same as a Slack message, to a chat's incoming-webhook URL. It reads from NATS
// JetStream (a durable consumer filtered on job.completed) or from RabbitMQ (a queue
// of its own bound to the exchange with the routing key job.completed), skips a
// delivery id it has already notified, and acknowledges a message only once the chat
// has accepted its notification.
//
//	go run ./examples/go/chatnotify -webhook-url https://discord.com/api/webhooks/ID/TOKEN
//	go run ./examples/go/chatnotify rabbitmq -url amqp://guest:guest@localhost:5672/ \
//	  -webhook-url https://hooks.slack.com/services/T…/B…/…
//
// The first argument picks the broker (nats, the default, or rabbitmq; or $BROKER);
// the broker's flags are those of the other examples, with the same variables
// (-h lists them). It runs until interrupted, or until it has handled -count
// messages.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/audiospliter/audiospliter-bridge/examples/go/internal/connect"
)

// settings common to both brokers.
type settings struct {
	webhook, format string
	count           int
	connectTimeout  time.Duration
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("chatnotify: ")
	broker := connect.Env("BROKER", "nats")
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "nats" || args[0] == "rabbitmq") {
		broker, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("chatnotify "+broker, flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: chatnotify [nats|rabbitmq] [flags]\nflags with %s:\n", broker)
		fs.PrintDefaults()
	}
	var s settings
	connect.String(fs, &s.webhook, "webhook-url", "CHAT_WEBHOOK_URL", "", "the chat's incoming-webhook URL (Discord or Slack); required")
	connect.String(fs, &s.format, "format", "CHAT_FORMAT", "", "discord or slack (default: slack for a hooks.slack.com URL, else discord)")
	fs.IntVar(&s.count, "count", 0, "stop after this many messages (0: run until interrupted)")
	connect.Duration(fs, &s.connectTimeout, "connect-timeout", "CONNECT_TIMEOUT", 5*time.Second, "how long to wait for the broker to answer a connection")

	var run func(ctx context.Context, n *notifier) error
	switch broker {
	case "nats":
		var c natsSource
		c.flags(fs)
		run = c.run
	case "rabbitmq":
		var c rabbitSource
		c.flags(fs)
		run = c.run
	default:
		log.Fatalf("BROKER=%q: nats or rabbitmq (on SQS, notify from the consumer that owns the queue)", broker)
	}
	_ = fs.Parse(args)
	if s.webhook == "" {
		log.Fatal("set -webhook-url or CHAT_WEBHOOK_URL")
	}
	if s.format == "" {
		s.format = formatFor(s.webhook)
	}
	if s.format != "discord" && s.format != "slack" {
		log.Fatalf("-format %q: discord or slack", s.format)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := &notifier{settings: s, chat: &chat{url: s.webhook, format: s.format, client: &http.Client{}}, seen: newSeen(10000)}
	fmt.Printf("notifying %s (%s) of job.completed from %s\n", redactURL(s.webhook), s.format, broker)
	if err := run(ctx, n); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// outcome is what becomes of a message.
type outcome int

const (
	ack   outcome = iota // notified, or notified before: acknowledge
	retry                // the chat is unavailable for now: deliver it again later
)

// notifier turns messages into notifications, once per delivery id.
type notifier struct {
	settings
	chat    *chat
	seen    *seen
	handled int
}

// handle notifies the chat of one message. An error is one a retry will not fix
// (the chat refuses the webhook): the caller stops without acknowledging.
func (n *notifier) handle(ctx context.Context, delivery, event, ceTime string, body []byte, keep func()) (outcome, error) {
	n.handled++
	switch {
	case event != "job.completed":
		fmt.Printf("skipped %s: event %s\n", delivery, event)
		return ack, nil
	case n.seen.has(delivery):
		// A second copy (RabbitMQ has no dedup; a retry through another replica of
		// the bridge can publish one): notified already.
		fmt.Printf("skipped %s: notified already\n", delivery)
		return ack, nil
	}
	var job jobCompleted
	if err := json.Unmarshal(body, &job); err != nil {
		fmt.Printf("skipped %s: body is not a job.completed: %v\n", delivery, err)
		return ack, nil
	}
	status, err := n.chat.post(ctx, notice{Job: job, Delivery: delivery, Time: ceTime}, keep)
	if r := (*refused)(nil); errors.As(err, &r) {
		return retry, err
	}
	if err != nil {
		fmt.Printf("not notified %s: %v; delivering it again later\n", delivery, err)
		return retry, nil
	}
	n.seen.add(delivery)
	fmt.Printf("notified: job %s, delivery %s (%s answered %d)\n", job.JobID, delivery, n.format, status)
	return ack, nil
}

// done reports whether -count messages have been handled.
func (n *notifier) done() bool { return n.count > 0 && n.handled >= n.count }

// seen remembers the last max delivery ids notified. A real consumer keeps them
// where they survive a restart (its database), for longer than senders retry.
type seen struct {
	max   int
	ids   map[string]bool
	order []string
}

func newSeen(max int) *seen { return &seen{max: max, ids: map[string]bool{}} }

func (s *seen) has(id string) bool { return s.ids[id] }

func (s *seen) add(id string) {
	s.ids[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
}
