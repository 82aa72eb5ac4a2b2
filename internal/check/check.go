// Package check is `bridge check`: with the environment the bridge would run with,
// it checks the configuration, the secret and TLS files, and the broker (each
// sink's Check: connect, authenticate, the topology or stream, the permission to
// publish where the broker can tell without a message), and prints one line per
// check. It publishes nothing and changes nothing on the broker, so it can run as
// an init container before the bridge, or as a Helm test beside it.
//
// Each line is a status, the thing checked and what was found:
//
//	ok    configuration: sink nats, listening on :8080, webhook path /webhooks
//	FAIL  stream AUDIOSPLITER: BRIDGE_NATS_STREAM: natsjs: stream AUDIOSPLITER exists, and its subjects …
//	skip  send to the queue: SQS cannot tell whether sqs:SendMessage is allowed without sending a message …
//	warn  variables: BRIDGE_NATS_STREEM is not a variable the bridge reads; did you mean BRIDGE_NATS_STREAM?
//
// Run returns 0 when nothing failed, 2 otherwise: the exit status of the bridge
// for a configuration it cannot start with.
package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

// Exit statuses of Run.
const (
	OK     = 0
	Failed = 2
)

// Timeout bounds the whole check.
const Timeout = 30 * time.Second

// Options are what Run checks.
type Options struct {
	// Load reads and validates the configuration (config.Load for the process).
	Load func() (*config.Config, error)
	// Warnings are lines about the environment that do not stop the bridge
	// (variables it does not read), printed first.
	Warnings []string
}

// Run checks and prints one line per check to w.
func Run(ctx context.Context, w io.Writer, opts Options) int {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	r := &report{w: w}
	for _, warning := range opts.Warnings {
		r.line("warn", "variables", warning)
	}
	cfg, err := opts.Load()
	if err != nil {
		r.line("FAIL", "configuration", err.Error())
		return r.status()
	}
	if ss := cfg.Senders(); ss != nil {
		r.line("ok", "configuration", fmt.Sprintf("sink %s, listening on %s, %d senders from BRIDGE_SENDERS_FILE %s, publish timeout %s, shutdown timeout %s",
			cfg.Sink, cfg.ListenAddr, len(ss), cfg.SendersFile, cfg.PublishTimeout, cfg.ShutdownTimeout))
		r.senders(cfg)
	} else {
		r.line("ok", "configuration", fmt.Sprintf("sink %s, listening on %s, webhook path %s, publish timeout %s, shutdown timeout %s",
			cfg.Sink, cfg.ListenAddr, cfg.WebhookPath, cfg.PublishTimeout, cfg.ShutdownTimeout))
		r.secrets(cfg)
	}
	r.listen(cfg.ListenAddr)
	if cfg.TLSCertFile != "" {
		r.certificate(cfg.TLSCertFile, cfg.TLSKeyFile, time.Now())
	}
	for _, res := range app.CheckSink(ctx, cfg) {
		switch {
		case res.Warning:
			r.line("warn", res.Name, oneLine(res.Err.Error()))
		case res.Err != nil:
			r.line("FAIL", res.Name, oneLine(res.Err.Error()))
		case res.Skipped:
			r.line("skip", res.Name, res.Detail)
		default:
			r.line("ok", res.Name, res.Detail)
		}
	}
	return r.status()
}

type report struct {
	w      io.Writer
	failed bool
}

func (r *report) line(status, name, detail string) {
	if status == "FAIL" {
		r.failed = true
	}
	fmt.Fprintf(r.w, "%-4s  %s: %s\n", status, name, detail)
}

func (r *report) status() int {
	if r.failed {
		return Failed
	}
	return OK
}

// secrets says how many webhook secrets are in service and where they come from,
// never what they are.
// listen says whether the bridge could listen on addr now. Taken is a warning,
// not a failure: the usual holder is the bridge itself, checked beside it.
func (r *report) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.line("warn", "listen address", "BRIDGE_LISTEN_ADDR: "+oneLine(err.Error())+" (a bridge started now would exit 2; if the holder is a bridge already running, that is expected)")
		return
	}
	_ = ln.Close()
	r.line("ok", "listen address", addr+" is free")
}

func (r *report) secrets(cfg *config.Config) {
	from := "BRIDGE_WEBHOOK_SECRET"
	if cfg.WebhookSecretFile != "" {
		from = "BRIDGE_WEBHOOK_SECRET_FILE " + cfg.WebhookSecretFile
	}
	n := len(cfg.Secrets())
	r.line("ok", "webhook secrets", fmt.Sprintf("%d from %s", n, from))
	if short := cfg.ShortSecrets(); short > 0 {
		r.line("warn", "webhook secrets", fmt.Sprintf("%d of them shorter than 16 bytes: easy to guess", short))
	}
}

// senders says, per sender of the senders file, what it is and how many secrets
// its secret_file holds (the file was loaded: every secret file was read and every
// scheme built), never what they are.
func (r *report) senders(cfg *config.Config) {
	for _, s := range cfg.Senders() {
		detail := fmt.Sprintf("scheme %s on %s, %d secrets from %s, route %s", s.Scheme, s.Path, len(s.Secrets()), s.SecretFile, s.Route)
		if s.Tolerance > 0 {
			detail += ", tolerance " + s.Tolerance.String()
		}
		switch {
		case cfg.Sink == "rabbitmq" && s.Destination.RabbitMQExchange != "":
			detail += ", exchange " + s.Destination.RabbitMQExchange
		case cfg.Sink == "sqs" && s.Destination.SQSQueueURL != "":
			detail += ", queue " + s.Destination.SQSQueueURL
		}
		name := "sender " + s.Name
		r.line("ok", name, detail)
		if short := config.CountShort(s.Secrets()); short > 0 {
			r.line("warn", name, fmt.Sprintf("%d of its secrets shorter than 16 bytes: easy to guess", short))
		}
	}
}

// certificate checks the HTTPS pair: it loads, its key matches, and it is valid now.
func (r *report) certificate(certFile, keyFile string, now time.Time) {
	const name = "HTTPS certificate"
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		r.line("FAIL", name, "BRIDGE_TLS_CERT_FILE: with BRIDGE_TLS_KEY_FILE: "+err.Error())
		return
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		r.line("FAIL", name, "BRIDGE_TLS_CERT_FILE: "+err.Error())
		return
	}
	names := strings.Join(append(append([]string{}, leaf.DNSNames...), ips(leaf)...), ", ")
	switch {
	case now.After(leaf.NotAfter):
		r.line("FAIL", name, fmt.Sprintf("BRIDGE_TLS_CERT_FILE: the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339)))
	case now.Before(leaf.NotBefore):
		r.line("FAIL", name, fmt.Sprintf("BRIDGE_TLS_CERT_FILE: the certificate is valid only from %s", leaf.NotBefore.UTC().Format(time.RFC3339)))
	default:
		r.line("ok", name, fmt.Sprintf("%q for %s, valid until %s (%d days)", leaf.Subject.CommonName, names,
			leaf.NotAfter.UTC().Format(time.RFC3339), int(leaf.NotAfter.Sub(now).Hours()/24)))
	}
}

func ips(c *x509.Certificate) []string {
	out := make([]string, len(c.IPAddresses))
	for i, ip := range c.IPAddresses {
		out[i] = ip.String()
	}
	return out
}

// oneLine keeps an error on its line: client libraries join causes with newlines.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}
