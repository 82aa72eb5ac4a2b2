package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// pubChannel is one confirm-mode channel of the pool, with its basic.return
// bookkeeping.
//
// RabbitMQ sends basic.return before the basic.ack of the same message, and the
// client library hands the return to our buffered channel before it processes the
// ack. So when a publisher sees its ack, the return (if any) is already in the buffer
// or in the map. Every receive from the buffer happens under mu, by publishers, so no
// return is ever held where a publisher cannot see it.
//
// The library drops a return it cannot deliver within 5 s, and the publisher would
// then believe the ack: the buffer must never fill. Every publish drains it before
// and after, so it holds at most the returns of the publishes in flight on the
// channel and of those given up since the last drain; at most half the buffer's
// size are let in flight at once (slots), so it never fills.
type pubChannel struct {
	ch      *amqp.Channel
	returns chan amqp.Return
	slots   chan struct{}
	down    chan struct{}              // closed once the channel is closed
	reason  atomic.Pointer[amqp.Error] // why the broker closed it; set before down closes

	mu       sync.Mutex
	returned map[string]time.Time // message id → when its return arrived
}

const returnBuffer = 4096

func newPubChannel(ch *amqp.Channel) *pubChannel {
	pc := &pubChannel{ch: ch, returns: make(chan amqp.Return, returnBuffer), slots: make(chan struct{}, returnBuffer/2),
		down: make(chan struct{}), returned: make(map[string]time.Time)}
	ch.NotifyReturn(pc.returns)
	// Buffered: the library hands over the close reason before it nacks the
	// confirms, so a publisher that saw its nack finds the reason.
	closes := ch.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		if e, ok := <-closes; ok {
			pc.reason.Store(e)
		}
		close(pc.down)
	}()
	return pc
}

// refusal returns the broker's lasting refusal that closed the channel under a
// publish (403 ACCESS_REFUSED: no write permission on the exchange), as an error
// wrapping sinks.ErrRefused; nil for any other outcome. A channel closed for a
// missing exchange (404) is not one: the sink declares the exchange again when it
// reconnects.
//
// A refusal closes the channel under every publish on it; it is this publish's
// only if the broker's reason names this publish's exchange and, for a topic
// permission, its routing key. The others on the channel are not refused (a
// sender retries them, and they pass): one forbidden event must not make its
// channel-mates 502.
func (pc *pubChannel) refusal(ctx context.Context, exchange, key string) error {
	if !pc.ch.IsClosed() {
		return nil
	}
	select {
	case <-pc.down:
	case <-ctx.Done():
		return nil
	}
	e := pc.reason.Load()
	if e != nil && !concerns(e.Reason, exchange, key) {
		return nil
	}
	return refusalOf(e, "publish")
}

// concerns reports whether RabbitMQ's reason for refusing access ("write access to
// topic 'a.b' in exchange 'x' in vhost '/' refused for user 'u'", "access to
// exchange 'x' in vhost '/' refused …") is about the exchange and routing key
// given. A reason that names neither is taken to be about every publish.
func concerns(reason, exchange, key string) bool {
	if exchange == "" {
		exchange = "amq.default"
	}
	if strings.Contains(reason, "topic '") && !strings.Contains(reason, "topic '"+key+"'") {
		return false
	}
	if strings.Contains(reason, "exchange '") && !strings.Contains(reason, "exchange '"+exchange+"'") {
		return false
	}
	return true
}

// refusalOf is the refusal an AMQP error stands for, or nil: 403 ACCESS_REFUSED
// and 530 NOT_ALLOWED hold until an operator changes the user's permissions.
func refusalOf(e *amqp.Error, what string) error {
	if e == nil || e.Code != amqp.AccessRefused && e.Code != amqp.NotAllowed {
		return nil
	}
	return sinks.Classify(fmt.Errorf("rabbitmq: the broker refused the %s: %w (the user needs write permission on the exchange and configure permission to declare it: rabbitmqctl set_permissions)", what, e), sinks.ErrRefused)
}

func (pc *pubChannel) publish(ctx context.Context, calls *stall.Calls, exchange string, p amqp.Publishing, key string) error {
	select {
	case pc.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("rabbitmq: publish: %w", ctx.Err())
	}
	defer func() { <-pc.slots }()
	// A return left over from an earlier attempt with this id must not fail this one.
	pc.mu.Lock()
	pc.drainLocked()
	delete(pc.returned, p.MessageId)
	pc.mu.Unlock()

	// The library looks at ctx only before writing, and a write on a slow link, or
	// queued behind others on it, can last well past the deadline while it moves. So
	// the write runs in calls, and the publish ends at its deadline whatever the
	// write does: a write that moves is left to finish (the message may still reach
	// the broker, with its delivery id as message id, and the sender's retry makes
	// a copy consumers skip); one that moves nothing fails by itself (stall.Conn).
	var dc *amqp.DeferredConfirmation // read only when the call returned nil
	err := calls.Run(ctx, func() error {
		var err error
		dc, err = pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, p)
		return err
	})
	switch {
	case errors.Is(err, stall.ErrBackedUp):
		return fmt.Errorf("rabbitmq: publish: %w (%w)", sinks.ErrBackedUp, err)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("rabbitmq: publish: the write did not end by the deadline: %w", ctx.Err())
	case err != nil:
		if r := pc.refusal(ctx, exchange, key); r != nil {
			return r
		}
		return fmt.Errorf("rabbitmq: publish: %w", err)
	}
	if dc == nil {
		return errors.New("rabbitmq: channel is not in confirm mode")
	}
	acked, err := dc.WaitContext(ctx)
	pc.mu.Lock()
	pc.drainLocked()
	_, wasReturned := pc.returned[p.MessageId]
	delete(pc.returned, p.MessageId)
	pc.mu.Unlock()
	switch {
	case err != nil:
		return fmt.Errorf("rabbitmq: waiting for the confirm: %w", err)
	case wasReturned:
		return fmt.Errorf("%w (exchange %q, routing key %q)", ErrUnroutable, exchange, key)
	case !acked:
		if r := pc.refusal(ctx, exchange, key); r != nil {
			return r
		}
		return errNacked
	}
	return nil
}

// drainLocked moves every buffered return into the map. pc.mu must be held.
func (pc *pubChannel) drainLocked() {
	for {
		select {
		case r, ok := <-pc.returns:
			if !ok { // the channel is closed: nothing more will arrive
				pc.returns = nil
				return
			}
			now := time.Now()
			if len(pc.returned) >= returnBuffer {
				pc.forgetLocked(now)
			}
			pc.returned[r.MessageId] = now
		default:
			return
		}
	}
}

// forgetLocked forgets returns nobody claimed within a minute: their publisher gave
// up before the ack. pc.mu must be held.
func (pc *pubChannel) forgetLocked(now time.Time) {
	for id, at := range pc.returned {
		if now.Sub(at) > time.Minute {
			delete(pc.returned, id)
		}
	}
}
