package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Run is the whole bridge. It returns when ctx ends, after draining, with nil; or at
// start with a *config.Error when the configuration is at fault (a broker that
// cannot be reached, a listen address in use included); or with another error when
// the server failed while running. ctx ending while Run is still connecting to the
// broker is a stop that was asked for: nil.
func Run(ctx context.Context, opts Options) error {
	cfg := opts.Config
	if cfg == nil || len(cfg.Secrets()) == 0 && len(cfg.Senders()) == 0 {
		return errors.New("app: Options.Config must be a validated configuration (config.Load, or Validate)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var clk clock.Clock = clock.Real{}
	if opts.Clock != nil {
		clk = opts.Clock
	}
	if n := cfg.ShortSecrets(); n > 0 {
		log.Warn("BRIDGE_WEBHOOK_SECRET: a secret shorter than 16 bytes is easy to guess", "count", n)
	}
	warnShortSenderSecrets(log, cfg.Senders())

	// The secret files and the TLS pair are read again when they change and on a
	// reload request, so they rotate without a restart.
	rl := &reloader{log: log, every: opts.ReloadEvery, certFile: cfg.TLSCertFile, keyFile: cfg.TLSKeyFile}
	if rl.every <= 0 {
		rl.every = defaultReloadEvery
	}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		if err := rl.loadCertificate(); err != nil {
			return config.Errorf("BRIDGE_TLS_CERT_FILE", "with BRIDGE_TLS_KEY_FILE: %v", err)
		}
		tlsConfig = &tls.Config{GetCertificate: rl.getCertificate, MinVersion: tls.VersionTLS12}
	}

	tp, err := setupTracing(ctx, log, opts.OTel)
	if err != nil {
		return err
	}
	var drainStart, drainEnd time.Time // set when shutdown begins
	// Deferred first, so it runs last: after the sink has closed and the traces
	// are flushed, the one line that says the process is done.
	defer func() {
		if !drainStart.IsZero() {
			log.Info("stopped", "took", time.Since(drainStart).Round(time.Millisecond).String())
		}
	}()
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
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
			return config.Errorf("BRIDGE_LISTEN_ADDR", "%v", err)
		}
	}
	defer ln.Close()

	sinkMetrics := sinks.NewMetrics(cfg.Sink)
	sink, err := opts.Sink, error(nil)
	if sink == nil {
		sink, err = openSink(ctx, cfg, log, sinkMetrics)
	}
	if err != nil && ctx.Err() != nil {
		// Stopped while connecting: a stop that was asked for, not a mistake to fix.
		log.Info("stopped while connecting to the broker", "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer closeSink(sink, &drainEnd, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(sinkMetrics.Collectors()...)
	bcfg := bridge.Config{
		Secrets:        cfg.Secrets(),
		WebhookPath:    cfg.WebhookPath,
		Senders:        bridgeSenders(cfg.Senders()),
		MaxBodyBytes:   cfg.MaxBodyBytes,
		PublishTimeout: cfg.PublishTimeout,
		MaxInFlight:    cfg.MaxInFlight,
		DedupTTL:       cfg.DedupTTL,
		CESource:       cfg.Ce.Source,
		CETypePrefix:   cfg.Ce.TypePrefix,
		OmitSignature:  !cfg.ForwardSignature,
		Sink:           sink,
		Logger:         log,
		Registry:       reg,
		Clock:          clk,
	}
	if bcfg.Senders != nil {
		bcfg.Secrets, bcfg.WebhookPath = nil, ""
	}
	if tp != nil {
		bcfg.TracerProvider = tp
	}
	b, err := bridge.New(bcfg)
	if err != nil {
		return &config.Error{Problem: err.Error()}
	}
	reg.MustRegister(readyGauge(ctx, b.Ready))

	if cfg.WebhookSecretFile != "" && cfg.Senders() == nil {
		rl.watchSecrets("BRIDGE_WEBHOOK_SECRET_FILE", cfg.WebhookSecretFile, cfg.Secrets(), b.SetSecrets)
	}
	for _, s := range cfg.Senders() {
		rl.watchSecrets("BRIDGE_SENDERS_FILE: sender "+s.Name+": secret_file", s.SecretFile, s.Secrets(), s.Verifier.SetSecrets, "sender", s.Name)
	}
	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	go rl.run(reloadCtx, opts.Reload)

	limits := opts.Limits.server()
	// TLS, when on, sits above the admission listener: a taken slot closes the raw
	// socket, which never blocks.
	if tlsConfig != nil {
		ln = tlsOnlyListener{ln} // plain HTTP gets a JSON answer (plainhttp.go)
	}
	admitted := admit.NewListener(ln, limits.conns(cfg.MaxInFlight), clk)
	ln = admitted
	srv := &http.Server{
		ConnState:         admitted.ConnState,
		ConnContext:       admitted.ConnContext,
		Handler:           admitted.Answered(b),
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
	if ss := cfg.Senders(); ss != nil {
		paths := make(map[string]string, len(ss))
		for _, s := range ss {
			paths[s.Name] = s.Path
		}
		log.Info("listening", "addr", ln.Addr().String(), "senders", paths, "sink", cfg.Sink, "tls", tlsConfig != nil)
	} else {
		log.Info("listening", "addr", ln.Addr().String(), "path", cfg.WebhookPath, "sink", cfg.Sink, "tls", tlsConfig != nil)
	}
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr().String())
	}

	var failed error
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight webhooks", "timeout", cfg.ShutdownTimeout.String())
	case err := <-serveErr:
		failed = fmt.Errorf("app: serving: %w", err)
	}
	// The parent context is done by now; the drain gets its own deadline. Publishes
	// still waiting for the broker when it is near are answered 503 (StopPublishes),
	// so that no sender meets a closed connection; the server then has until a
	// little past the deadline to write those answers and see the connections idle.
	drainStart = time.Now()
	drainEnd = drainStart.Add(cfg.ShutdownTimeout)
	stopAt := drainEnd.Add(-min(answerMargin, cfg.ShutdownTimeout/4))
	stopTimer := time.AfterFunc(time.Until(stopAt), func() {
		log.Warn("BRIDGE_SHUTDOWN_TIMEOUT is ending: answering 503 to webhooks still waiting for the broker",
			"in_flight", b.InFlight())
		b.StopPublishes()
	})
	defer stopTimer.Stop()
	shutdownCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), drainEnd.Add(answerMargin))
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown timed out; closing remaining connections", "err", err)
		_ = srv.Close()
	}
	return failed
}

// answerMargin is how long before the drain's deadline the webhooks still waiting
// for the broker are answered, and how long past it the server may take to write
// those answers: http.Server.Shutdown looks for idle connections every 0.5 s at
// most once it has waited a while.
const answerMargin = 250 * time.Millisecond

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
