package rabbitmq_test

import (
	"errors"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// A sender with an exchange of its own: the sink declares it at start as a durable
// topic exchange, publishes that sender's messages there with their route as
// routing key, and every other sender's to the default exchange, on one
// connection. With no queue bound to the sender's exchange a publish is
// unroutable (sinks.ErrUnroutable), never a success, and the default queue is not
// "healed" for it.
func TestSenderExchange(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	own := rabbittest.NewTopology(t, url) // the billing sender's exchange and a queue for it
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{
		URL: url, Exchange: top.Exchange, Queue: top.Queue,
		SenderExchanges: map[string]string{"billing": own.Exchange},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// Declared at start, durable, topic: a passive declaration of another kind fails.
	if err := ch.ExchangeDeclarePassive(own.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		t.Fatalf("the sender's exchange was not declared as a durable topic exchange: %v", err)
	}

	billing := sinktest.NewSenderMessage("billing", "evt_1")
	billing.Route = "billing.invoice.paid"
	err = s.Publish(t.Context(), billing)
	if !errors.Is(err, sinks.ErrUnroutable) || !errors.Is(err, rabbitmq.ErrUnroutable) || !errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("publish to the sender's exchange with no queue bound = %v, want ErrUnroutable", err)
	}

	if _, err := ch.QueueDeclare(own.Queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(own.Queue, "billing.#", own.Exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), billing); err != nil {
		t.Fatalf("publish once a queue is bound: %v", err)
	}
	other := sinktest.NewSenderMessage("partner", "evt_1")
	if err := s.Publish(t.Context(), other); err != nil {
		t.Fatalf("publish of a sender without an exchange of its own: %v", err)
	}

	d := (&rabbittest.Reader{URL: url, Queue: own.Queue}).Read(t, 1)
	if len(d) != 1 || d[0].Exchange != own.Exchange || d[0].RoutingKey != billing.Route || d[0].MessageId != "billing:evt_1" {
		t.Fatalf("the sender's queue holds %d messages; first: exchange %q key %q id %q", len(d), d[0].Exchange, d[0].RoutingKey, d[0].MessageId)
	}
	sinktest.AssertCarries(t, rabbittest.Received(d)[0], billing)
	d = (&rabbittest.Reader{URL: url, Queue: top.Queue}).Read(t, 1)
	if len(d) != 1 || d[0].Exchange != top.Exchange || d[0].RoutingKey != "partner.job.completed" || d[0].MessageId != "partner:evt_1" {
		t.Fatalf("the default queue holds %d messages; first: exchange %q key %q id %q", len(d), d[0].Exchange, d[0].RoutingKey, d[0].MessageId)
	}
	if system, dest := s.Describe(billing); system != "rabbitmq" || dest != own.Exchange {
		t.Errorf("Describe(billing) = %s %s, want the sender's exchange", system, dest)
	}
}

// A sender's exchange that cannot be declared (one of another type under that
// name) stops the start, naming the sender.
func TestSenderExchangeRefusedAtStart(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	own := rabbittest.NewTopology(t, url)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if err := ch.ExchangeDeclare(own.Exchange, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	_, err = rabbitmq.New(t.Context(), rabbitmq.Config{
		URL: url, Exchange: top.Exchange, SenderExchanges: map[string]string{"billing": own.Exchange},
	})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "SenderExchanges" {
		t.Fatalf("New = %v, want a ConfigError on SenderExchanges", err)
	}
	if want := `sender "billing"`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}
