package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/examples/go/internal/connect"
)

// natsSource reads job.completed through a durable consumer of its own.
type natsSource struct {
	conn                      connect.NATS
	stream, subject, consumer string
}

func (c *natsSource) flags(fs *flag.FlagSet) {
	c.conn.Flags(fs)
	connect.String(fs, &c.stream, "stream", "NATS_STREAM", "AUDIOSPLITER", "the stream, as BRIDGE_NATS_STREAM")
	connect.String(fs, &c.subject, "subject", "NATS_SUBJECT", "audiospliter.job.completed", "the subject of job.completed: BRIDGE_NATS_SUBJECT_PREFIX + .job.completed")
	connect.String(fs, &c.consumer, "consumer", "NATS_CONSUMER", "chat-notify", "durable consumer name (created if missing)")
}

func (c *natsSource) run(ctx context.Context, n *notifier) error {
	nc, err := c.conn.Connect("audiospliter-chatnotify", connect.Common{ConnectTimeout: n.connectTimeout})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
		Durable: c.consumer, FilterSubject: c.subject, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("consumer %s on stream %s: %w", c.consumer, c.stream, err)
	}
	for !n.done() {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, nats.ErrTimeout):
			continue // nothing new within the wait: ask again
		case err != nil:
			return err
		}
		h := msg.Headers()
		keep := func() { _ = msg.InProgress() } // restart the ack wait while the chat makes us wait
		out, err := n.handle(ctx, h.Get("ce-id"), h.Get("audiospliter-event"), h.Get("ce-time"), msg.Data(), keep)
		if err != nil {
			return err // not acknowledged: it stays for after the webhook is fixed
		}
		if out == retry {
			if err := msg.NakWithDelay(30 * time.Second); err != nil {
				return err
			}
			continue
		}
		if err := msg.DoubleAck(ctx); err != nil {
			return fmt.Errorf("acknowledge: %w", err)
		}
	}
	return nil
}

// rabbitSource reads job.completed from a queue of its own, which it declares and
// binds to the bridge's exchange with the routing key job.completed.
type rabbitSource struct {
	conn            connect.RabbitMQ
	exchange, queue string
}

func (c *rabbitSource) flags(fs *flag.FlagSet) {
	c.conn.Flags(fs)
	connect.String(fs, &c.exchange, "exchange", "RABBITMQ_EXCHANGE", "audiospliter", "the bridge's exchange, as BRIDGE_RABBITMQ_EXCHANGE")
	connect.String(fs, &c.queue, "queue", "RABBITMQ_QUEUE", "audiospliter.chat", "the notifier's own queue (declared and bound to job.completed)")
}

func (c *rabbitSource) run(ctx context.Context, n *notifier) error {
	conn, err := c.conn.Dial("audiospliter-chatnotify", connect.Common{ConnectTimeout: n.connectTimeout})
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(1, 0, false); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(c.queue, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare queue %s: %w", c.queue, err)
	}
	if err := ch.QueueBind(c.queue, "job.completed", c.exchange, false, nil); err != nil {
		return fmt.Errorf("bind queue %s to exchange %s: %w", c.queue, c.exchange, err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	deliveries, err := ch.ConsumeWithContext(ctx, c.queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.queue, err)
	}
	for !n.done() {
		var d amqp.Delivery
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok = <-deliveries:
			if !ok {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				select {
				case e := <-closed:
					return fmt.Errorf("the broker ended the consumer on %s: %w", c.queue, e)
				case <-time.After(time.Second):
					return fmt.Errorf("the broker ended the consumer on %s", c.queue)
				}
			}
		}
		ceTime, _ := d.Headers["ce-time"].(string)
		out, err := n.handle(ctx, d.MessageId, d.Type, ceTime, d.Body, func() {})
		if err != nil {
			return err // not acknowledged: it goes back to the queue as the connection closes
		}
		if out == retry {
			select { // the broker would hand it back at once: wait first
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(30 * time.Second):
			}
			if err := d.Nack(false, true); err != nil {
				return err
			}
			continue
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("acknowledge: %w", err)
		}
	}
	return nil
}
