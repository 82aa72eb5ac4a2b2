package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// A body over the broker's max_message_size makes RabbitMQ close the channel it came
// on (406 PRECONDITION_FAILED), which nacks every other publish in flight on that
// channel, and the limit is not announced: it is learned only by being refused. So a
// body larger than any this connection has had acked goes alone on a channel of its
// own, one at a time: a refusal then closes that channel only, is told apart from
// every other failure by the size in the broker's reason, and answers that request
// with sinks.ErrTooLarge. The limit it names refuses later bodies before sending.
// Sizes already acked go to the pool as before, so this costs a detour for the first
// message of each new largest size on a connection, nothing after.

// sizes is what one connection has learned about body sizes.
type sizes struct {
	accepted atomic.Int64  // largest body acked (or returned) on this connection
	limit    atomic.Int64  // max_message_size from a refusal; 0: unknown
	turn     chan struct{} // one untried size at a time

	// Held with turn.
	probe     *pubChannel
	probeDown chan *amqp.Error
}

func newSizes() *sizes { return &sizes{turn: make(chan struct{}, 1)} }

// refusal is RabbitMQ's reason for closing a channel over a body too large.
var refusal = regexp.MustCompile(`message size (\d+) is larger than configured max size (\d+)`)

func (z *sizes) tooLarge(size int64) error {
	if limit := z.limit.Load(); limit > 0 && size > limit {
		return fmt.Errorf("rabbitmq: %w: a body of %d bytes is over the broker's max_message_size of %d", sinks.ErrTooLarge, size, limit)
	}
	return nil
}

func (z *sizes) accept(size int64) {
	for {
		old := z.accepted.Load()
		if size <= old || z.accepted.CompareAndSwap(old, size) {
			return
		}
	}
}

// publishSized publishes p on a pool channel, or, when its body is larger than any
// this connection has carried, alone on the probe channel.
func (s *Sink) publishSized(ctx context.Context, sess *session, p amqp.Publishing, exchange, key string) error {
	z := sess.sizes
	size := int64(len(p.Body))
	if err := z.tooLarge(size); err != nil {
		return err
	}
	pool := func() error {
		pc := sess.channels[s.next.Add(1)%uint64(len(sess.channels))]
		return pc.publish(ctx, s.calls, exchange, p, key)
	}
	if size <= z.accepted.Load() {
		return pool()
	}
	select {
	case z.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("rabbitmq: publish: %w", ctx.Err())
	}
	if err := z.tooLarge(size); err != nil {
		<-z.turn
		return err
	}
	if size <= z.accepted.Load() { // proved while this one waited its turn
		<-z.turn
		return pool()
	}
	defer func() { <-z.turn }()
	pc, err := z.channel(ctx, s.calls, sess)
	if err != nil {
		return err
	}
	err = pc.publish(ctx, s.calls, exchange, p, key)
	if err == nil || errors.Is(err, ErrUnroutable) { // a returned message passed the size check
		z.accept(size)
		return err
	}
	select {
	case down := <-z.probeDown:
		z.probe = nil
		m := refusal.FindStringSubmatch(reasonOf(down))
		if m == nil {
			// Closed for another reason (say, the exchange was deleted): that is the
			// supervisor's business, as for a channel of the pool.
			if down != nil {
				select {
				case sess.chanDown <- down:
				default: // the supervisor is already starting over
				}
			}
			return err
		}
		refused, _ := strconv.ParseInt(m[1], 10, 64)
		limit, _ := strconv.ParseInt(m[2], 10, 64)
		z.limit.Store(limit)
		if refused != size {
			return err // an earlier publish on this channel, given up on, was the one refused
		}
		s.log.Warn("rabbitmq refused a message over its max_message_size; larger bodies are refused from now on", "size", size, "max_message_size", limit)
		return fmt.Errorf("rabbitmq: %w: the broker refused a body of %d bytes (max_message_size %d)", sinks.ErrTooLarge, size, limit)
	default:
		return err
	}
}

// channel returns the probe channel, opening a new one if there is none or the broker
// closed it. It runs with turn held. Opening waits for the broker's answers, which
// amqp091-go waits for without a context, so it runs in calls: it ends at the
// publish's deadline, and a channel opened after that is closed.
func (z *sizes) channel(ctx context.Context, calls *stall.Calls, sess *session) (*pubChannel, error) {
	if z.probe != nil && !z.probe.ch.IsClosed() {
		return z.probe, nil
	}
	ch, err := stall.Open(ctx, calls, func() (*amqp.Channel, error) {
		ch, err := sess.conn.Channel()
		if err != nil {
			return nil, err
		}
		if err := ch.Confirm(false); err != nil {
			_ = ch.Close()
			return nil, err
		}
		return ch, nil
	}, func(ch *amqp.Channel) { _ = ch.Close() })
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: open a confirm channel: %w", err)
	}
	// Buffered: the library hands over the close reason before it nacks the confirms,
	// so a publisher that saw its nack finds the reason here.
	z.probeDown = ch.NotifyClose(make(chan *amqp.Error, 1))
	z.probe = newPubChannel(ch)
	return z.probe, nil
}

func reasonOf(e *amqp.Error) string {
	if e == nil || e.Code != amqp.PreconditionFailed {
		return ""
	}
	return e.Reason
}
