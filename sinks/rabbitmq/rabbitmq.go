// Package rabbitmq is the RabbitMQ sink. It publishes persistent, mandatory
// messages to a durable topic exchange with the event (or the message's Route) as
// routing key, on a small pool of confirm-mode channels so that many publishes wait
// for their confirms at once. A sender of the bridge's senders file may have an
// exchange of its own (Config.SenderExchanges), declared like the default one on
// the same connection.
//
// A publish counts only when the broker acks it and did not return it first: for an
// unroutable mandatory message RabbitMQ sends basic.return and then basic.ack, so
// returns are correlated by message id before an ack is believed (returns.go).
// When the connection or a channel dies, in-flight publishes fail as retryable, and
// a supervisor reconnects with backoff and declares the topology again
// (connection.go).
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Config is the sink's whole configuration; zero values take the docs/configuration.md defaults,
// except Queue: empty means no queue is declared.
type Config struct {
	URL      string // default amqp://guest:guest@localhost:5672/; a cluster's nodes separated by commas
	TLS      TLS    // files for amqps:// URLs
	Exchange string // default audiospliter
	// SenderExchanges maps a sender's name (sinks.Message.Sender) to an exchange
	// of its own, declared at start (and on every reconnect) as a durable topic
	// exchange like Exchange. Binding queues to it is the operator's: with none
	// bound, its messages are unroutable (ErrUnroutable). Senders not named here
	// publish to Exchange.
	SenderExchanges map[string]string
	Queue           string // declared and bound with # when not empty
	QueueType       string // classic (default) or quorum
	Channels        int    // confirm-mode channels in the pool; default 4
	ConnectTimeout  time.Duration
	Logger          *slog.Logger
	Metrics         *sinks.Metrics // nil: none

	// StallInterval: a write to a broker that takes no data for this long fails
	// and the connection is made anew (default stall.Interval).
	StallInterval time.Duration
	// MaxCalls bounds the calls into amqp091-go that wait on the broker without a
	// context (writes, channel and topology set-up) running at once, and with them
	// those left running past their deadlines (default DefaultMaxCalls).
	MaxCalls int
}

// DefaultMaxCalls is the default Config.MaxCalls: the most publishes whose writes
// are left running past their deadlines, each holding its message, while the broker
// does not keep up.
const DefaultMaxCalls = 64

// appID is the AMQP app_id of every message.
const appID = "audiospliter-bridge"

// maxRoutingKey is AMQP's limit for a short string.
const maxRoutingKey = 255

var (
	errNotConnected = sinks.Classify(errors.New("rabbitmq: not connected"), sinks.ErrUnavailable)
	errBlocked      = errors.New("rabbitmq: connection blocked by the broker (resource alarm)")
	errNacked       = errors.New("rabbitmq: broker did not ack the message (nack or channel closed)")
	// ErrUnroutable means the exchange routed the message to no queue. It is
	// permanent for this attempt: retrying cannot help until a queue is bound.
	// It wraps sinks.ErrUnroutable.
	ErrUnroutable error = unroutable{}
)

type unroutable struct{}

func (unroutable) Error() string {
	return "rabbitmq: message unroutable: no queue is bound for its routing key"
}

func (unroutable) Unwrap() error { return sinks.ErrUnroutable }

// Sink publishes to RabbitMQ.
type Sink struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	session *session // nil while disconnected
	gate    sinks.Gate

	blocked atomic.Bool
	next    atomic.Uint64
	calls   *stall.Calls  // every call into amqp091-go that may block on the broker
	sockets stall.Sockets // every connection dialed

	// refused is a publish the broker refused for good, until a probe passes;
	// connRefused the lasting refusal met by the latest reconnect attempt (a user
	// or permission removed), until a reconnect succeeds.
	refused     sinks.Refusal
	connRefused atomic.Pointer[error]

	idsMu    sync.Mutex
	ids      map[string]chan struct{} // message ids being published; closed when done
	healMu   sync.Mutex
	lastHeal time.Time // guarded by healMu
	closing  chan struct{}
	done     chan struct{} // the supervisor has exited

	nodes    []endpoint
	lastNode int    // index in nodes of the latest session; only New and the supervisor use it
	connName string // the connection_name client property
	tlsMu    sync.Mutex
	lastTLS  *clientTLS // the TLS files as last read successfully
}

// New connects, declares the topology and opens the channel pool. It fails when the
// broker cannot be reached or refuses the topology, naming the Config field at fault
// with a *sinks.ConfigError.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	cfg = withDefaults(cfg)
	s := &Sink{cfg: cfg, log: cfg.Logger, closing: make(chan struct{}), done: make(chan struct{}), lastNode: -1, ids: make(map[string]chan struct{}),
		calls: stall.NewCalls(cfg.MaxCalls)}
	s.sockets.Interval = cfg.StallInterval
	if err := s.prepare(); err != nil {
		return nil, err
	}
	sess, err := s.connectAny(ctx)
	if err != nil {
		return nil, err
	}
	s.session = sess
	// What an operator checks first when messages do not show up where expected.
	attrs := []any{"node", s.nodes[s.lastNode].shown, "nodes", len(s.nodes), "exchange", s.cfg.Exchange, "exchange_type", amqp.ExchangeTopic}
	if len(s.cfg.SenderExchanges) > 0 {
		attrs = append(attrs, "sender_exchanges", s.cfg.SenderExchanges)
	}
	if s.cfg.Queue != "" {
		attrs = append(attrs, "queue", s.cfg.Queue, "queue_type", s.cfg.QueueType, "binding", "#")
	} else {
		attrs = append(attrs, "queue", "(none: consumers bind their own)")
	}
	s.log.Info("rabbitmq sink ready", attrs...)
	go s.supervise(sess)
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.URL == "" {
		cfg.URL = "amqp://guest:guest@localhost:5672/"
	}
	if cfg.Exchange == "" {
		cfg.Exchange = "audiospliter"
	}
	if cfg.QueueType == "" {
		cfg.QueueType = "classic"
	}
	if cfg.Channels <= 0 {
		cfg.Channels = 4
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// exclusive waits until no other publish of id is under way, then marks id as
// under way until done is called.
func (s *Sink) exclusive(ctx context.Context, id string) (done func(), err error) {
	for {
		s.idsMu.Lock()
		busy, ok := s.ids[id]
		if !ok {
			mine := make(chan struct{})
			s.ids[id] = mine
			s.idsMu.Unlock()
			return func() {
				s.idsMu.Lock()
				delete(s.ids, id)
				s.idsMu.Unlock()
				close(mine)
			}, nil
		}
		s.idsMu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("rabbitmq: publish: waiting for another publish of the same id: %w", ctx.Err())
		}
	}
}

// Describe implements sinks.Describer: the exchange is the destination.
func (s *Sink) Describe(msg sinks.Message) (system, destination string) {
	return "rabbitmq", s.exchange(msg.Sender)
}

// exchange is where a sender's messages go: its own exchange, else the default.
func (s *Sink) exchange(sender string) string {
	if x, ok := s.cfg.SenderExchanges[sender]; ok && sender != "" {
		return x
	}
	return s.cfg.Exchange
}

// prepare parses the node list and checks that the TLS settings can apply.
func (s *Sink) prepare() error {
	nodes, err := parseNodes(s.cfg.URL)
	if err != nil {
		return &sinks.ConfigError{Field: "URL", Err: err}
	}
	s.nodes = nodes
	for _, ep := range nodes {
		if !ep.tls && s.cfg.TLS.set() {
			return &sinks.ConfigError{Field: "URL", Err: fmt.Errorf("rabbitmq: %s is not amqps://, but TLS files are set: use amqps:// for every node", ep.shown)}
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	s.connName = appID + "@" + host
	return nil
}

// Publish implements sinks.Sink.
func (s *Sink) Publish(ctx context.Context, msg sinks.Message) error {
	key := msg.RouteKey()
	if len(key) > maxRoutingKey {
		return fmt.Errorf("rabbitmq: %w: event (or route) longer than %d bytes cannot be a routing key", sinks.ErrInvalidRoute, maxRoutingKey)
	}
	if !s.gate.Enter() {
		return fmt.Errorf("rabbitmq: %w", sinks.ErrClosed)
	}
	defer s.gate.Leave()
	// Returns are matched to publishes by message id: two publishes of one id at once
	// could take each other's return for their own, and one of them report an
	// unroutable message as confirmed. The bridge publishes an id once at a time;
	// the sink makes sure of it for any caller.
	done, err := s.exclusive(ctx, msg.ID)
	if err != nil {
		return err
	}
	defer done()
	s.mu.RLock()
	sess := s.session
	s.mu.RUnlock()

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rabbitmq: publish: %w", err)
	}
	if sess == nil {
		if r := s.connRefused.Load(); r != nil {
			return *r
		}
		return errNotConnected
	}
	if s.blocked.Load() {
		return errBlocked
	}
	p := toPublishing(msg)
	if err := checkProperties(p, sess.frameMax); err != nil {
		return err
	}
	exchange := s.exchange(msg.Sender)
	if s.refused.Holds() { // the destination's name is made only then: no allocation per publish
		if dest := probeDest(exchange, key); s.refused.For(dest) {
			// Refused before: the broker would close a channel of the pool again, and
			// every publish in flight on it with it. It is asked again by a probe on a
			// channel of its own, at most once a second.
			if _, err := s.refused.Check(ctx, s.probeDest); err != nil && s.refused.For(dest) {
				return err
			}
		}
	}
	start := time.Now()
	err = s.publishSized(ctx, sess, p, exchange, key)
	if errors.Is(err, sinks.ErrRefused) {
		s.refused.Note(probeDest(exchange, key), err)
	}
	sess.nacks.observe(err)
	s.cfg.Metrics.ObserveConfirm(start)
	switch {
	case errors.Is(err, ErrUnroutable):
		s.cfg.Metrics.Returned()
	case errors.Is(err, errNacked):
		s.cfg.Metrics.Nacked()
	}
	if errors.Is(err, ErrUnroutable) && s.cfg.Queue != "" && exchange == s.cfg.Exchange {
		// Our own queue is bound with "#", so a return means it or its binding was
		// deleted at runtime: declare the topology again and let the bridge retry.
		s.heal(ctx, sess)
		// Not ErrUnroutable: that one is permanent, and this one is mended.
		return fmt.Errorf("rabbitmq: message returned although queue %q is bound with #: the queue or its binding was deleted; declaring them again", s.cfg.Queue)
	}
	return err
}

// heal declares the topology again, at most once a second, and waits for it until
// the publish's deadline.
func (s *Sink) heal(ctx context.Context, sess *session) {
	s.healMu.Lock()
	due := time.Since(s.lastHeal) >= time.Second
	if due {
		s.lastHeal = time.Now()
	}
	s.healMu.Unlock()
	if !due {
		return
	}
	s.log.Warn("rabbitmq returned a message although the queue is bound with #; declaring the topology again", "queue", s.cfg.Queue)
	if err := s.calls.Run(ctx, func() error { return s.declare(sess.conn) }); err != nil {
		s.log.Error("declaring the topology again failed", "err", err)
	}
}

func toPublishing(msg sinks.Message) amqp.Publishing {
	headers := make(amqp.Table, len(msg.Headers))
	for _, h := range msg.Headers {
		headers[h.Name] = h.Value
	}
	return amqp.Publishing{
		Headers:      headers,
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		MessageId:    msg.ID,
		Timestamp:    msg.Received,
		Type:         msg.Event,
		AppId:        appID,
		Body:         msg.Body,
	}
}

// Ready implements sinks.Sink: connected, not blocked, and no refusal that holds
// (refusals.go).
func (s *Sink) Ready(ctx context.Context) error {
	if s.calls.BackedUp() {
		return fmt.Errorf("rabbitmq: %w: %d writes past their deadlines are still under way", sinks.ErrBackedUp, s.calls.Left())
	}
	if s.gate.IsShut() {
		return fmt.Errorf("rabbitmq: %w", sinks.ErrClosed)
	}
	// A refused publish first: the sink reconnects after one (the broker closed
	// the channel), and the refusal, not the reconnect, is what holds.
	cleared, err := s.refused.Check(ctx, s.probeDest)
	if cleared {
		s.log.Info("the broker lets the bridge publish again", "exchange", s.cfg.Exchange)
	}
	if err != nil {
		return err
	}
	s.mu.RLock()
	sess := s.session
	s.mu.RUnlock()
	switch {
	case sess == nil || sess.conn.IsClosed():
		if r := s.connRefused.Load(); r != nil {
			return *r
		}
		return errNotConnected
	case s.blocked.Load():
		return errBlocked
	}
	return nil
}

// Close implements sinks.Sink: no new publishes, wait for in-flight ones (each ends
// at its deadline), then close the connection. A write the broker does not take
// fails by itself (stall.Conn), and the polite close has a deadline (drop), so
// nothing here waits for the library's heartbeat.
func (s *Sink) Close() error {
	if s.gate.Shut() {
		close(s.closing)
	}
	<-s.done
	// Connections of set-ups given up at their deadlines may still be open.
	s.sockets.Cut()
	return nil
}
