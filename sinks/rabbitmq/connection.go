package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// session is one connection with its pool of confirm-mode channels.
type session struct {
	conn     *amqp.Connection
	frameMax int    // the frame_max negotiated with the broker (0: none), which bounds a message's properties (properties.go)
	sizes    *sizes // body sizes it has carried, and the broker's limit (oversize.go)
	channels []*pubChannel
	nacks    *nackWatch
	// The library sends on and then closes the channels it is given; chanDown is ours
	// and never closed, so the per-channel forwarders can always send on it.
	connDown chan *amqp.Error
	chanDown chan *amqp.Error
	blocked  chan amqp.Blocking
}

// connect dials one node (dial.go), declares the topology and opens the channel
// pool, all within setupTime.
func (s *Sink) connect(ctx context.Context, ep endpoint) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.setupTime())
	defer cancel()
	conn, err := s.dial(ctx, ep)
	if err != nil {
		return nil, err
	}
	sess := &session{
		conn:     conn,
		frameMax: conn.Config.FrameSize,
		nacks:    newNackWatch(),
		sizes:    newSizes(),
		connDown: make(chan *amqp.Error, 1),
		chanDown: make(chan *amqp.Error, s.cfg.Channels), // one send per channel at most
		blocked:  make(chan amqp.Blocking, 4),
	}
	// The declarations and channel openings wait for the broker's answers without a
	// context: a broker that stops answering after the handshake would hold them
	// until the heartbeat gives up. So they run in calls and end at ctx's end; the
	// connection is then closed, which ends them too.
	err = s.calls.Run(ctx, func() error { return s.setUp(ctx, sess) })
	if err != nil {
		if ctx.Err() == nil {
			_ = conn.CloseDeadline(time.Now().Add(closeWait))
			return nil, err
		}
		// A broker that does not answer would not answer the polite close either.
		_ = conn.CloseDeadline(time.Now())
		if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, fmt.Errorf("rabbitmq: connect to %s: the broker took the handshake but did not answer the declarations and channel openings in time: %w", ep.shown, err)
	}
	return sess, nil
}

// setupTime bounds connecting to one node: the dial and handshake, then the
// declarations and channels.
func (s *Sink) setupTime() time.Duration { return 3 * s.cfg.ConnectTimeout }

// setUp declares the topology and opens the channel pool and the probe channel of a
// session whose connection is open.
func (s *Sink) setUp(ctx context.Context, sess *session) error {
	conn := sess.conn
	if err := s.declare(conn); err != nil {
		return err
	}
	conn.NotifyClose(sess.connDown)
	conn.NotifyBlocked(sess.blocked)
	for range s.cfg.Channels {
		ch, err := conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			return fmt.Errorf("rabbitmq: open a confirm channel: %w", err)
		}
		forward := make(chan *amqp.Error, 1)
		ch.NotifyClose(forward)
		go func() { sess.chanDown <- <-forward }()
		sess.channels = append(sess.channels, newPubChannel(ch))
	}
	// Opened now, not on the first publish, which would wait for it. It runs in
	// calls of its own, nested: the slots bound calls, not their depth.
	_, err := sess.sizes.channel(ctx, s.calls, sess)
	return err
}

// declare creates the durable topic exchange and, when configured, the durable queue
// bound with "#". A refusal (say, an exchange of another type under that name) is a
// configuration error naming the field.
func (s *Sink) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitmq: open a channel: %w", err)
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(s.cfg.Exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return &sinks.ConfigError{Field: "Exchange", Err: fmt.Errorf("rabbitmq: declare exchange %q: %w", s.cfg.Exchange, err)}
	}
	// Each sender's own exchange, in a stable order so that a failure is the
	// same one every time. A refusal closes the channel: the error names the
	// sender, whose destination is at fault.
	for _, sender := range slices.Sorted(maps.Keys(s.cfg.SenderExchanges)) {
		x := s.cfg.SenderExchanges[sender]
		if err := ch.ExchangeDeclare(x, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return &sinks.ConfigError{Field: "SenderExchanges", Err: fmt.Errorf("rabbitmq: declare exchange %q of sender %q: %w", x, sender, err)}
		}
	}
	if s.cfg.Queue == "" {
		return nil
	}
	args := amqp.Table{amqp.QueueTypeArg: s.cfg.QueueType}
	if _, err := ch.QueueDeclare(s.cfg.Queue, true, false, false, false, args); err != nil {
		return &sinks.ConfigError{Field: "Queue", Err: fmt.Errorf("rabbitmq: declare %s queue %q: %w", s.cfg.QueueType, s.cfg.Queue, err)}
	}
	if err := ch.QueueBind(s.cfg.Queue, "#", s.cfg.Exchange, false, nil); err != nil {
		return &sinks.ConfigError{Field: "Queue", Err: fmt.Errorf("rabbitmq: bind queue %q: %w", s.cfg.Queue, err)}
	}
	return nil
}

// supervise watches the session: it tracks connection.blocked, and
// when the connection or any channel dies it drops the session (publishes then fail
// fast as retryable) and reconnects with backoff until Close.
func (s *Sink) supervise(sess *session) {
	defer close(s.done)
	blocked := sess.blocked
	for {
		var down *amqp.Error
		select {
		case <-s.closing:
			s.drop(sess)
			return
		case b, ok := <-blocked:
			if !ok {
				blocked = nil // the connection is closing; connDown follows
				continue
			}
			s.blocked.Store(b.Active)
			if b.Active {
				s.log.Warn("rabbitmq blocked the connection", "reason", b.Reason)
			} else {
				s.log.Info("rabbitmq unblocked the connection")
			}
			continue
		case down = <-sess.connDown:
			s.log.Warn("rabbitmq connection lost; reconnecting", "err", errString(down))
		case down = <-sess.chanDown:
			// Not the network: the broker closed a channel (a refused publish, a
			// deleted exchange), which the log should say in its own words.
			s.log.Warn("rabbitmq closed a channel; reconnecting to declare the topology again", "err", errString(down))
		case <-sess.nacks.stuck:
			down = &amqp.Error{Code: amqp.InternalError, Reason: "every publish nacked for a while, none acked: connecting anew"}
			s.log.Warn("rabbitmq nacks every publish; reconnecting", "err", errString(down))
		}
		// A dead channel fails every publish on it, and may mean the topology is gone
		// (exchange deleted): start over with a new connection and declare again.
		s.drop(sess)
		next := s.reconnect()
		if next == nil {
			return // closing
		}
		sess, blocked = next, next.blocked
	}
}

// drop makes the session unusable for new publishes and closes it; publishes
// waiting for a confirm on it wake with a nack and are retried by the bridge.
func (s *Sink) drop(sess *session) {
	s.mu.Lock()
	if s.session == sess {
		s.session = nil
	}
	s.mu.Unlock()
	s.blocked.Store(false)
	// The deadline also ends a write blocked on a broker that does not read.
	_ = sess.conn.CloseDeadline(time.Now().Add(closeWait))
}

// closeWait bounds the polite close of a connection (connection.close and its ok).
const closeWait = time.Second

// reconnect tries until it succeeds or the sink closes (then it returns nil).
func (s *Sink) reconnect() *session {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second),
		backoff.WithMaxElapsedTime(0),
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	var sess *session
	err := backoff.RetryNotify(func() error {
		var err error
		sess, err = s.connectAny(ctx)
		return err
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		// A refusal that holds (a user or a permission removed) answers the
		// publishes meanwhile 502, and Ready says so, until a reconnect succeeds.
		var amqpErr *amqp.Error
		if errors.As(err, &amqpErr) {
			if refusalOf(amqpErr, "connection") != nil {
				r := sinks.Classify(fmt.Errorf("rabbitmq: reconnecting: %w", err), sinks.ErrRefused)
				s.connRefused.Store(&r)
			}
		}
		s.log.Warn("rabbitmq reconnect failed", "err", err, "retry_in", wait.String())
	})
	if err != nil {
		return nil
	}
	s.connRefused.Store(nil)
	s.mu.Lock()
	if s.gate.IsShut() {
		s.mu.Unlock()
		_ = sess.conn.CloseDeadline(time.Now().Add(closeWait))
		return nil
	}
	s.session = sess
	s.mu.Unlock()
	s.cfg.Metrics.Reconnected()
	return sess
}

func errString(e *amqp.Error) string {
	if e == nil {
		return "closed"
	}
	return e.Error()
}
