// Package natsjs is the NATS JetStream sink: one synchronous JetStream publish per
// message, with the delivery id as Nats-Msg-Id so the stream drops a retried copy.
// A publish counts only when the stream's PubAck arrives; a PubAck that says
// "duplicate" is a success, because the stream already holds that delivery.
//
// With Config.URL empty the sink starts an embedded nats-server with JetStream
// (embedded.go) and talks to it in-process; other clients reach it over TCP.
package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Config is the sink's whole configuration. The zero value of a field takes the
// default of docs/configuration.md.
type Config struct {
	URL            string // empty: run an embedded server
	Stream         string // default AUDIOSPLITER
	SubjectPrefix  string // default audiospliter
	EmbeddedListen string // default 127.0.0.1:4222
	EmbeddedToken  string // token every client of the embedded server presents; required beyond loopback
	// EmbeddedTLSCertFile and EmbeddedTLSKeyFile, both set, make the embedded
	// server serve TLS (1.2 and later) to every client that connects over the
	// network, so that the token does not cross it in clear. Read at start.
	EmbeddedTLSCertFile, EmbeddedTLSKeyFile string
	// EmbeddedSyncInterval 0 (the default) makes the embedded server fsync each message
	// before its PubAck; a positive value syncs in the background at that interval.
	EmbeddedSyncInterval time.Duration
	DataDir              string        // default ./data
	DuplicateWindow      time.Duration // JetStream dedup window of a stream we create; default 2m
	MaxPayload           int32         // embedded server's largest message (body + headers); default 8 MiB
	ConnectTimeout       time.Duration // default 5s
	Logger               *slog.Logger
	Metrics              *sinks.Metrics // nil: none

	// A server given in URL (tls:// or a CA file turn TLS on, with verification).
	TLSCAFile   string // CA certificates that verify the server
	TLSCertFile string // client certificate, with TLSKeyFile
	TLSKeyFile  string
	CredsFile   string // .creds file: user JWT and NKey seed
	NkeyFile    string // NKey user seed; at most one of CredsFile and NkeyFile
	ClientName  string // connection name the server shows; default audiospliter-bridge@<hostname>
	Replicas    int    // replicas of a stream the sink creates; default 1

	// StallInterval: a write to a server that takes no data for this long fails
	// and the connection is made anew (default stall.Interval).
	StallInterval time.Duration
	// MaxCalls bounds the calls into nats.go running at once, and with them those
	// left running past their deadlines (default DefaultMaxCalls).
	MaxCalls int
}

// DefaultMaxCalls is the default Config.MaxCalls: the most publishes left running
// past their deadlines, each holding its message, while the server does not keep up.
const DefaultMaxCalls = 64

// maxSubjectLen bounds the subject: a longer one would exceed the server's control
// line and cost the whole connection.
const maxSubjectLen = 1024

// Sink publishes to a JetStream stream.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	server *server.Server // nil unless embedded

	gate      sinks.Gate
	calls     *stall.Calls // every call into nats.go that may block (stall.go)
	link      *link        // whether nats.go is connected, without asking nats.go (link.go)
	limits    limits       // the server's and the stream's size limits (limits.go)
	closeOnce sync.Once
	sockets   stall.Sockets // what nats.go dialed; unused when embedded
	dials     dialError     // the last dial's failure

	refusals      *refusals     // calls waiting for an answer, ended by a permission violation (refusals.go)
	refused       sinks.Refusal // a refused publish, until a probe passes
	errLog        throttle
	healMu        sync.Mutex
	lastHeal      time.Time
	notedExisting bool // guarded by healMu after New
}

// New connects (or starts the embedded server), makes sure the stream exists and
// captures the subjects, and returns a ready sink. Failures name the Config field at
// fault with a *sinks.ConfigError.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	s, err := connect(withDefaults(cfg))
	if err != nil {
		return nil, err
	}
	if err := s.ensureStream(ctx); err != nil {
		s.closeConn()
		return nil, err
	}
	if s.server == nil {
		s.log.Info("connected to nats", "url", sinks.RedactURL(s.nc.ConnectedUrl()), "servers", len(s.nc.Servers()),
			"tls", s.nc.TLSRequired() || s.cfg.TLSCAFile != "", "auth", authKind(s.cfg), "stream", s.cfg.Stream, "name", s.cfg.ClientName)
	}
	return s, nil
}

// connect connects (or starts the embedded server) with cfg, its defaults set,
// and touches no stream.
func connect(cfg Config) (*Sink, error) {
	s := &Sink{cfg: cfg, log: cfg.Logger, calls: stall.NewCalls(cfg.MaxCalls), link: newLink(), refusals: newRefusals()}
	s.sockets.Interval = cfg.StallInterval

	opts := []nats.Option{
		nats.Name(cfg.ClientName),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(cfg.ConnectTimeout),
		// Without a reconnect buffer a publish during an outage fails at once and
		// the bridge retries it, instead of waiting in a buffer that may be lost.
		nats.ReconnectBufSize(-1),
		// nats.go gives up for good when a server refuses the credentials twice in
		// a row (a revoked user, a .creds file replaced a moment late): the sink
		// would stay closed until a restart. Keep trying; the files are read again
		// on every attempt.
		nats.IgnoreAuthErrorAbort(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// A permission violation ends the calls it concerns now, each with the
			// server's words (refusals.go).
			s.refusals.notice(err)
			// A refusal repeats on every reconnect attempt (several a second).
			if ok, skipped := s.errLog.allow(time.Now(), 10*time.Second); ok {
				s.log.Error("nats error", "err", sinks.RedactError(err, cfg.URL), "repeats_not_logged", skipped)
			}
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			s.link.lost()
			if !nc.IsClosed() {
				s.log.Warn("nats disconnected", "err", sinks.RedactError(err, cfg.URL))
			}
		}),
		// nats.go's ConnectedUrlRedacted masks a password but not a bare token
		// (nats://TOKEN@host): our redaction masks both.
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.limits.noteServer(nc)
			s.link.restored()
			s.log.Info("nats reconnected", "url", sinks.RedactURL(nc.ConnectedUrl()))
			s.cfg.Metrics.Reconnected()
		}),
	}
	url := cfg.URL
	if url != "" {
		if err := checkURLs(url); err != nil {
			return nil, err
		}
		sec, err := securityOptions(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sec...)
		opts = append(opts,
			nats.SetCustomDialer(dialer{timeout: cfg.ConnectTimeout, sockets: &s.sockets, last: &s.dials}),
			nats.SkipHostLookup(),
			// A write that failed (cut by a stalled publish, or past its deadline)
			// leaves the connection unusable: reconnect at once.
			nats.ReconnectOnFlusherError())
	} else {
		srv, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		s.server = srv
		// In process, with no TLS (the server allows that only here): ClientURL
		// says tls:// when the server serves TLS.
		url = "nats://" + srv.Addr().String()
		opts = append(opts, nats.InProcessServer(srv))
		if cfg.EmbeddedToken != "" {
			opts = append(opts, nats.Token(cfg.EmbeddedToken))
		}
	}

	nc, err := nats.Connect(url, opts...)
	if err != nil {
		s.shutdownEmbedded()
		if errors.Is(err, nats.ErrNoServers) && s.dials.get() != nil {
			// Every dial failed: what they met, as RabbitMQ's sink says it.
			err = s.dials.get()
		}
		return nil, connectError(cfg, url, err)
	}
	s.nc = nc
	s.limits.noteServer(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		s.closeConn()
		return nil, fmt.Errorf("natsjs: %w", err)
	}
	s.js = js
	return s, nil
}

// authKind names how the sink authenticates, for the start-up log.
func authKind(cfg Config) string {
	switch {
	case cfg.CredsFile != "":
		return "creds"
	case cfg.NkeyFile != "":
		return "nkey"
	case strings.Contains(cfg.URL, "@"):
		return "url"
	}
	return "none"
}

func withDefaults(cfg Config) Config {
	if cfg.Stream == "" {
		cfg.Stream = "AUDIOSPLITER"
	}
	if cfg.SubjectPrefix == "" {
		cfg.SubjectPrefix = "audiospliter"
	}
	if cfg.EmbeddedListen == "" {
		cfg.EmbeddedListen = "127.0.0.1:4222"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "./data"
	}
	if cfg.DuplicateWindow <= 0 {
		cfg.DuplicateWindow = 2 * time.Minute
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 8 << 20
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
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
	if cfg.ClientName == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		cfg.ClientName = "audiospliter-bridge@" + host
	}
	return cfg
}

// ensureStream creates the stream when it is missing and checks that the stream
// captures the subjects, so a mismatch is a start-up error rather than every
// publish timing out. A JetStream API call the server refuses for want of
// permission fails at once, quoting the server (refusals.go).
func (s *Sink) ensureStream(ctx context.Context) error {
	ctx, w := s.refusals.watch(ctx, "$JS.API.>")
	defer s.refusals.end(w)
	err := s.ensureStreamWatched(ctx)
	if r := refused(ctx); r != nil {
		return &sinks.ConfigError{Field: credsField(s.cfg), Err: fmt.Errorf("natsjs: stream %s: %w", s.cfg.Stream, r)}
	}
	return err
}

func (s *Sink) ensureStreamWatched(ctx context.Context) error {
	info, err := s.lookupStream(ctx)
	if err != nil || info != nil {
		return err
	}
	subjects := s.cfg.SubjectPrefix + ".>"
	_, err = s.js.CreateStream(ctx, s.wantStream())
	if err := s.overlapError(ctx, err); err != nil {
		return err
	}
	if err != nil {
		field := "Stream"
		if s.cfg.Replicas > 1 {
			field = "Replicas" // most often: fewer servers than replicas
		}
		return &sinks.ConfigError{Field: field, Err: fmt.Errorf("natsjs: create stream %s with %d replicas: %w", s.cfg.Stream, s.cfg.Replicas, err)}
	}
	s.limits.noteStream(s.wantStream())
	s.log.Info("created jetstream stream", "stream", s.cfg.Stream, "subjects", subjects, "replicas", s.cfg.Replicas)
	return nil
}

// wantStream is the stream the sink creates when it is missing.
func (s *Sink) wantStream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:       s.cfg.Stream,
		Subjects:   []string{s.cfg.SubjectPrefix + ".>"},
		Storage:    jetstream.FileStorage,
		Duplicates: s.cfg.DuplicateWindow,
		Replicas:   s.cfg.Replicas,
	}
}

// lookupStream returns the stream's info when it exists and captures the subjects,
// nil and no error when it does not exist, and an error naming the setting to fix
// otherwise (no JetStream, a stream that captures other subjects).
func (s *Sink) lookupStream(ctx context.Context) (*jetstream.StreamInfo, error) {
	subjects := s.cfg.SubjectPrefix + ".>"
	st, err := s.js.Stream(ctx, s.cfg.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, nil
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
		return nil, &sinks.ConfigError{Field: "URL", Err: fmt.Errorf("natsjs: no JetStream answers on this server (it runs without JetStream, or its cluster has not formed yet): %w", err)}
	case errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		// Fixed on the server, or with credentials of another account: not in the
		// stream's settings.
		return nil, &sinks.ConfigError{Field: credsField(s.cfg), Err: fmt.Errorf("natsjs: the account these credentials log in to has no JetStream (enable it for the account on the server, or use credentials of an account that has it): %w", err)}
	case err != nil:
		return nil, &sinks.ConfigError{Field: "Stream", Err: fmt.Errorf("natsjs: look up stream %s: %w", s.cfg.Stream, err)}
	}
	info := st.CachedInfo()
	s.limits.noteStream(info.Config)
	s.noteExisting(info.Config, s.wantStream())
	if !captures(info.Config.Subjects, subjects) {
		got := info.Config.Subjects
		return nil, &sinks.ConfigError{Field: "Stream", Also: []string{"SubjectPrefix"}, Err: fmt.Errorf(
			"natsjs: stream %s exists, and its subjects %s do not capture %s, where the bridge publishes (%s.<event>): "+
				"add %s to the stream's subjects (nats stream edit %s --subjects %q), or use another stream, or a subject prefix that this stream captures",
			s.cfg.Stream, quoteList(got), subjects, s.cfg.SubjectPrefix, subjects, s.cfg.Stream, strings.Join(append(slices.Clone(got), subjects), ","))}
	}
	return info, nil
}

// overlapError is the error of a stream that cannot be created because another
// stream captures some of its subjects, naming that stream; nil for any other err.
func (s *Sink) overlapError(ctx context.Context, err error) error {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeSubjectOverlap {
		return nil
	}
	other, _ := s.js.StreamNameBySubject(ctx, s.cfg.SubjectPrefix+".>")
	return s.takenError(other, err)
}

// takenError says that the stream cannot be created because stream other
// captures subjects under the prefix.
func (s *Sink) takenError(other string, err error) error {
	msg := fmt.Sprintf("natsjs: stream %s does not exist and cannot be created with subjects %s.>: stream %q already captures subjects under %s.: "+
		"use that stream (give its name as the stream), or another subject prefix that no stream captures",
		s.cfg.Stream, s.cfg.SubjectPrefix, other, s.cfg.SubjectPrefix)
	if err != nil {
		return &sinks.ConfigError{Field: "Stream", Also: []string{"SubjectPrefix"}, Err: fmt.Errorf("%s: %w", msg, err)}
	}
	return &sinks.ConfigError{Field: "Stream", Also: []string{"SubjectPrefix"}, Err: errors.New(msg)}
}

// errCodeSubjectOverlap is JetStream's "subjects overlap with an existing stream".
const errCodeSubjectOverlap jetstream.ErrorCode = 10065

// captures reports whether every subject matching want is matched by one of the
// stream's subject filters.
func captures(filters []string, want string) bool {
	for _, f := range filters {
		if server.SubjectMatchesFilter(want, f) {
			return true
		}
	}
	return false
}

// quoteList shows a stream's subjects as [a.>, b] ("none" when it has none).
func quoteList(subjects []string) string {
	if len(subjects) == 0 {
		return "(none)"
	}
	return "[" + strings.Join(subjects, ", ") + "]"
}

// noteExisting logs, once per sink, how an existing stream differs from the one the
// sink would create: an operator's stream is used as it is, never changed.
func (s *Sink) noteExisting(got, want jetstream.StreamConfig) {
	if s.notedExisting {
		return
	}
	s.notedExisting = true
	var diff []any
	if got.Replicas != want.Replicas {
		diff = append(diff, "replicas", got.Replicas, "bridge_replicas", want.Replicas)
	}
	if got.Storage != want.Storage {
		diff = append(diff, "storage", got.Storage.String())
	}
	if got.Duplicates != want.Duplicates {
		diff = append(diff, "duplicate_window", got.Duplicates.String(), "bridge_duplicate_window", want.Duplicates.String())
	}
	if len(diff) > 0 {
		s.log.Info("using the existing jetstream stream as it is; its settings differ from what the bridge would create",
			append([]any{"stream", got.Name}, diff...)...)
	}
}

// heal recreates the stream when nobody answers on its subjects because it was
// deleted at runtime, at most once a second; the bridge's retry then succeeds.
// "No responders" also happens while a restarted server brings JetStream up: then
// the stream exists and heal does nothing.
func (s *Sink) heal(ctx context.Context) {
	if !s.healMu.TryLock() {
		return
	}
	defer s.healMu.Unlock()
	if time.Since(s.lastHeal) < time.Second || s.nc.Status() != nats.CONNECTED {
		return
	}
	s.lastHeal = time.Now()
	if _, err := s.js.Stream(ctx, s.cfg.Stream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		return
	}
	s.log.Warn("jetstream stream is missing; creating it again", "stream", s.cfg.Stream)
	if err := s.ensureStream(ctx); err != nil {
		s.log.Error("recreating the stream failed", "err", err)
	}
}

// Stream is the name of the stream the sink publishes to.
func (s *Sink) Stream() string { return s.cfg.Stream }

// Subject returns the subject an event (or a message's Route) is published on:
// <prefix>.<route>, in the sink's one stream whatever the sender.
func (s *Sink) Subject(route string) string { return s.cfg.SubjectPrefix + "." + route }

// Describe implements sinks.Describer: the subject is the destination.
func (s *Sink) Describe(msg sinks.Message) (system, destination string) {
	return "nats", s.Subject(msg.RouteKey())
}

// Publish implements sinks.Sink.
func (s *Sink) Publish(ctx context.Context, msg sinks.Message) error {
	if !s.gate.Enter() {
		return fmt.Errorf("natsjs: %w", sinks.ErrClosed)
	}
	defer s.gate.Leave()

	subject := s.Subject(msg.RouteKey())
	if err := validSubject(subject); err != nil {
		return err
	}
	if s.link.isDown() {
		return errNotConnected
	}
	if err := s.checkSize(msg); err != nil {
		return err
	}
	// The JetStream headers and the message's own, in one backing array for every
	// header's one-value slice rather than an allocation each.
	m := &nats.Msg{Subject: subject, Data: msg.Body, Header: make(nats.Header, len(msg.Headers)+2)}
	values := make([]string, len(msg.Headers)+2)
	values[0], values[1] = msg.ID, s.cfg.Stream
	m.Header[jetstream.MsgIDHeader] = values[0:1:1]
	m.Header[jetstream.ExpectedStreamHeader] = values[1:2:2]
	for i, h := range msg.Headers {
		values[i+2] = h.Value
		m.Header[h.Name] = values[i+2 : i+3 : i+3]
	}
	start := time.Now()
	var ack pubAck // read only when within returns nil: the call has returned
	watched, w := s.refusals.watch(ctx, subject)
	err := s.within(watched, func() error {
		var err error
		ack, err = s.publishMsg(watched, m)
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			s.heal(ctx)
		}
		return err
	})
	s.refusals.end(w)
	s.cfg.Metrics.ObserveConfirm(start)
	if r := refused(watched); r != nil {
		s.refused.Note(subject, r)
		return r
	}
	if err != nil {
		return classify(ctx, err)
	}
	if ack.duplicate {
		s.log.Debug("jetstream already held the delivery", "delivery_id", msg.ID, "seq", string(ack.seq))
	}
	return nil
}

// errNotConnected is a publish while nats.go reconnects: retryable, at once.
var errNotConnected = sinks.Classify(errors.New("natsjs: publish: no NATS server reachable, reconnecting"), sinks.ErrUnavailable)

// classify keeps retryable what may succeed later (server away, stream missing for
// now, timeouts) and marks permanent what cannot (too large, invalid subject).
func classify(ctx context.Context, err error) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionReconnecting):
		// With no reconnect buffer (ReconnectBufSize(-1)) this is how nats.go says
		// that it has no server right now; its own words ("outbound buffer limit
		// exceeded") suggest a full buffer, so they are not repeated.
		return errNotConnected
	case ctx.Err() != nil:
		return fmt.Errorf("natsjs: publish: %w (%w)", ctx.Err(), err)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("natsjs: %w: %w", sinks.ErrTooLarge, err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return fmt.Errorf("natsjs: %w: %w", sinks.ErrTooLarge, err)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeHeaderExceedsMaximum:
		return fmt.Errorf("natsjs: %w: %w", sinks.ErrInvalid, err)
	case errors.Is(err, nats.ErrBadHeaderMsg):
		return fmt.Errorf("natsjs: %w: %w", sinks.ErrInvalid, err)
	case errors.Is(err, nats.ErrBadSubject):
		return fmt.Errorf("natsjs: %w: %w", sinks.ErrInvalidRoute, err)
	case errors.Is(err, nats.ErrConnectionClosed):
		return fmt.Errorf("natsjs: %w: %w", sinks.ErrClosed, err)
	}
	return fmt.Errorf("natsjs: publish: %w", err)
}

// validSubject rejects what the server would refuse or misread: empty tokens,
// wildcards, white space and control characters (which would also break the text
// protocol), and subjects longer than maxSubjectLen.
func validSubject(subject string) error {
	if len(subject) > maxSubjectLen {
		return fmt.Errorf("natsjs: %w: subject longer than %d bytes", sinks.ErrInvalidRoute, maxSubjectLen)
	}
	prev := byte('.')
	for i := 0; i < len(subject); i++ {
		c := subject[i]
		switch {
		case c <= ' ' || c == 0x7f || c == '*' || c == '>':
			return fmt.Errorf("natsjs: %w: event is not a valid subject token: white space, control characters, '*' and '>' are not allowed", sinks.ErrInvalidRoute)
		case c == '.' && prev == '.':
			return fmt.Errorf("natsjs: %w: event is not a valid subject: empty token", sinks.ErrInvalidRoute)
		}
		prev = c
	}
	if prev == '.' {
		return fmt.Errorf("natsjs: %w: event is not a valid subject: empty token", sinks.ErrInvalidRoute)
	}
	return nil
}

// Ready implements sinks.Sink: connected, and the stream answers.
func (s *Sink) Ready(ctx context.Context) error {
	if s.gate.IsShut() {
		return fmt.Errorf("natsjs: %w", sinks.ErrClosed)
	}
	if s.calls.BackedUp() {
		return fmt.Errorf("natsjs: %w: %d publishes past their deadlines are still under way", sinks.ErrBackedUp, s.calls.Left())
	}
	if s.link.isDown() {
		return sinks.Classify(errors.New("natsjs: not connected: reconnecting"), sinks.ErrUnavailable)
	}
	cleared, err := s.refused.Check(ctx, func(ctx context.Context, subject string) error {
		return s.Probe(ctx, s.probeSubject(subject))
	})
	if cleared {
		s.log.Info("the server lets the bridge publish again", "stream", s.cfg.Stream)
	}
	if err != nil {
		return err
	}
	watched, w := s.refusals.watch(ctx, "$JS.API.>")
	done := func() { s.refusals.end(w) }
	defer done()
	err = s.within(watched, func() error {
		if st := s.nc.Status(); st != nats.CONNECTED {
			return sinks.Classify(fmt.Errorf("natsjs: connection is %s", st), sinks.ErrUnavailable)
		}
		_, err := s.js.Stream(watched, s.cfg.Stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// Deleted at runtime: created again (at most once a second), as a
			// publish would, since no publish comes while not ready.
			s.heal(watched)
			return sinks.Classify(fmt.Errorf("natsjs: stream %s: %w", s.cfg.Stream, err), sinks.ErrRefused)
		}
		if err != nil {
			return fmt.Errorf("natsjs: stream %s: %w", s.cfg.Stream, err)
		}
		return nil
	})
	if r := refused(watched); r != nil {
		return r
	}
	return err
}

// Close implements sinks.Sink. It waits for in-flight publishes while the
// connection is up (each ends at its deadline); once it is down (a server gone, or
// one that stopped reading, whose stalled write failed), they cannot succeed, so it
// closes the connection at once, which ends them. nats.go gets closeGrace to flush
// before its sockets are cut; an embedded server is shut down last.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		drained := make(chan struct{})
		go func() {
			s.gate.Shut()
			close(drained)
		}()
		select {
		case <-drained:
		case <-s.link.wentDown():
		}
		s.closeConn()
		<-drained
	})
	return nil
}

func (s *Sink) closeConn() {
	if s.nc != nil {
		s.sockets.CloseWithin(closeGrace, s.nc.Close)
	}
	s.shutdownEmbedded()
}
