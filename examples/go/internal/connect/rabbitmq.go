package connect

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"

	amqp "github.com/rabbitmq/amqp091-go"
)

// RabbitMQ is how an example connects to RabbitMQ: the URL (amqp://, or amqps://
// for TLS), a CA, and a client certificate. With a certificate and no user name in
// the URL it logs in with SASL EXTERNAL (the certificate is the identity), as the
// bridge does.
type RabbitMQ struct {
	URL                       string
	CAFile, CertFile, KeyFile string
}

// Flags registers -url, -ca, -cert and -key.
func (r *RabbitMQ) Flags(fs *flag.FlagSet) {
	String(fs, &r.URL, "url", "RABBITMQ_URL", "amqp://guest:guest@localhost:5672/", "RabbitMQ URL of a consumer's user; amqps:// for TLS (no user with a client certificate: EXTERNAL)")
	String(fs, &r.CAFile, "ca", "RABBITMQ_TLS_CA_FILE", "", "PEM CA file that verifies the broker (amqps:// only; default: the system's)")
	String(fs, &r.CertFile, "cert", "RABBITMQ_TLS_CERT_FILE", "", "client certificate (PEM), with -key (amqps:// only)")
	String(fs, &r.KeyFile, "key", "RABBITMQ_TLS_KEY_FILE", "", "the client certificate's key (PEM)")
}

// Dial connects as name (the connection_name the management UI shows), giving up
// after c.ConnectTimeout (TCP, TLS and AMQP handshakes together).
func (r *RabbitMQ) Dial(name string, c Common) (*amqp.Connection, error) {
	fail := func(err error) error { return fmt.Errorf("cannot connect to RabbitMQ at %s: %w", Redact(r.URL), err) }
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, fail(errors.New("the URL does not parse"))
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	cfg := amqp.Config{Dial: amqp.DefaultDial(c.ConnectTimeout), Properties: props}
	switch {
	case u.Scheme == "amqps":
		tc, err := r.tlsConfig()
		if err != nil {
			return nil, fail(err)
		}
		cfg.TLSClientConfig = tc
		if r.CertFile != "" && u.User == nil {
			cfg.SASL = []amqp.Authentication{&amqp.ExternalAuth{}}
		}
	case r.CAFile != "" || r.CertFile != "" || r.KeyFile != "":
		return nil, fail(errors.New("TLS files need an amqps:// URL"))
	}
	conn, err := amqp.DialConfig(r.URL, cfg)
	if err != nil {
		return nil, fail(err)
	}
	return conn, nil
}

func (r *RabbitMQ) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CAFile != "" {
		pem, err := os.ReadFile(r.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", r.CAFile)
		}
	}
	if (r.CertFile == "") != (r.KeyFile == "") {
		return nil, errors.New("a client certificate needs both -cert and -key (RABBITMQ_TLS_CERT_FILE, RABBITMQ_TLS_KEY_FILE)")
	}
	if r.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
