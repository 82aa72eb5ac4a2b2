package check

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
)

// An HTTPS certificate past its end, or before its start, fails the check.
func TestCertificateValidity(t *testing.T) {
	t.Parallel()
	pair := certs.NewCA(t, "check CA").Server(t, "127.0.0.1")
	kp, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		now  time.Time
		want string
	}{
		{leaf.NotBefore.Add(time.Minute), "ok    HTTPS certificate: "},
		{leaf.NotAfter.Add(time.Minute), "FAIL  HTTPS certificate: BRIDGE_TLS_CERT_FILE: the certificate expired at "},
		{leaf.NotBefore.Add(-time.Minute), "FAIL  HTTPS certificate: BRIDGE_TLS_CERT_FILE: the certificate is valid only from "},
	} {
		var out strings.Builder
		r := &report{w: &out}
		r.certificate(pair.CertFile, pair.KeyFile, c.now)
		if !strings.HasPrefix(out.String(), c.want) || r.failed != strings.HasPrefix(c.want, "FAIL") {
			t.Errorf("at %s: %q, want it to begin %q", c.now, out.String(), c.want)
		}
	}
}
