package app

import (
	"log/slog"
	"net"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/clock"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Options is everything Run needs. Only Config is required.
type Options struct {
	// Config is the bridge's configuration, validated (config.Load, or a Config from
	// config.Default with its Validate called).
	Config *config.Config
	// Logger receives every log line; nil discards them.
	Logger *slog.Logger
	// Listener, when set, is where the bridge serves instead of listening on
	// Config.ListenAddr; Run closes it.
	Listener net.Listener
	// Reload: a value reads the webhook secret file and the TLS pair again at once
	// (what SIGHUP does). Nil: only the poll reads them.
	Reload <-chan struct{}
	// ReloadEvery is how often the secret file and the TLS pair are checked for
	// changes; zero: every 2 s.
	ReloadEvery time.Duration
	// Limits bound what one client can hold; a zero field takes its default.
	Limits Limits
	// OnListen, when set, is called with the bound address once the bridge serves.
	OnListen func(addr string)
	// Sink, when set, is published to instead of the broker Config names (tests:
	// the in-memory sink); Run closes it.
	Sink sinks.Sink
	// Clock times the admission of connections and body reads (internal/admit);
	// nil: the real clock. Tests pass a fake one to decide when a turn is over.
	Clock clock.Clock
	// OTel looks up the standard OTEL_* variables that configure tracing
	// (docs/observability.md); the command passes os.LookupEnv. Nil: none is set,
	// and tracing is off.
	OTel func(key string) (string, bool)
}

// Limits bound what one client can hold: time to send the headers and the whole
// request (slowloris), time an idle keep-alive connection stays open, the number of
// open connections. They are not configuration; tests shorten them.
type Limits struct {
	ReadHeaderTimeout time.Duration // default 5 s
	ReadTimeout       time.Duration // the whole request; default 30 s
	IdleTimeout       time.Duration // between keep-alive requests; default 90 s
	// WriteMargin: the server's write deadline, counted from the headers, is
	// BRIDGE_PUBLISH_TIMEOUT plus this; the webhook handler moves it once the body
	// is read. Default 10 s.
	WriteMargin time.Duration
	// MaxConns is how many connections are open at once; default
	// max(256, 4 × BRIDGE_MAX_IN_FLIGHT).
	MaxConns int
}

// server returns the limits with the defaults filled in.
func (l Limits) server() serverLimits {
	s := defaultLimits()
	if l.ReadHeaderTimeout > 0 {
		s.readHeader = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		s.read = l.ReadTimeout
	}
	if l.IdleTimeout > 0 {
		s.idle = l.IdleTimeout
	}
	if l.WriteMargin > 0 {
		s.writeMargin = l.WriteMargin
	}
	s.maxConns = l.MaxConns
	return s
}
