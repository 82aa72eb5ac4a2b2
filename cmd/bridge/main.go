// Command bridge receives signed AudioSpliter webhooks and publishes each one to the
// configured broker, answering 200 only once the broker has confirmed it.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the server failed while running
	exitConfig = 2 // bad configuration, including a broker unreachable at start
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr, func() int {
		return run(context.Background(), os.Stderr, nil)
	}))
}

// run is the whole program. It returns when ctx ends or SIGINT/SIGTERM arrives,
// after draining. onListen, when not nil, receives the bound address (tests listen
// on port 0).
func run(ctx context.Context, stderr io.Writer, onListen func(addr string)) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Looked for before the configuration is checked: a misspelt variable is often
	// the reason the check fails.
	unknown := unknownVariables(os.Environ())
	cfg, err := loadConfig()
	if err != nil {
		log := newLogger(stderr, slog.LevelInfo)
		warnUnknownVariables(log, unknown)
		log.Error("bad configuration: " + err.Error())
		return exitConfig
	}
	log := newLogger(stderr, cfg.logLevel)
	warnUnknownVariables(log, unknown)
	if n := cfg.shortSecrets(); n > 0 {
		log.Warn("BRIDGE_WEBHOOK_SECRET: a secret shorter than 16 bytes is easy to guess", "count", n)
	}

	// The secret file and the TLS pair are read again when they change and on
	// SIGHUP, so both rotate without a restart.
	rl := &reloader{log: log, secretFile: cfg.WebhookSecretFile, certFile: cfg.TLSCertFile, keyFile: cfg.TLSKeyFile,
		activeSet: secretsFingerprint(cfg.secrets)}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		if err := rl.loadCertificate(); err != nil {
			log.Error("bad configuration: " + badVar("BRIDGE_TLS_CERT_FILE", "with BRIDGE_TLS_KEY_FILE: %v", err).Error())
			return exitConfig
		}
		tlsConfig = &tls.Config{GetCertificate: rl.getCertificate, MinVersion: tls.VersionTLS12}
	}

	tp, err := setupTracing(ctx, log)
	if err != nil {
		log.Error("bad configuration: " + err.Error())
		return exitConfig
	}
	var drainEnd time.Time // set when shutdown begins
	if tp != nil {
		// Registered before the sink's Close, so it runs after it: every span has
		// ended by then, and Shutdown flushes them to the collector. A collector that
		// does not answer must not stretch the exit past the shutdown bound: the
		// flush gets at most 5 s, and never more than half a second past the drain's
		// deadline.
		defer func() {
			deadline := time.Now().Add(5 * time.Second)
			if end := drainEnd.Add(500 * time.Millisecond); !drainEnd.IsZero() && end.Before(deadline) {
				deadline = end
			}
			flushCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
			defer cancel()
			if err := tp.Shutdown(flushCtx); err != nil {
				log.Warn("flushing traces", "err", err)
			}
		}()
	}

	// Bind before connecting to the broker: a taken port fails fast, and nothing is
	// served until the sink is ready.
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		log.Error("bad configuration: " + badVar("BRIDGE_LISTEN_ADDR", "%v", err).Error())
		return exitConfig
	}
	defer ln.Close()

	sinkMetrics := sinks.NewMetrics(cfg.Sink)
	sink, err := openSink(ctx, cfg, log, sinkMetrics)
	if err != nil && ctx.Err() != nil {
		// SIGTERM while connecting: a stop that was asked for, not a mistake to fix.
		log.Info("stopped while connecting to the broker", "err", err)
		return 0
	}
	if err != nil {
		log.Error("bad configuration: " + err.Error())
		return exitConfig
	}
	defer closeSink(sink, &drainEnd, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(sinkMetrics.Collectors()...)
	reg.MustRegister(readyGauge(ctx, sink))
	bcfg := bridge.Config{
		Secrets:        cfg.secrets,
		WebhookPath:    cfg.WebhookPath,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		PublishTimeout: cfg.PublishTimeout,
		MaxInFlight:    cfg.MaxInFlight,
		DedupTTL:       cfg.DedupTTL,
		CESource:       cfg.Ce.Source,
		CETypePrefix:   cfg.Ce.TypePrefix,
		Sink:           sink,
		Logger:         log,
		Registry:       reg,
	}
	if tp != nil {
		bcfg.TracerProvider = tp
	}
	b, err := bridge.New(bcfg)
	if err != nil {
		log.Error("bad configuration: " + err.Error())
		return exitConfig
	}

	rl.setSecrets = b.SetSecrets
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	go rl.run(reloadCtx, hup)

	limited := limitListener(ln, limits.maxConns(cfg.MaxInFlight))
	ln = limited
	srv := &http.Server{
		ConnState:         limited.connState,
		Handler:           b,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: limits.readHeader,
		ReadTimeout:       limits.read,
		// Counted from the headers; the webhook handler moves it once the body is
		// read, so a slow upload does not eat into the publish's time.
		WriteTimeout:   cfg.PublishTimeout + limits.writeMargin,
		IdleTimeout:    limits.idle,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "")
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	log.Info("listening", "addr", ln.Addr().String(), "path", cfg.WebhookPath, "sink", cfg.Sink, "tls", tlsConfig != nil)
	if onListen != nil {
		onListen(ln.Addr().String())
	}

	code := exitOK
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight webhooks", "timeout", cfg.ShutdownTimeout.String())
	case err := <-serveErr:
		log.Error("server failed", "err", err)
		code = exitFailed
	}
	// The parent context is done by now; the drain gets its own deadline.
	drainEnd = time.Now().Add(cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), drainEnd)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown timed out; closing remaining connections", "err", err)
		_ = srv.Close()
	}
	return code
}

// closeSink waits for the sink's in-flight publishes, which end at the publish
// timeout at the latest, but not past the drain's deadline (+0.5 s, inside the
// promised +1 s): SIGTERM must exit within BRIDGE_SHUTDOWN_TIMEOUT also when the
// broker has stopped answering and the publish timeout is the longer one. A publish
// given up here was never answered 200. Before the drain began (a start-up failure)
// there is no deadline.
func closeSink(sink sinks.Sink, drainEnd *time.Time, log *slog.Logger) {
	done := make(chan error, 1)
	go func() { done <- sink.Close() }()
	var limit <-chan time.Time
	if !drainEnd.IsZero() {
		limit = time.After(time.Until(drainEnd.Add(500 * time.Millisecond)))
	}
	select {
	case err := <-done:
		if err != nil {
			log.Warn("closing the sink", "err", err)
		}
	case <-limit:
		log.Warn("the sink did not close by the shutdown deadline; exiting with publishes in flight, none of them answered 200")
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
