package rabbitmq_test

import (
	"encoding/json"
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

// connInfo is one client connection as the broker reports it.
type connInfo struct {
	User          string  `json:"user"`
	AuthMechanism string  `json:"auth_mechanism"`
	SSL           bool    `json:"ssl"`
	SSLProtocol   string  `json:"ssl_protocol"`
	PeerCert      string  `json:"peer_cert_subject"`
	Props         [][]any `json:"client_properties"` // [name, type, value]
}

func (c connInfo) prop(name string) any {
	for _, p := range c.Props {
		if len(p) == 3 && p[0] == name {
			return p[2]
		}
	}
	return nil
}

// bridgeConnections lists the node's connections that carry our connection_name.
func bridgeConnections(t *testing.T, n *rabbittest.Node) []connInfo {
	t.Helper()
	out := n.Ctl(t, "list_connections", "-q", "--formatter", "json",
		"user", "auth_mechanism", "ssl", "ssl_protocol", "peer_cert_subject", "client_properties")
	var all []connInfo
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("list_connections: %v\n%s", err, out)
	}
	host, _ := os.Hostname()
	var ours []connInfo
	for _, c := range all {
		if c.prop("connection_name") == "audiospliter-bridge@"+host {
			ours = append(ours, c)
		}
	}
	return ours
}

// waitConnection waits until the bridge's connection to n is the one want accepts.
func waitConnection(t *testing.T, n *rabbittest.Node, want func(connInfo) bool) connInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cs := bridgeConnections(t, n)
		if len(cs) == 1 && want(cs[0]) {
			return cs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge's connections: %+v", cs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publishOne publishes one message through s and reads it back over the node's
// plain listener.
func publishOne(t *testing.T, s *rabbitmq.Sink, n *rabbittest.Node, top topology, id string) {
	t.Helper()
	if err := s.Publish(t.Context(), sinktest.NewMessage(id)); err != nil {
		t.Fatalf("Publish over TLS: %v", err)
	}
	got := (&queueReader{url: n.URL, queue: top.queue}).read(t, 1)
	if len(got) != 1 || got[0].MessageId != id {
		t.Fatalf("queue holds %d messages, want %s", len(got), id)
	}
}

func TestTLS(t *testing.T) {
	n := rabbittest.StartTLSNode(t)
	password := n.AddUser(t, "bridge")
	n.AddUser(t, "bridge-ext")
	dir := t.TempDir()
	other := certs.NewCA(t, "another CA")
	client := n.CA.Client(t, "bridge-ext")

	open := func(t *testing.T, url string, tlsFiles rabbitmq.TLS) (*rabbitmq.Sink, topology) {
		t.Helper()
		top := newTopology(t, n.URL)
		s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, TLS: tlsFiles, Exchange: top.exchange, Queue: top.queue})
		if err != nil {
			t.Fatalf("rabbitmq.New: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s, top
	}

	t.Run("PLAIN with a private CA", func(t *testing.T) {
		s, top := open(t, n.AMQPS("bridge:"+password), rabbitmq.TLS{CAFile: n.CA.File})
		publishOne(t, s, n.Node, top, "tls-plain-1")
		c := waitConnection(t, n.Node, func(connInfo) bool { return true })
		if !c.SSL || c.AuthMechanism != "PLAIN" || c.User != "bridge" || !strings.HasPrefix(c.SSLProtocol, "tlsv1.") || c.SSLProtocol < "tlsv1.2" {
			t.Errorf("connection = %+v, want TLS 1.2+ with PLAIN as bridge", c)
		}
	})

	t.Run("EXTERNAL with a client certificate", func(t *testing.T) {
		s, top := open(t, n.AMQPS(""), rabbitmq.TLS{CAFile: n.CA.File, CertFile: client.CertFile, KeyFile: client.KeyFile})
		publishOne(t, s, n.Node, top, "tls-external-1")
		c := waitConnection(t, n.Node, func(connInfo) bool { return true })
		if !c.SSL || c.AuthMechanism != "EXTERNAL" || c.User != "bridge-ext" || !strings.Contains(c.PeerCert, "CN=bridge-ext") {
			t.Errorf("connection = %+v, want EXTERNAL as bridge-ext with its certificate", c)
		}
	})

	t.Run("a user in the URL means PLAIN even with a client certificate", func(t *testing.T) {
		s, top := open(t, n.AMQPS("bridge:"+password), rabbitmq.TLS{CAFile: n.CA.File, CertFile: client.CertFile, KeyFile: client.KeyFile})
		publishOne(t, s, n.Node, top, "tls-plain-cert-1")
		c := waitConnection(t, n.Node, func(connInfo) bool { return true })
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

	// The broker closes every connection three times under load: each reconnection is
	// a new TLS handshake with EXTERNAL, and nothing answered 200 is lost. Between the
	// closes the client certificate is replaced on disk, as a rotation does it: the
	// next connection presents the new one, without a restart.
	t.Run("reconnection re-handshakes and takes a rotated certificate", func(t *testing.T) {
		n.AddUser(t, "bridge-ext-2")
		rotDir := t.TempDir()
		certFile, keyFile := filepath.Join(rotDir, "cert.pem"), filepath.Join(rotDir, "key.pem")
		copyFile(t, client.CertFile, certFile)
		copyFile(t, client.KeyFile, keyFile)
		top := newTopology(t, n.URL)
		s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: n.AMQPS(""), Exchange: top.exchange, Queue: top.queue,
			TLS: rabbitmq.TLS{CAFile: n.CA.File, CertFile: certFile, KeyFile: keyFile}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f := &faultEnv{Bridged: sinktest.ServeBridge(t, s, 5*time.Second), sink: s, url: n.URL, top: top}
		load := f.StartLoad("tls-closed", 16, 20000)
		for i := range 3 {
			time.Sleep(700 * time.Millisecond)
			if i == 1 {
				renewed := n.CA.Client(t, "bridge-ext-2")
				copyFile(t, renewed.KeyFile, keyFile)
				copyFile(t, renewed.CertFile, certFile)
			}
			n.Ctl(t, "close_all_connections", "TLS fault test")
		}
		time.Sleep(700 * time.Millisecond)
		r := f.check(t, load)
		f.WaitRecovered(t)
		c := waitConnection(t, n.Node, func(c connInfo) bool { return c.User == "bridge-ext-2" })
		if !c.SSL || c.AuthMechanism != "EXTERNAL" {
			t.Errorf("after the rotation: %+v, want EXTERNAL over TLS", c)
		}
		t.Logf("answered 200 across 3 closes over TLS: %d, lost: %d", r.Acked, len(r.Lost))
	})
}

func fieldOf(ce *sinks.ConfigError) string {
	if ce == nil {
		return "none"
	}
	return ce.Field
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
