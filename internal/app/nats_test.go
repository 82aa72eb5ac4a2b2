package app_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
)

// With a token the whole bridge works, consumers need the token, and the token
// appears in no log line.
func TestNATSEmbeddedToken(t *testing.T) {
	t.Parallel()
	const token = "tok-3b1d8e5f0a"
	natsAddr := testkit.FreeAddr(t)
	b := startBridge(t, func(c *config.Config) { c.Nats.EmbeddedListen, c.Nats.EmbeddedToken = natsAddr, token })
	if r := b.post(t, sample, "tok-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("consumer without the token: connect = %v, want an authorization violation", err)
	}
	if msgs := streamMsgs(t, "nats://"+token+"@"+natsAddr, "AUDIOSPLITER"); len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	_ = b.stop(t)
	if strings.Contains(b.stderr.String(), token) {
		t.Errorf("the token reached the log:\n%s", b.stderr.String())
	}
}

// BRIDGE_FORWARD_SIGNATURE=false reaches the message: every header but the
// signature, and still the published schema.
func TestForwardSignatureOff(t *testing.T) {
	t.Parallel()
	natsAddr := testkit.FreeAddr(t)
	b := startBridge(t, func(c *config.Config) { c.Nats.EmbeddedListen, c.ForwardSignature = natsAddr, false })
	if r := b.post(t, sample, "no-sig-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	msgs := streamMsgs(t, "nats://"+natsAddr, "AUDIOSPLITER")
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	flat := map[string]string{}
	for k, v := range msgs[0].Header {
		flat[k] = v[0]
	}
	if sig, ok := flat["audiospliter-signature"]; ok {
		t.Errorf("the message carries audiospliter-signature %q", sig)
	}
	if flat["ce-id"] != "no-sig-1" || flat["audiospliter-job-id"] != "job_8f3a2c1e" {
		t.Errorf("headers %v lack the others", flat)
	}
	apptest.AssertSchema(t, flat)
}

// With BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE and _KEY_FILE a consumer reaches the
// embedded server with TLS and the token, as docs/consuming.md says.
func TestNATSEmbeddedTLS(t *testing.T) {
	t.Parallel()
	const token = "tok-tls-8c2e4a"
	ca := certs.NewCA(t, "bridge test CA")
	pair := ca.Server(t)
	natsAddr := testkit.FreeAddr(t)
	b := startBridge(t, func(c *config.Config) {
		c.Nats.EmbeddedListen, c.Nats.EmbeddedToken = natsAddr, token
		c.Nats.EmbeddedTLSCertFile, c.Nats.EmbeddedTLSKeyFile = pair.CertFile, pair.KeyFile
	})
	if r := b.post(t, sample, "tls-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if msgs := streamMsgs(t, "tls://"+natsAddr, "AUDIOSPLITER", nats.RootCAs(ca.File), nats.Token(token)); len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	if !strings.Contains(b.stderr.String(), `"tls":true`) {
		t.Errorf("the start-up line does not say the embedded server serves TLS:\n%s", b.stderr.String())
	}
}

// BRIDGE_NATS_EMBEDDED_SYNC reaches the embedded server: fsync per message by
// default, the interval when one is given (the start-up line reports what the server
// was configured with).
func TestNATSEmbeddedSyncWired(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ value, want string }{{"", `"sync":"always"`}, {"always", `"sync":"always"`}, {"1s", `"sync":"1s"`}} {
		b := startBridge(t, func(cfg *config.Config) {
			if c.value != "" {
				cfg.Nats.EmbeddedSync = c.value
			}
		})
		if r := b.post(t, sample, "sync-1"); r.Status != 200 {
			t.Fatalf("POST = %d %s", r.Status, r.Body)
		}
		_ = b.stop(t)
		if !strings.Contains(b.stderr.String(), c.want) {
			t.Errorf("BRIDGE_NATS_EMBEDDED_SYNC=%q: no %s in the start-up log:\n%s", c.value, c.want, b.stderr.String())
		}
	}
}
