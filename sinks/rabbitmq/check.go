package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// probeKey is the routing key Check probes for publish permission: the seed's
// event, which every AudioSpliter deployment sends.
const probeKey = "job.completed"

// Check checks what the sink needs, with cfg as New would use it: each node's
// connection (TLS, authentication, the virtual host), the exchange and the queue
// (whether they exist; the bridge declares the missing ones at start), and the
// permission to publish to the exchange. It declares nothing and stores nothing:
// exchange and queue are looked up passively, and the publish probe has an
// expiration the broker refuses after its permission checks (probe.go).
func Check(ctx context.Context, cfg Config) []sinks.CheckResult {
	cfg = withDefaults(cfg)
	s := &Sink{cfg: cfg, log: cfg.Logger, calls: stall.NewCalls(cfg.MaxCalls)}
	s.sockets.Interval = cfg.StallInterval
	defer s.sockets.Cut()
	if err := s.prepare(); err != nil {
		return []sinks.CheckResult{sinks.Failed("configuration", err)}
	}
	var out []sinks.CheckResult
	var conn *amqp.Connection
	for _, ep := range s.nodes {
		name := "connect " + ep.shown
		dialCtx, cancel := context.WithTimeout(ctx, s.setupTime())
		c, err := s.dial(dialCtx, ep)
		cancel()
		if err != nil {
			out = append(out, sinks.Failed(name, err))
			continue
		}
		auth := "PLAIN"
		if len(c.Config.SASL) > 0 {
			auth = c.Config.SASL[0].Mechanism()
		}
		version, _ := c.Properties["version"].(string)
		out = append(out, sinks.Passed(name, fmt.Sprintf("RabbitMQ %s, TLS %v, auth %s, virtual host %q", version, ep.tls, auth, c.Config.Vhost)))
		if conn == nil {
			conn = c
		} else {
			_ = c.CloseDeadline(time.Now().Add(closeWait))
		}
	}
	if conn == nil {
		return out
	}
	defer func() { _ = conn.CloseDeadline(time.Now().Add(closeWait)) }() // a check: nothing to lose
	// The bridge starts and publishes while one node answers (a cluster during a
	// rolling upgrade): the others away are a warning, not a reason to exit 2.
	for i := range out {
		if err := out[i].Err; err != nil {
			const also = "(the bridge connects to a node that answers)"
			if ce, ok := errors.AsType[*sinks.ConfigError](err); ok {
				ce.Err = fmt.Errorf("%w %s", ce.Err, also) // the field stays what names it
			} else {
				err = fmt.Errorf("%w %s", err, also)
			}
			out[i] = sinks.Warned(out[i].Name, err)
		}
	}

	exchangeName := "exchange " + cfg.Exchange
	exists, err := s.passive(ctx, conn, func(ch *amqp.Channel) error {
		return ch.ExchangeDeclarePassive(cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	})
	exchangeExists := exists
	switch {
	case err != nil:
		out = append(out, sinks.Failed(exchangeName, &sinks.ConfigError{Field: "Exchange", Err: fmt.Errorf("rabbitmq: look up exchange %q: %w", cfg.Exchange, err)}))
	case exists:
		out = append(out, sinks.Passed(exchangeName, "exists"))
	default:
		out = append(out, sinks.Passed(exchangeName, "missing: the bridge declares it at start, a durable topic exchange (the user needs configure permission on it)"))
	}

	if cfg.Queue != "" {
		queueName := "queue " + cfg.Queue
		var q amqp.Queue
		exists, err := s.passive(ctx, conn, func(ch *amqp.Channel) error {
			var err error
			q, err = ch.QueueDeclarePassive(cfg.Queue, true, false, false, false, nil)
			return err
		})
		switch {
		case err != nil:
			out = append(out, sinks.Failed(queueName, &sinks.ConfigError{Field: "Queue", Err: fmt.Errorf("rabbitmq: look up queue %q: %w", cfg.Queue, err)}))
		case exists:
			out = append(out, sinks.Passed(queueName, fmt.Sprintf("exists: %d messages, %d consumers", q.Messages, q.Consumers)))
		default:
			out = append(out, sinks.Passed(queueName, fmt.Sprintf("missing: the bridge declares it at start, a durable %s queue bound with # (configure permission on it, write on it and read on the exchange to bind it)", cfg.QueueType)))
		}
	}

	out = append(out, s.checkPublish(ctx, conn, cfg.Exchange, probeKey, exchangeExists, "Exchange"))

	// Each sender's own exchange: declared at start like the default one; binding
	// queues to it is the operator's (until then its deliveries are unroutable).
	for _, sender := range slices.Sorted(maps.Keys(cfg.SenderExchanges)) {
		x := cfg.SenderExchanges[sender]
		name := fmt.Sprintf("exchange %s (sender %s)", x, sender)
		exists, err := s.passive(ctx, conn, func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(x, amqp.ExchangeTopic, true, false, false, false, nil)
		})
		switch {
		case err != nil:
			out = append(out, sinks.Failed(name, &sinks.ConfigError{Field: "SenderExchanges", Err: fmt.Errorf("rabbitmq: look up exchange %q of sender %q: %w", x, sender, err)}))
			continue
		case exists:
			out = append(out, sinks.Passed(name, "exists (bind a queue to it, or its deliveries are answered 503 unroutable)"))
		default:
			out = append(out, sinks.Passed(name, "missing: the bridge declares it at start, a durable topic exchange; then bind a queue to it"))
		}
		out = append(out, s.checkPublish(ctx, conn, x, sender+"."+probeKey, exists, "SenderExchanges"))
	}
	return out
}

// checkPublish probes the permission to publish to exchange with key, when it
// exists; field is the Config field a refusal is blamed on besides the URL.
func (s *Sink) checkPublish(ctx context.Context, conn *amqp.Connection, exchange, key string, exists bool, field string) sinks.CheckResult {
	name := fmt.Sprintf("publish to %s with routing key %s", exchange, key)
	if !exists {
		return sinks.Skipped(name, "the exchange does not exist yet: the broker can tell only once it does")
	}
	if err := s.probeOn(ctx, conn, exchange, key); err != nil {
		if errors.Is(err, sinks.ErrRefused) {
			err = &sinks.ConfigError{Field: "URL", Also: []string{field}, Err: err}
		}
		return sinks.Failed(name, err)
	}
	return sinks.Passed(name, "allowed (the probe was refused for its expiration: nothing routed)")
}

// passive runs a passive declaration on a channel of its own: true when the
// exchange or queue exists, false when the broker says 404 (it closes that
// channel), an error for anything else.
func (s *Sink) passive(ctx context.Context, conn *amqp.Connection, declare func(*amqp.Channel) error) (exists bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	err = s.calls.Run(ctx, func() error {
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		defer ch.Close()
		return declare(ch)
	})
	var amqpErr *amqp.Error
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound:
		return false, nil
	}
	return false, err
}
