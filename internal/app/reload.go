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
// per distinct problem, not one per poll. The secret files are
// BRIDGE_WEBHOOK_SECRET_FILE, or each sender's secret_file of a senders file.
type reloader struct {
	log   *slog.Logger
	every time.Duration

	secrets []*secretFile

	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
	certSeen          string
}

// secretFile is one file of secrets and where its secrets go.
type secretFile struct {
	label string // what the log lines begin with: the variable, or the sender's field
	attrs []any  // what they carry besides (the sender)
	path  string
	set   func([]string) error
	seen  string // fingerprint of the file last acted on: content hash or error text
	// active is the fingerprint of the secrets in service.
	active string
}

// watchSecrets adds a file whose secrets, in service now (initial), go to set
// when it changes.
func (r *reloader) watchSecrets(label, path string, initial []string, set func([]string) error, attrs ...any) {
	r.secrets = append(r.secrets, &secretFile{label: label, attrs: attrs, path: path, set: set, active: secretsFingerprint(initial)})
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

// run checks the files every r.every until ctx ends; a value on hup checks at
// once. A poll, by choice: the standard library has no file notifications, and
// inotify (fsnotify) misses a Kubernetes Secret's update unless the directory is
// watched, and sees nothing on network file systems; reading and hashing a few
// small files every few seconds costs next to nothing. With no file to read,
// nothing ticks.
func (r *reloader) run(ctx context.Context, hup <-chan struct{}) {
	var tick <-chan time.Time
	if len(r.secrets) > 0 || r.certFile != "" {
		t := time.NewTicker(r.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			r.check()
		case <-hup:
			if len(r.secrets) == 0 && r.certFile == "" {
				r.log.Info("SIGHUP: nothing to read again (neither BRIDGE_WEBHOOK_SECRET_FILE, a senders file nor BRIDGE_TLS_CERT_FILE is set)")
				continue
			}
			what := "BRIDGE_WEBHOOK_SECRET_FILE"
			if len(r.secrets) > 0 && r.secrets[0].attrs != nil {
				what = "the senders' secret files"
			}
			r.log.Info("SIGHUP: checking " + what + " and BRIDGE_TLS_CERT_FILE for changes")
			r.check()
		}
	}
}

func (r *reloader) check() {
	for _, f := range r.secrets {
		r.checkSecrets(f)
	}
	if r.certFile != "" {
		r.checkCertificate()
	}
}

func (r *reloader) checkSecrets(f *secretFile) {
	data, err := config.ReadSecretData(f.path)
	seen := fingerprint(data)
	if err != nil {
		seen = "error: " + err.Error()
	}
	if seen == f.seen {
		return
	}
	f.seen = seen
	var secrets []string
	if err == nil {
		secrets, err = config.ParseSecrets(f.path, data)
	}
	if err != nil {
		r.log.Error(f.label+": keeping the previous secrets", append([]any{"err", err}, f.attrs...)...)
		return
	}
	set := secretsFingerprint(secrets)
	if set == f.active {
		return // only comments or blank lines changed
	}
	if err := f.set(secrets); err != nil {
		r.log.Error(f.label+": keeping the previous secrets", append([]any{"err", err}, f.attrs...)...)
		return
	}
	f.active = set
	r.log.Info(f.label+": secrets replaced", append([]any{"count", len(secrets)}, f.attrs...)...)
	if n := config.CountShort(secrets); n > 0 {
		r.log.Warn(f.label+": a secret shorter than 16 bytes is easy to guess", append([]any{"count", n}, f.attrs...)...)
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
