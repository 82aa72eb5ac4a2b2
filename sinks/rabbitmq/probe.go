package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// AMQP has no method that asks whether a user may publish. But RabbitMQ checks a
// basic.publish in a fixed order: the write permission on the exchange (403), the
// exchange's existence (404), the topic permission on the routing key (403), and
// only then the message's properties, among them the expiration, which must be a
// number of milliseconds (406 PRECONDITION_FAILED otherwise). So a publish with an
// expiration that is not a number, on a channel of its own, is refused whatever the
// user may do, and how it is refused tells whether the user may publish there:
// nothing is routed or stored.

// probeExpiration is the expiration of a probe: not a number, refused by the broker.
const probeExpiration = "audiospliter-bridge-permission-probe"

// Probe reports whether the broker lets this connection publish to the exchange
// with routing key key, without storing anything: nil when it may, an error
// wrapping sinks.ErrRefused when the broker refuses (no write permission, no such
// exchange), another error when it did not tell.
func (s *Sink) Probe(ctx context.Context, key string) error {
	return s.probeExchange(ctx, s.cfg.Exchange, key)
}

// probeDest is Probe of a destination that probeDest(exchange, key) made: the
// exchange may be a sender's own.
func (s *Sink) probeDest(ctx context.Context, dest string) error {
	exchange, key, _ := strings.Cut(dest, "\x00")
	return s.probeExchange(ctx, exchange, key)
}

// probeDest names what a refused publish went to, for sinks.Refusal: the exchange
// and the routing key.
func probeDest(exchange, key string) string { return exchange + "\x00" + key }

func (s *Sink) probeExchange(ctx context.Context, exchange, key string) error {
	s.mu.RLock()
	sess := s.session
	s.mu.RUnlock()
	if sess == nil {
		if r := s.connRefused.Load(); r != nil {
			return *r
		}
		return errNotConnected
	}
	return s.probeOn(ctx, sess.conn, exchange, key)
}

// probeOn is Probe on conn, of exchange.
func (s *Sink) probeOn(ctx context.Context, conn *amqp.Connection, exchange, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	var reason *amqp.Error
	err := s.calls.Run(ctx, func() error {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("rabbitmq: probe: open a channel: %w", err)
		}
		defer ch.Close()
		closed := ch.NotifyClose(make(chan *amqp.Error, 1))
		if err := ch.PublishWithContext(ctx, exchange, key, false, false, amqp.Publishing{Expiration: probeExpiration}); err != nil {
			return fmt.Errorf("rabbitmq: probe: %w", err)
		}
		// A call the broker answers in order, after the publish: when it comes
		// back, the publish was judged. basic.qos needs no permission.
		_ = ch.Qos(0, 0, false)
		select {
		case e, ok := <-closed:
			if !ok {
				// Closed without the broker's word: the connection is going.
				return errors.New("rabbitmq: probe: the connection closed before the broker answered")
			}
			reason = e
		case <-time.After(probeWait):
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case reason == nil:
		// Not refused: the broker took a message it should have refused. It holds
		// no body and no id; say so rather than call the user allowed.
		return errors.New("rabbitmq: probe: the broker did not refuse a message with an invalid expiration")
	case reason.Code == amqp.PreconditionFailed && strings.Contains(strings.ToLower(reason.Reason), "expiration"):
		return nil
	case reason.Code == amqp.NotFound:
		return sinks.Classify(fmt.Errorf("rabbitmq: the broker has no exchange %q: %w", exchange, reason), sinks.ErrRefused)
	}
	if r := refusalOf(reason, "publish"); r != nil {
		return r
	}
	return fmt.Errorf("rabbitmq: probe: %w", reason)
}

// probeWait bounds the wait for the close that follows the broker's refusal of a
// probe, once its basic.qos has come back.
const probeWait = time.Second
