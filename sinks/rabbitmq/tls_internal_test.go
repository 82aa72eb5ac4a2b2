package rabbitmq

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
)

// A rotation caught half-way (the key file gone for a moment) must not stop the
// reconnections: the set read last is used, and a renewed pair is taken next time.
func TestTLSFilesKeepLastGoodSet(t *testing.T) {
	t.Parallel()
	ca := certs.NewCA(t, "test CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(p certs.Pair) {
		for from, to := range map[string]string{p.CertFile: certFile, p.KeyFile: keyFile} {
			data, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(ca.Client(t, "first"))
	s := &Sink{cfg: Config{TLS: TLS{CAFile: ca.File, CertFile: certFile, KeyFile: keyFile}}, log: slog.New(slog.DiscardHandler)}
	cn := func() string {
		t.Helper()
		c, err := s.currentTLS()
		if err != nil {
			t.Fatalf("currentTLS: %v", err)
		}
		return c.leaf.Subject.CommonName
	}
	if got := cn(); got != "first" {
		t.Fatalf("presented %q, want first", got)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "first" {
		t.Fatalf("with the key file gone: %q, want the last good set (first)", got)
	}
	install(ca.Client(t, "second"))
	if got := cn(); got != "second" {
		t.Fatalf("after the renewal: %q, want second", got)
	}
	// Before any good read, an unreadable file is an error naming its field.
	fresh := &Sink{cfg: Config{TLS: TLS{CAFile: filepath.Join(dir, "none.pem")}}, log: s.log}
	if _, err := fresh.currentTLS(); err == nil {
		t.Fatal("an unreadable CA file at start was accepted")
	}
}
