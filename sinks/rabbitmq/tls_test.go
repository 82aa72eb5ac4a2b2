package rabbitmq_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// publishOne publishes one message through s and reads it back over the node's
// plain listener.
func publishOne(t *testing.T, s *rabbitmq.Sink, n *rabbittest.Node, top rabbittest.Topology, id string) {
	t.Helper()
	if err := s.Publish(t.Context(), sinktest.NewMessage(id)); err != nil {
		t.Fatalf("Publish over TLS: %v", err)
	}
	got := (&rabbittest.Reader{URL: n.URL, Queue: top.Queue}).Read(t, 1)
	if len(got) != 1 || got[0].MessageId != id {
		t.Fatalf("queue holds %d messages, want %s", len(got), id)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	n := rabbittest.StartTLSNode(t)
	password := n.AddUser(t, "bridge")
	n.AddUser(t, "bridge-ext")
	dir := t.TempDir()
	other := certs.NewCA(t, "another CA")
	client := n.CA.Client(t, "bridge-ext")

	open := func(t *testing.T, url string, tlsFiles rabbitmq.TLS) (*rabbitmq.Sink, rabbittest.Topology) {
		t.Helper()
		top := rabbittest.NewTopology(t, n.URL)
		s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, TLS: tlsFiles, Exchange: top.Exchange, Queue: top.Queue})
		if err != nil {
			t.Fatalf("rabbitmq.New: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s, top
	}

	t.Run("PLAIN with a private CA", func(t *testing.T) {
		s, top := open(t, n.AMQPS("bridge:"+password), rabbitmq.TLS{CAFile: n.CA.File})
		publishOne(t, s, n.Node, top, "tls-plain-1")
		c := n.WaitConnection(t, func(rabbittest.Connection) bool { return true })
		if !c.SSL || c.AuthMechanism != "PLAIN" || c.User != "bridge" || !strings.HasPrefix(c.SSLProtocol, "tlsv1.") || c.SSLProtocol < "tlsv1.2" {
			t.Errorf("connection = %+v, want TLS 1.2+ with PLAIN as bridge", c)
		}
	})

	t.Run("EXTERNAL with a client certificate", func(t *testing.T) {
		s, top := open(t, n.AMQPS(""), rabbitmq.TLS{CAFile: n.CA.File, CertFile: client.CertFile, KeyFile: client.KeyFile})
		publishOne(t, s, n.Node, top, "tls-external-1")
		c := n.WaitConnection(t, func(rabbittest.Connection) bool { return true })
		if !c.SSL || c.AuthMechanism != "EXTERNAL" || c.User != "bridge-ext" || !strings.Contains(c.PeerCert, "CN=bridge-ext") {
			t.Errorf("connection = %+v, want EXTERNAL as bridge-ext with its certificate", c)
		}
	})

	t.Run("a user in the URL means PLAIN even with a client certificate", func(t *testing.T) {
		s, top := open(t, n.AMQPS("bridge:"+password), rabbitmq.TLS{CAFile: n.CA.File, CertFile: client.CertFile, KeyFile: client.KeyFile})
		publishOne(t, s, n.Node, top, "tls-plain-cert-1")
		c := n.WaitConnection(t, func(rabbittest.Connection) bool { return true })
		if c.AuthMechanism != "PLAIN" || c.User != "bridge" || !strings.Contains(c.PeerCert, "CN=bridge-ext") {
			t.Errorf("connection = %+v, want PLAIN as bridge, presenting the certificate", c)
		}
	})

	t.Run("start-up errors name the setting", func(t *testing.T) {
		stranger := n.CA.Client(t, "nobody")
		foreign := other.Client(t, "bridge-ext")
		garbage := filepath.Join(dir, "garbage.pem")
		if err := os.WriteFile(garbage, []byte("-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END EC PRIVATE KEY-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		keyData, _ := os.ReadFile(client.KeyFile)
		ext := func(ca string, p certs.Pair) rabbitmq.TLS {
			return rabbitmq.TLS{CAFile: ca, CertFile: p.CertFile, KeyFile: p.KeyFile}
		}
		n.Ctl(t, "add_user", "noperm", "noperm-pw-0123")
		cases := []struct {
			name, url string
			tls       rabbitmq.TLS
			field     string
			says      string
		}{
			{"the broker's certificate from another CA", n.AMQPS(""), ext(other.File, client), "TLS.CAFile", "does not verify against " + other.File},
			{"system roots do not know a private CA", n.AMQPS("bridge:" + password), rabbitmq.TLS{}, "TLS.CAFile", "system's CA certificates"},
			{"a name the certificate does not carry", n.AMQPS("bridge:" + password), rabbitmq.TLS{CAFile: n.CA.File, ServerName: "rabbit.example"}, "TLS.ServerName", "rabbit.example"},
			{"a client certificate of another CA", n.AMQPS(""), ext(n.CA.File, foreign), "TLS.CertFile", "refused our client certificate"},
			{"no user for the certificate's name", n.AMQPS(""), ext(n.CA.File, stranger), "TLS.CertFile", `"nobody"`},
			{"a wrong password over TLS", n.AMQPS("bridge:wrong-s3cret"), rabbitmq.TLS{CAFile: n.CA.File}, "URL", "user name or password"},
			{"a user without permissions on the virtual host", n.AMQPS("noperm:noperm-pw-0123"), rabbitmq.TLS{CAFile: n.CA.File}, "URL", "set_permissions"},
			{"an unreadable CA file", n.AMQPS(""), ext(filepath.Join(dir, "missing.pem"), client), "TLS.CAFile", "missing.pem"},
			{"a CA file without a certificate", n.AMQPS(""), ext(client.KeyFile, client), "TLS.CAFile", "no PEM certificate"},
			{"a certificate without its key", n.AMQPS(""), rabbitmq.TLS{CAFile: n.CA.File, CertFile: client.CertFile}, "TLS.CertFile", "both"},
			{"an unreadable key", n.AMQPS(""), rabbitmq.TLS{CAFile: n.CA.File, CertFile: client.CertFile, KeyFile: filepath.Join(dir, "nokey")}, "TLS.KeyFile", "nokey"},
			{"a key that is not the certificate's", n.AMQPS(""), rabbitmq.TLS{CAFile: n.CA.File, CertFile: client.CertFile, KeyFile: garbage}, "TLS.KeyFile", "garbage.pem"},
			{"TLS files with a plain URL", "amqp://bridge:s3cret@" + n.Addr + "/", rabbitmq.TLS{CAFile: n.CA.File}, "URL", "not amqps://"},
			{"amqps to the plain port", "amqps://bridge:s3cret@" + n.Addr + "/", rabbitmq.TLS{CAFile: n.CA.File}, "URL", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: c.url, TLS: c.tls, ConnectTimeout: 3 * time.Second})
				var ce *sinks.ConfigError
				if !errors.As(err, &ce) || ce.Field != c.field || !strings.Contains(err.Error(), c.says) {
					t.Fatalf("New = %v (field %v), want a ConfigError on %s saying %q", err, fieldOf(ce), c.field, c.says)
				}
				for _, secret := range []string{password, "s3cret", "c2VjcmV0", "noperm-pw", string(keyData)} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error shows a secret: %v", err)
					}
				}
				t.Logf("%s: %v", ce.Field, err)
			})
		}
	})
}

func fieldOf(ce *sinks.ConfigError) string {
	if ce == nil {
		return "none"
	}
	return ce.Field
}
