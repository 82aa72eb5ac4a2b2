package app

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

// defaultReloadEvery is how often the secret file and the TLS pair are checked for
// changes (docs/configuration.md says so); polling the content also catches what
// Kubernetes does to a mounted secret (it swaps a symlinked directory, so the path's
// own inode and mtime may not move in the way a watcher on the file expects).
const defaultReloadEvery = 2 * time.Second

// reloader keeps the webhook secrets and the HTTPS certificate in step with their
// files, polled every `every` and at once on a reload request (SIGHUP). A file that cannot be read
// or holds nothing usable keeps the last good value in service and logs one error
// per distinct problem, not one per poll.
type reloader struct {
	log   *slog.Logger
	every time.Duration

	secretFile string
	setSecrets func([]string) error
	secretSeen string // fingerprint of the file last acted on: content hash or error text
	activeSet  string // fingerprint of the secrets in service

	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
	certSeen          string
}

// loadCertificate reads the TLS pair at start: unlike a later change, a failure
// here is a configuration error.
func (r *reloader) loadCertificate() error {
	certPEM, keyPEM, err := readPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	r.cert.Store(&cert)
	r.certSeen = fingerprint(certPEM, keyPEM)
	return nil
}

// getCertificate is tls.Config.GetCertificate: every handshake gets the last good pair.
func (r *reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// run polls until ctx ends; a value on hup checks at once.
func (r *reloader) run(ctx context.Context, hup <-chan struct{}) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.check()
		case <-hup:
			if r.secretFile == "" && r.certFile == "" {
				r.log.Info("SIGHUP: nothing to read again (neither BRIDGE_WEBHOOK_SECRET_FILE nor BRIDGE_TLS_CERT_FILE is set)")
				continue
			}
			r.log.Info("SIGHUP: checking BRIDGE_WEBHOOK_SECRET_FILE and BRIDGE_TLS_CERT_FILE for changes")
			r.check()
		}
	}
}

func (r *reloader) check() {
	if r.secretFile != "" {
		r.checkSecrets()
	}
	if r.certFile != "" {
		r.checkCertificate()
	}
}

func (r *reloader) checkSecrets() {
	data, err := config.ReadSecretData(r.secretFile)
	seen := fingerprint(data)
	if err != nil {
		seen = "error: " + err.Error()
	}
	if seen == r.secretSeen {
		return
	}
	r.secretSeen = seen
	var secrets []string
	if err == nil {
		secrets, err = config.ParseSecrets(r.secretFile, data)
	}
	if err != nil {
		r.log.Error("BRIDGE_WEBHOOK_SECRET_FILE: keeping the previous secrets", "err", err)
		return
	}
	set := secretsFingerprint(secrets)
	if set == r.activeSet {
		return // only comments or blank lines changed
	}
	if err := r.setSecrets(secrets); err != nil {
		r.log.Error("BRIDGE_WEBHOOK_SECRET_FILE: keeping the previous secrets", "err", err)
		return
	}
	r.activeSet = set
	r.log.Info("BRIDGE_WEBHOOK_SECRET_FILE: secrets replaced", "count", len(secrets))
	if n := config.CountShort(secrets); n > 0 {
		r.log.Warn("BRIDGE_WEBHOOK_SECRET_FILE: a secret shorter than 16 bytes is easy to guess", "count", n)
	}
}

func (r *reloader) checkCertificate() {
	certPEM, keyPEM, err := readPair(r.certFile, r.keyFile)
	seen := fingerprint(certPEM, keyPEM)
	if err != nil {
		seen = "error: " + err.Error()
	}
	if seen == r.certSeen {
		return
	}
	r.certSeen = seen
	var cert tls.Certificate
	if err == nil {
		cert, err = tls.X509KeyPair(certPEM, keyPEM)
	}
	if err != nil {
		// A rotation that writes the two files one after the other passes through
		// a mismatched pair: the next poll sees the finished one.
		r.log.Error("BRIDGE_TLS_CERT_FILE: keeping the previous certificate", "err", err)
		return
	}
	r.cert.Store(&cert)
	attrs := []any{}
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
		attrs = append(attrs, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	r.log.Info("BRIDGE_TLS_CERT_FILE: certificate replaced", attrs...)
}

func secretsFingerprint(secrets []string) string {
	parts := make([][]byte, len(secrets))
	for i, s := range secrets {
		parts[i] = []byte(s)
	}
	return fingerprint(parts...)
}

func readPair(certFile, keyFile string) (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(certFile); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = os.ReadFile(keyFile); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// fingerprint identifies file contents without keeping them (they are secret).
func fingerprint(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return string(h.Sum(nil))
}
