package natsjs

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// startEmbedded runs a JetStream-enabled nats-server inside this process. Its store
// lives under cfg.DataDir, so published messages survive a restart of the bridge.
func startEmbedded(cfg Config) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.EmbeddedListen)
	if err != nil {
		return nil, &sinks.ConfigError{Field: "EmbeddedListen", Err: fmt.Errorf("natsjs: %q is not host:port: %w", cfg.EmbeddedListen, err)}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return nil, &sinks.ConfigError{Field: "EmbeddedListen", Err: fmt.Errorf("natsjs: %q has no valid port", cfg.EmbeddedListen)}
	}
	if port > 0 {
		// The server reports a taken port only by never becoming ready; asking the
		// kernel first turns a ten-second wait into an immediate, clear error.
		ln, err := net.Listen("tcp", cfg.EmbeddedListen)
		if err != nil {
			return nil, &sinks.ConfigError{Field: "EmbeddedListen", Err: fmt.Errorf("natsjs: embedded server cannot listen: %w", err)}
		}
		ln.Close()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, &sinks.ConfigError{Field: "DataDir", Err: fmt.Errorf("natsjs: %w", err)}
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "audiospliter-bridge",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.DataDir,
		MaxPayload: cfg.MaxPayload,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("natsjs: embedded server: %w", err)
	}
	srv.SetLoggerV2(&serverLog{cfg.Logger.With("component", "embedded-nats")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, &sinks.ConfigError{Field: "EmbeddedListen", Err: fmt.Errorf("natsjs: embedded server did not start listening on %s (is the port taken?)", cfg.EmbeddedListen)}
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		return nil, &sinks.ConfigError{Field: "DataDir", Err: fmt.Errorf("natsjs: embedded server could not enable JetStream with store %s", cfg.DataDir)}
	}
	cfg.Logger.Info("embedded nats server listening", "url", srv.ClientURL(), "store", cfg.DataDir)
	return srv, nil
}

func (s *Sink) shutdownEmbedded() {
	if s.server != nil {
		s.server.Shutdown()
		s.server.WaitForShutdown()
	}
}

// serverLog routes the embedded server's log through slog. Fatalf only logs: the
// server's own fatal path would otherwise end the whole bridge.
type serverLog struct{ l *slog.Logger }

func (s *serverLog) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s *serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s *serverLog) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s *serverLog) Tracef(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
