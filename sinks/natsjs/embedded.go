package natsjs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// ErrListenTaken is wrapped by the start-up error of an embedded server whose
// address another process holds (often a NATS server already running there, which
// the bridge could use instead).
var ErrListenTaken = errors.New("address already in use")

// startEmbedded runs a JetStream-enabled nats-server inside this process. Its store
// lives under cfg.DataDir, so published messages survive a restart of the bridge.
func startEmbedded(cfg Config) (*server.Server, error) {
	host, port, err := checkEmbedded(cfg)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := embeddedTLS(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		ServerName:    "audiospliter-bridge",
		Host:          host,
		Port:          port,
		Authorization: cfg.EmbeddedToken,
		JetStream:     true,
		StoreDir:      cfg.DataDir,
		// The server's default syncs every two minutes: a power loss could take
		// messages already answered 200. SyncAlways fsyncs before each PubAck.
		SyncAlways:   cfg.EmbeddedSyncInterval == 0,
		SyncInterval: cfg.EmbeddedSyncInterval,
		MaxPayload:   cfg.MaxPayload,
		NoSigs:       true,
		TLS:          tlsConfig != nil,
		TLSConfig:    tlsConfig,
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
	sync := "always"
	if cfg.EmbeddedSyncInterval > 0 {
		sync = cfg.EmbeddedSyncInterval.String()
	}
	cfg.Logger.Info("embedded nats server listening", "url", srv.ClientURL(), "store", cfg.DataDir,
		"sync", sync, "token_required", cfg.EmbeddedToken != "", "tls", tlsConfig != nil)
	return srv, nil
}

// embeddedTLS reads the embedded server's certificate and key, when they are set.
func embeddedTLS(cfg Config) (*tls.Config, error) {
	if cfg.EmbeddedTLSCertFile == "" && cfg.EmbeddedTLSKeyFile == "" {
		return nil, nil
	}
	if cfg.EmbeddedTLSCertFile == "" || cfg.EmbeddedTLSKeyFile == "" {
		return nil, &sinks.ConfigError{Field: "EmbeddedTLSCertFile", Err: errors.New("natsjs: the embedded server's TLS needs both its certificate and its key file")}
	}
	pair, err := tls.LoadX509KeyPair(cfg.EmbeddedTLSCertFile, cfg.EmbeddedTLSKeyFile)
	if err != nil {
		return nil, &sinks.ConfigError{Field: "EmbeddedTLSCertFile", Err: fmt.Errorf("natsjs: the embedded server's certificate and key: %w", err)}
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// checkEmbedded checks what the embedded server needs before it starts: an
// address it may listen on, free, and a data directory. It returns the address's
// host and port.
func checkEmbedded(cfg Config) (host string, port int, err error) {
	host, portStr, err := net.SplitHostPort(cfg.EmbeddedListen)
	if err != nil {
		return "", 0, &sinks.ConfigError{Field: "EmbeddedListen", Err: fmt.Errorf("natsjs: %q is not host:port: %w", cfg.EmbeddedListen, err)}
	}
	port, err = strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, &sinks.ConfigError{Field: "EmbeddedListen", Err: fmt.Errorf("natsjs: %q has no valid port", cfg.EmbeddedListen)}
	}
	// Anyone who reaches an unauthenticated server can purge the stream, losing
	// messages the bridge has answered 200 for, or inject unsigned ones.
	if !isLoopback(host) && cfg.EmbeddedToken == "" {
		return "", 0, &sinks.ConfigError{Field: "EmbeddedToken", Err: fmt.Errorf(
			"natsjs: the embedded server would listen beyond loopback (%s) without authentication: set a token that consumers present", cfg.EmbeddedListen)}
	}
	if port > 0 {
		// The server reports a taken port only by never becoming ready; asking the
		// kernel first turns a ten-second wait into an immediate, clear error.
		ln, err := net.Listen("tcp", cfg.EmbeddedListen)
		if err != nil {
			return "", 0, &sinks.ConfigError{Field: "EmbeddedListen", Err: fmt.Errorf("natsjs: embedded server cannot listen on %s: %w (%w)", cfg.EmbeddedListen, ErrListenTaken, err)}
		}
		ln.Close()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return "", 0, &sinks.ConfigError{Field: "DataDir", Err: fmt.Errorf("natsjs: %w", err)}
	}
	return host, port, nil
}

// isLoopback reports whether host (from host:port) accepts connections only from
// this machine. An empty host means every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
