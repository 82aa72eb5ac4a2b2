// Command bridge receives signed AudioSpliter webhooks and publishes each one to the
// configured broker, answering 200 only once the broker has confirmed it.
//
// This is what only a binary does: the environment becomes a config.Config (and
// unknown BRIDGE_* variables a warning), SIGTERM/SIGINT end the context, SIGHUP
// asks for a reload, and the outcome becomes the exit status. The bridge itself is
// internal/app.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/otel"

	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // the server failed while running
	exitConfig = 2 // bad configuration, including a broker unreachable at start
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr, func() int { return run(os.Stderr) }))
}

// run is the bridge as a process: it returns the exit status once SIGINT/SIGTERM
// has stopped it (after draining), or at once for bad configuration.
func run(stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			select {
			case reload <- struct{}{}:
			default: // one is pending already
			}
		}
	}()

	// Looked for before the configuration is checked: a misspelt variable is often
	// the reason the check fails.
	unknown := unknownVariables(os.Environ())
	cfg, err := config.Load()
	if err != nil {
		log := newLogger(stderr, slog.LevelInfo)
		warnUnknownVariables(log, unknown)
		log.Error("bad configuration: " + err.Error())
		return exitConfig
	}
	log := newLogger(stderr, cfg.Level())
	warnUnknownVariables(log, unknown)
	// Export failures are the OpenTelemetry SDK's to report; they go to the bridge's
	// log, not to a second, unstructured logger.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("opentelemetry", "err", err)
	}))

	err = app.Run(ctx, app.Options{Config: cfg, Logger: log, Reload: reload, OTel: os.LookupEnv})
	var bad *config.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &bad):
		log.Error("bad configuration: " + err.Error())
		return exitConfig
	default:
		log.Error("server failed", "err", err)
		return exitFailed
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
