package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Defaults of docs/configuration.md, for fields left at their zero value.
const (
	DefaultWebhookPath     = "/webhooks"
	DefaultMaxBodyBytes    = 1 << 20
	DefaultPublishTimeout  = 10 * time.Second
	DefaultMaxInFlight     = 1024
	minBodyReads           = 256
	DefaultDedupMaxEntries = 100_000
	DefaultCESource        = "audiospliter"
	DefaultCETypePrefix    = "com.audiospliter."
)

// Config is everything the bridge needs; it never reads the environment.
type Config struct {
	Secrets     []string // at least one, none empty; any may match (without Senders)
	WebhookPath string   // default DefaultWebhookPath (without Senders)
	// Senders, when set, are the senders of a senders file, each on its own path
	// with its own scheme and secrets (senders.go), instead of the one AudioSpliter
	// sender of Secrets on WebhookPath, which must then be left empty.
	Senders        []Sender
	MaxBodyBytes   int64         // default DefaultMaxBodyBytes
	PublishTimeout time.Duration // whole publish, retries included; default DefaultPublishTimeout
	MaxInFlight    int           // default DefaultMaxInFlight
	// MaxBodyReads bounds the requests reading their body at once (admit.Reads):
	// past it a newcomer waits, and the read begun the earliest is cut once it has
	// lasted a second. Default max(256, MaxInFlight/4).
	MaxBodyReads    int
	DedupTTL        time.Duration // 0 disables the cache of confirmed ids
	DedupMaxEntries int           // default DefaultDedupMaxEntries
	CESource        string        // default DefaultCESource
	CETypePrefix    string        // used as given: callers pass DefaultCETypePrefix
	// OmitSignature leaves the audiospliter-signature header out of every message
	// (BRIDGE_FORWARD_SIGNATURE=false): the signature covers the body alone, so a
	// body and its signature read from the queue could be sent again under a new
	// delivery id and be taken for a new delivery.
	OmitSignature bool
	Sink          sinks.Sink
	Logger        *slog.Logger         // default: discard
	Registry      *prometheus.Registry // default: a new one, served on /metrics
	// TracerProvider, when set, traces every webhook and publish attempt and puts
	// the trace context on the message; nil is tracing off, at no cost.
	TracerProvider trace.TracerProvider
	// Propagator reads the caller's trace context and writes the message's; default
	// W3C trace context (traceparent, tracestate).
	Propagator propagation.TextMapPropagator
	// Clock times body reads against admit.Grace, and how long an answer of the
	// sink's Ready stands (ReadyEvery); default clock.Real{}.
	Clock clock.Clock
}

// Bridge is the HTTP side: it verifies webhooks and publishes them through one sink.
type Bridge struct {
	cfg       Config
	log       *slog.Logger
	verifier  *Verifier // the single sender's; nil with Senders
	senders   []*sender
	paths     []string // the senders' paths, for the log of an unknown path
	dedup     *dedup
	metrics   *metrics
	tracing   *tracing // nil: off
	ready     *readiness
	inFlight  atomic.Int64
	bodyReads *admit.Reads
	mux       *http.ServeMux
	// stop ends every publish when cancelled (StopPublishes). It is the bridge's
	// own lifetime, which no caller's context bounds.
	stop          context.Context
	stopPublishes context.CancelCauseFunc
}

// New checks cfg and returns a bridge ready to serve.
func New(cfg Config) (*Bridge, error) {
	multi := len(cfg.Senders) > 0
	switch {
	case multi && (len(cfg.Secrets) > 0 || cfg.WebhookPath != ""):
		return nil, errSendersAndSingle
	case multi:
	case len(cfg.Secrets) == 0:
		return nil, errors.New("bridge: no webhook secret")
	}
	for _, s := range cfg.Secrets {
		if s == "" {
			return nil, errors.New("bridge: empty webhook secret")
		}
	}
	if cfg.Sink == nil {
		return nil, errors.New("bridge: no sink")
	}
	if cfg.WebhookPath == "" && !multi {
		cfg.WebhookPath = DefaultWebhookPath
	}
	if !multi && cfg.WebhookPath[0] != '/' {
		return nil, fmt.Errorf("bridge: webhook path %q must start with /", cfg.WebhookPath)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxBodyReads <= 0 {
		cfg.MaxBodyReads = max(minBodyReads, cfg.MaxInFlight/4)
	}
	if cfg.DedupMaxEntries <= 0 {
		cfg.DedupMaxEntries = DefaultDedupMaxEntries
	}
	if cfg.CESource == "" {
		cfg.CESource = DefaultCESource
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	b := &Bridge{
		cfg:     cfg,
		log:     cfg.Logger,
		dedup:   newDedup(cfg.DedupTTL, cfg.DedupMaxEntries, time.Now),
		tracing: newTracing(cfg.TracerProvider, cfg.Propagator),
		mux:     http.NewServeMux(),
	}
	if multi {
		var err error
		if b.senders, err = newSenders(cfg); err != nil {
			return nil, err
		}
	} else {
		b.verifier = NewVerifier(cfg.Secrets)
	}
	b.stop, b.stopPublishes = context.WithCancelCause(context.Background())
	b.bodyReads = admit.NewReads(cfg.MaxBodyReads, cfg.Clock)
	b.ready = &readiness{sink: cfg.Sink, clock: cfg.Clock, log: cfg.Logger}
	var names []string
	for _, snd := range b.senders {
		names = append(names, snd.Name)
	}
	b.metrics = newMetrics(cfg.Registry, b.dedup, cfg.DedupMaxEntries, b.bodyReads, b.tracing != nil, names)
	if b.tracing != nil {
		b.log = slog.New(traceHandler{cfg.Logger.Handler()})
	}
	// Every answer is JSON, also for a wrong path or method: the mux's own 404 and
	// 405 are plain text, so the other endpoints check their method themselves and
	// a catch-all answers the rest. A sender's path is matched exactly.
	if multi {
		for _, snd := range b.senders {
			snd.series = b.metrics.named[snd.Name]
			b.paths = append(b.paths, snd.Path)
			b.mux.HandleFunc(snd.Path, func(w http.ResponseWriter, r *http.Request) { b.serveWebhook(w, r, snd) })
		}
	} else {
		b.mux.HandleFunc(cfg.WebhookPath, func(w http.ResponseWriter, r *http.Request) { b.serveWebhook(w, r, nil) })
	}
	b.mux.Handle("/healthz", onlyGet(http.HandlerFunc(b.serveHealth)))
	b.mux.Handle("/readyz", onlyGet(http.HandlerFunc(b.serveReady)))
	b.mux.Handle("/metrics", onlyGet(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{
		// Exemplars exist only in the OpenMetrics format, which Prometheus asks for;
		// a plain text scrape gets the classic format as before.
		EnableOpenMetrics: true,
	})))
	if !b.serves("/") {
		b.mux.HandleFunc("/", b.serveNotFound)
	}
	return b, nil
}

// serves reports whether path is the webhook path or a sender's.
func (b *Bridge) serves(path string) bool {
	for _, snd := range b.senders {
		if snd.Path == path {
			return true
		}
	}
	return b.senders == nil && b.cfg.WebhookPath == path
}

var (
	bodyNotFound         = errorBody("not found")
	bodyMethodNotAllowed = errorBody("method not allowed: use GET")
)

// maxLoggedPath bounds the path in a log line: the sender decides its length.
const maxLoggedPath = 128

// serveNotFound answers 404. A POST is most likely a sender configured with a wrong
// URL: it is logged (the path without its query, which may carry a token) and
// counted like a webhook, so that it does not go unseen. Other methods are scanners
// and browsers, and are not.
func (b *Bridge) serveNotFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, bodyNotFound)
	if r.Method != http.MethodPost {
		return
	}
	b.metrics.request(http.StatusNotFound, reasonUnknownPath)
	path := r.URL.EscapedPath()
	if len(path) > maxLoggedPath {
		path = path[:maxLoggedPath] + "…"
	}
	where := slog.String("webhook_path", b.cfg.WebhookPath)
	if b.senders != nil {
		// The senders' paths, matched exactly: a trailing slash or another case
		// is not theirs.
		where = slog.Any("webhook_paths", b.paths)
	}
	b.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook",
		slog.Int("status", http.StatusNotFound), slog.String("reason", reasonUnknownPath),
		slog.String("path", path), where)
}

// onlyGet answers 405 in JSON to anything but GET and HEAD.
func onlyGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, bodyMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// SetSecrets replaces the webhook secrets: the next request is verified against the
// new set. An empty list or an empty secret is refused and the old set stays. With
// Senders each sender's Scheme takes its own secrets, and this is an error.
func (b *Bridge) SetSecrets(secrets []string) error {
	if b.verifier == nil {
		return errors.New("bridge: with senders, each sender's scheme takes its secrets (Sender.Scheme.SetSecrets)")
	}
	return b.verifier.SetSecrets(secrets)
}

// ServeHTTP routes the webhook path (or each sender's), /healthz, /readyz and
// /metrics.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.mux.ServeHTTP(w, r) }

// InFlight is the number of webhooks past the in-flight limit's check now: being
// published, or waiting for a publish of the same delivery id.
func (b *Bridge) InFlight() int64 { return b.inFlight.Load() }

// PublishTimeout is the configured bound of one publish, retries included; the HTTP
// server's write timeout must exceed it.
func (b *Bridge) PublishTimeout() time.Duration { return b.cfg.PublishTimeout }

func (b *Bridge) serveHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
}

var contentTypeJSON = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
