package natsjs_test

import (
	"errors"
	"net"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
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
