package rabbitmq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// dial opens the AMQP connection to one node: TCP, then TLS for amqps://, then the
// AMQP handshake with PLAIN, or SASL EXTERNAL when a client certificate is the
// identity (no user in the URL).
//
// The TLS handshake is ours rather than amqp091-go's so that a refusal keeps its type
// and says which setting is wrong. Under TLS 1.3 the broker judges our certificate
// after the handshake has completed on our side: its alert arrives on the first read,
// inside amqp091-go, which would report it only as a frame error. tlsConn keeps that
// read error for the diagnosis.
//
// The TCP connection under it is a stall.Conn: a write the broker does not take
// fails by itself.
func (s *Sink) dial(ctx context.Context, ep endpoint) (*amqp.Connection, error) {
	cfg := amqp.Config{
		Heartbeat: 10 * time.Second,
		Locale:    "en_US",
		Properties: amqp.Table{
			"connection_name": s.connName, // shown by the management UI and rabbitmqctl
			"product":         appID,
		},
	}
	var ct *clientTLS
	if ep.tls {
		var err error
		if ct, err = s.currentTLS(); err != nil {
			return nil, err
		}
		if ct.leaf != nil && !ep.hasUser {
			cfg.SASL = []amqp.Authentication{&amqp.ExternalAuth{}}
		}
	}
	var tc *tlsConn
	var w *stall.Conn
	var asked atomic.Bool // the broker asked for a client certificate
	var tlsAddr string
	var tlsConfig *tls.Config
	cfg.Dial = func(network, addr string) (net.Conn, error) {
		if ct == nil {
			var err error
			if w, err = s.dialTCP(ctx, addr); err != nil {
				return nil, err
			}
			return stall.WriteBehind(w), nil
		}
		tlsAddr, tlsConfig = addr, ct.config.Clone()
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = ep.host
		}
		// Answer the broker's request ourselves, to know it asked.
		mine := tlsConfig.Certificates
		tlsConfig.Certificates = nil
		tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked.Store(true)
			if len(mine) == 0 {
				return &tls.Certificate{}, nil
			}
			return &mine[0], nil
		}
		c, tw, err := s.dialTLS(ctx, addr, tlsConfig)
		if err != nil {
			return nil, err
		}
		tc, w = &tlsConn{Conn: c}, tw
		return tc, nil
	}
	// The end of ctx (a sink closing while it reconnects) ends the handshake at once.
	// DialConfig calls Dial on this goroutine, so stop is set before it returns.
	stop := func() bool { return false }
	dial := cfg.Dial
	cfg.Dial = func(network, addr string) (net.Conn, error) {
		c, err := dial(network, addr)
		if err == nil {
			stop = context.AfterFunc(ctx, func() { _ = w.SetDeadline(time.Now()) })
		}
		return c, err
	}
	conn, err := amqp.DialConfig(ep.dialURL, cfg)
	stop()
	if err != nil {
		var amqpErr *amqp.Error
		if tc != nil && asked.Load() && !(errors.As(err, &amqpErr) && amqpErr.Server) {
			// The connection broke right after a TLS handshake in which the broker asked
			// for our certificate: the broker's reason is probably an alert that came
			// too late for amqp091-go, which wrote into a closed socket first.
			if rerr := tc.readErr(); rerr != nil {
				err = rerr
			} else if perr := s.probeRefusal(ctx, tlsAddr, tlsConfig); perr != nil {
				err = perr
			}
		}
		return nil, s.dialError(ep, ct, asked.Load(), len(cfg.SASL) > 0, err)
	}
	return conn, nil
}

func (s *Sink) dialTCP(ctx context.Context, addr string) (*stall.Conn, error) {
	w, err := s.sockets.Dial(ctx, "tcp", addr, s.cfg.ConnectTimeout)
	if err != nil {
		return nil, err
	}
	// Heartbeats start after the handshake; until then a deadline stops a broker that
	// accepts and says nothing. amqp091-go clears it once the connection is open.
	deadline := time.Now().Add(s.cfg.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = w.SetDeadline(deadline)
	return w, nil
}

func (s *Sink) dialTLS(ctx context.Context, addr string, config *tls.Config) (*tls.Conn, *stall.Conn, error) {
	w, err := s.dialTCP(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	behind := stall.WriteBehind(w)
	c := tls.Client(behind, config)
	if err := c.HandshakeContext(ctx); err != nil {
		_ = behind.Close() // its writer goroutine with it; closes w
		return nil, nil, err
	}
	return c, w, nil
}

// probeRefusal asks the broker again, only to learn why the connection broke: after
// a fresh handshake it sends nothing and waits briefly. A broker that refuses our
// certificate says so with an alert at once; one that accepted it waits for the AMQP
// header, and the probe returns nil. It runs only on that failure path.
func (s *Sink) probeRefusal(ctx context.Context, addr string, config *tls.Config) error {
	c, _, err := s.dialTLS(ctx, addr, config)
	if err != nil {
		return nil // the first failure tells more than a second one
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(min(s.cfg.ConnectTimeout, 2*time.Second)))
	_, err = c.Read(make([]byte, 1))
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return err
	}
	return nil
}

// tlsConn remembers the first read error of a TLS connection.
type tlsConn struct {
	*tls.Conn
	mu  sync.Mutex
	err error
}

func (c *tlsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *tlsConn) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var op *net.OpError
	if errors.As(c.err, &op) && op.Op == "remote error" {
		return c.err
	}
	return nil
}

// certAlerts are the TLS alerts with which a broker refuses a client certificate (or
// its absence).
var certAlerts = []tls.AlertError{42, 43, 44, 45, 46, 48, 49, 116}

// refusedCert tells whether err is the broker refusing our certificate: an alert
// about certificates, or any alert once it had asked for one (Erlang answers a
// missing certificate under TLS 1.2 with a plain handshake_failure).
func refusedCert(err error, asked bool) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	if asked {
		return true
	}
	// crypto/tls reports the peer's alert with an unexported type whose text is the
	// exported AlertError's.
	for _, a := range certAlerts {
		if op.Err.Error() == a.Error() {
			return true
		}
	}
	return false
}

// dialError says which setting made a connection attempt fail, as a
// *sinks.ConfigError naming its Config field.
func (s *Sink) dialError(ep endpoint, ct *clientTLS, asked, external bool, err error) error {
	// amqp091-go and the network may quote what they were given (the node's URL).
	err = sinks.RedactError(err, s.cfg.URL)
	at := "rabbitmq: connect to " + ep.shown
	bad := func(field, format string, args ...any) error {
		return &sinks.ConfigError{Field: field, Err: fmt.Errorf(at+": "+format, args...)}
	}
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	var amqpErr *amqp.Error
	switch {
	case errors.As(err, &host):
		return bad("TLS.ServerName", "the broker's certificate does not carry the name the bridge verifies: %w", err)
	case errors.As(err, &verify):
		roots := "the system's CA certificates"
		if s.cfg.TLS.CAFile != "" {
			roots = s.cfg.TLS.CAFile
		}
		return bad("TLS.CAFile", "the broker's certificate does not verify against %s: %w", roots, err)
	case refusedCert(err, asked) && ct != nil && ct.leaf != nil:
		note := ""
		if time.Now().After(ct.leaf.NotAfter) {
			note = fmt.Sprintf(" (it expired at %s)", ct.leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		return bad("TLS.CertFile", "the broker refused our client certificate %q%s: %w", ct.leaf.Subject.CommonName, note, err)
	case refusedCert(err, asked):
		return bad("TLS.CertFile", "the broker requires a client certificate and none is set: %w", err)
	case errors.As(err, &amqpErr) && amqpErr.Code == amqp.AccessRefused && external:
		return bad("TLS.CertFile", "the broker refused SASL EXTERNAL for our certificate %q (is there a user of that name, and does the broker offer EXTERNAL?): %w", ct.leaf.Subject.CommonName, err)
	case errors.As(err, &amqpErr) && amqpErr.Code == amqp.AccessRefused:
		return bad("URL", "the broker refused the user name or password: %w", err)
	case errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotAllowed:
		// The login worked; the user may not use the URL's virtual host.
		return bad("URL", "the broker let the user in but not into the virtual host of the URL (give it permissions there: rabbitmqctl set_permissions -p <vhost> <user> …): %w", err)
	case errors.Is(err, amqp.ErrSASL) && external:
		return bad("TLS.CertFile", "the broker does not offer SASL EXTERNAL (its rabbitmq_auth_mechanism_ssl plugin and auth_mechanisms setting); or put a user and password in the URL for PLAIN: %w", err)
	}
	return bad("URL", "%w", err)
}
