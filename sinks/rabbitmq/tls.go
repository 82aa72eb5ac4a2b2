package rabbitmq

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// TLS holds the files of amqps:// connections. There is deliberately no way to skip
// verification of the broker's certificate: an operator with a private CA gives its
// file.
type TLS struct {
	CAFile     string // PEM certificates that verify the broker; empty: the system roots
	CertFile   string // client certificate (PEM); with no user in the URL, SASL EXTERNAL
	KeyFile    string // its private key (PEM)
	ServerName string // name to verify in the broker's certificate; empty: each URL's host
}

func (t TLS) set() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// clientTLS is what one connection attempt uses.
type clientTLS struct {
	config *tls.Config
	leaf   *x509.Certificate // our certificate, nil without one
}

// load reads the files. It runs before every connection attempt, so a client
// certificate renewed on disk (a Kubernetes secret, cert-manager) is presented at the
// next reconnection without a restart.
func (t TLS) load() (*clientTLS, error) {
	c := &clientTLS{config: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}}
	if t.CAFile != "" {
		data, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &sinks.ConfigError{Field: "TLS.CAFile", Err: fmt.Errorf("rabbitmq: read the CA file: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, &sinks.ConfigError{Field: "TLS.CAFile", Err: fmt.Errorf("rabbitmq: the CA file %s holds no PEM certificate", t.CAFile)}
		}
		c.config.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, &sinks.ConfigError{Field: "TLS.CertFile", Err: fmt.Errorf("rabbitmq: a client certificate needs both its certificate file and its key file")}
	}
	if t.CertFile == "" {
		return c, nil
	}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		return nil, &sinks.ConfigError{Field: "TLS.CertFile", Err: fmt.Errorf("rabbitmq: read the client certificate: %w", err)}
	}
	leaf, err := firstCertificate(certPEM)
	if err != nil {
		return nil, &sinks.ConfigError{Field: "TLS.CertFile", Err: fmt.Errorf("rabbitmq: client certificate %s: %w", t.CertFile, err)}
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		return nil, &sinks.ConfigError{Field: "TLS.KeyFile", Err: fmt.Errorf("rabbitmq: read the client key: %w", err)}
	}
	// The certificate parsed above, so what fails here is the key or the match. The
	// library's messages describe the problem, never the key's content.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, &sinks.ConfigError{Field: "TLS.KeyFile", Err: fmt.Errorf("rabbitmq: client key %s for certificate %s: %w", t.KeyFile, t.CertFile, err)}
	}
	c.config.Certificates = []tls.Certificate{pair}
	c.leaf = leaf
	return c, nil
}

// firstCertificate parses the first certificate of a PEM file: the client's own.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("no PEM certificate in the file")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

// currentTLS loads the files; when they cannot be read after the sink has started
// (a rotation caught half-way), it keeps the last good set and says so.
func (s *Sink) currentTLS() (*clientTLS, error) {
	c, err := s.cfg.TLS.load()
	s.tlsMu.Lock()
	defer s.tlsMu.Unlock()
	if err != nil {
		if s.lastTLS == nil {
			return nil, err
		}
		s.log.Warn("rabbitmq TLS files unreadable; using the ones read before", "err", err)
		return s.lastTLS, nil
	}
	s.lastTLS = c
	return c, nil
}
