package natsjs_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// An embedded server reachable beyond loopback without a token would let anyone
// purge the stream: the sink refuses to start, before it binds anything.
func TestEmbeddedBeyondLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
	for _, listen := range []string{"0.0.0.0:" + port, ":" + port, "[::]:" + port, "192.0.2.10:" + port, "nats.example.com:" + port} {
		_, err := natsjs.New(t.Context(), natsjs.Config{EmbeddedListen: listen, DataDir: t.TempDir()})
		var ce *sinks.ConfigError
		if !errors.As(err, &ce) || ce.Field != "EmbeddedToken" {
			t.Errorf("listen %s without a token: New = %v, want a ConfigError on EmbeddedToken", listen, err)
		}
	}
	// Nothing was bound on the way.
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("the refused embedded server left port %s bound: %v", port, err)
	}
	ln.Close()
	for _, listen := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		s, err := natsjs.New(t.Context(), natsjs.Config{EmbeddedListen: listen, DataDir: t.TempDir()})
		if err != nil {
			t.Fatalf("listen %s without a token: %v; loopback needs none", listen, err)
		}
		s.Close()
	}
}

// With a token, a client that does not present it is refused, one that does reads
// the stream, and the bridge's own in-process client publishes.
func TestEmbeddedTokenRefusesClientsWithout(t *testing.T) {
	t.Parallel()
	const token = "embedded-token-7f3a9c"
	for _, host := range []string{"127.0.0.1", "0.0.0.0"} {
		t.Run(host, func(t *testing.T) {
			_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
			s, err := natsjs.New(t.Context(), natsjs.Config{EmbeddedListen: host + ":" + port, EmbeddedToken: token, DataDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			msg := sinktest.NewMessage("token-1")
			if err := s.Publish(t.Context(), msg); err != nil {
				t.Fatalf("publish through the in-process client: %v", err)
			}
			url := "nats://127.0.0.1:" + port
			nc, err := nats.Connect(url, nats.MaxReconnects(0))
			if err == nil {
				nc.Close()
				t.Fatal("a client without the token was let in")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("connect without the token = %v, want an authorization violation", err)
			}
			if nc, err := nats.Connect(url, nats.Token("wrong-"+token)); err == nil {
				nc.Close()
				t.Fatal("a client with a wrong token was let in")
			}
			got := readStream(t, "nats://"+token+"@127.0.0.1:"+port, "AUDIOSPLITER", 1)
			sinktest.AssertCarries(t, got[0], msg)
		})
	}
}

// With a certificate and key the embedded server serves TLS, so the token does not
// cross the network in clear: a consumer connects with TLS and the token and reads
// the stream; one without TLS, or with TLS but no token, or that does not trust the
// certificate, is refused. The bridge's own client, in process, needs neither.
func TestEmbeddedTLS(t *testing.T) {
	t.Parallel()
	const token = "embedded-token-tls-5e1b"
	ca := certs.NewCA(t, "embedded test CA")
	pair := ca.Server(t)
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
	s, err := natsjs.New(t.Context(), natsjs.Config{
		EmbeddedListen: "0.0.0.0:" + port, EmbeddedToken: token, DataDir: t.TempDir(),
		EmbeddedTLSCertFile: pair.CertFile, EmbeddedTLSKeyFile: pair.KeyFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := sinktest.NewMessage("tls-1")
	if err := s.Publish(t.Context(), msg); err != nil {
		t.Fatalf("publish through the in-process client: %v", err)
	}

	got := readStream(t, "tls://127.0.0.1:"+port, "AUDIOSPLITER", 1, nats.RootCAs(ca.File), nats.Token(token))
	sinktest.AssertCarries(t, got[0], msg)

	// A client that speaks plain text is told TLS is required before it says
	// anything, and refused if it sends its token anyway.
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	info, err := r.ReadString('\n')
	if err != nil || !strings.Contains(info, `"tls_required":true`) {
		t.Errorf("the server's INFO does not require TLS (%v): %s", err, info)
	}
	fmt.Fprintf(conn, "CONNECT {\"auth_token\":%q,\"verbose\":false}\r\nPING\r\n", token)
	if reply, err := r.ReadString('\n'); !strings.HasPrefix(reply, "-ERR") && !errors.Is(err, io.EOF) {
		t.Errorf("a plain-text CONNECT got %q (%v), want -ERR or the connection closed", reply, err)
	}

	for _, c := range []struct {
		name string
		url  string
		opts []nats.Option
	}{
		{"TLS without the token", "tls://127.0.0.1:" + port, []nats.Option{nats.RootCAs(ca.File)}},
		{"a certificate it does not trust", "tls://127.0.0.1:" + port, []nats.Option{nats.RootCAs(certs.NewCA(t, "other CA").File), nats.Token(token)}},
	} {
		opts := append(c.opts, nats.MaxReconnects(0), nats.Timeout(2*time.Second))
		if nc, err := nats.Connect(c.url, opts...); err == nil {
			nc.Close()
			t.Errorf("%s: a consumer was let in", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// A certificate without its key, or files that are not a pair, stop the start
// naming the certificate's setting.
func TestEmbeddedTLSFilesRefused(t *testing.T) {
	t.Parallel()
	ca := certs.NewCA(t, "embedded test CA")
	pair, other := ca.Server(t), ca.Server(t)
	for _, c := range []struct{ name, cert, key string }{
		{"certificate alone", pair.CertFile, ""},
		{"key alone", "", pair.KeyFile},
		{"not a pair", pair.CertFile, other.KeyFile},
		{"missing file", pair.CertFile + ".missing", pair.KeyFile},
	} {
		_, err := natsjs.New(t.Context(), natsjs.Config{
			EmbeddedListen: testkit.FreeAddr(t), DataDir: t.TempDir(), EmbeddedTLSCertFile: c.cert, EmbeddedTLSKeyFile: c.key,
		})
		var ce *sinks.ConfigError
		if !errors.As(err, &ce) || ce.Field != "EmbeddedTLSCertFile" {
			t.Errorf("%s: New = %v, want a ConfigError on EmbeddedTLSCertFile", c.name, err)
		}
	}
}
