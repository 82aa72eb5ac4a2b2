package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/wire"
	amqp "github.com/rabbitmq/amqp091-go"
)

// pubChannel is one confirm-mode channel of the pool, with its basic.return
// bookkeeping.
//
// RabbitMQ sends basic.return before the basic.ack of the same message, and the
// client library hands the return to our buffered channel before it processes the
// ack. So when a publisher sees its ack, the return (if any) is already in the buffer
// or in the map. Every receive from the buffer happens under mu — by publishers and
// by the supervisor's periodic sweep — so no return is ever held where a publisher
// cannot see it. The library drops a return it cannot deliver within 5 s; the
// buffer is large and swept every 100 ms so that never happens.
type pubChannel struct {
	ch      *amqp.Channel
	wire    *wire.Conn
	returns chan amqp.Return

	mu       sync.Mutex
	returned map[string]time.Time // message id → when its return arrived
}

const returnBuffer = 4096

func newPubChannel(ch *amqp.Channel, w *wire.Conn) *pubChannel {
	pc := &pubChannel{ch: ch, wire: w, returns: make(chan amqp.Return, returnBuffer), returned: make(map[string]time.Time)}
	ch.NotifyReturn(pc.returns)
	return pc
}

func (pc *pubChannel) publish(ctx context.Context, d *sinks.Detached, exchange string, p amqp.Publishing, key string) error {
	// A return left over from an earlier attempt with this id must not fail this one.
	pc.mu.Lock()
	pc.drainLocked()
	delete(pc.returned, p.MessageId)
	pc.mu.Unlock()

	// The library looks at ctx only before writing (package sinks/wire), and a write on a
	// slow link, or queued behind others on it, can last well past the deadline while it
	// moves. So the write runs on its own (sinks.Detached) and the publish ends at its
	// deadline whatever the write does: a write that moves is left to finish (the
	// message may still reach the broker, with its delivery id as message id, and the
	// sender's retry makes a copy consumers skip); one that moves nothing is cut.
	if err := d.Refuse(); err != nil {
		return fmt.Errorf("rabbitmq: publish: %w", err)
	}
	var dc *amqp.DeferredConfirmation
	err, left := d.Run(ctx, nil, func() error {
		returned := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { pc.wire.AbortIfStalled(returned) })
		defer func() {
			close(returned)
			stop()
		}()
		var err error
		dc, err = pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, p)
		return err
	})
	if left {
		return fmt.Errorf("rabbitmq: publish: the write did not end by the deadline: %w", ctx.Err())
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("rabbitmq: publish: %w", ctx.Err())
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
			pc.returned[r.MessageId] = time.Now()
		default:
			return
		}
	}
}

// sweep drains the buffer and forgets returns nobody claimed within a minute (their
// publisher gave up before the ack).
func (pc *pubChannel) sweep(now time.Time) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.drainLocked()
	for id, at := range pc.returned {
		if now.Sub(at) > time.Minute {
			delete(pc.returned, id)
		}
	}
}
