package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
)

// The NATS set-ups of docs/production-brokers.md the consumer examples run against
// (TestConsumerExamplesNATS).

// connectOrFail connects the test itself (to read a consumer's state).
func connectOrFail(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	return nc
}

// embeddedNATS: the bridge's own server, with a token when one is given (as the
// compose file's embedded profile runs it).
func embeddedNATS(t *testing.T, token string) natsSetup {
	addr := testkit.FreeAddr(t)
	bridge := map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": addr}
	url := "nats://" + addr
	if token != "" {
		bridge["BRIDGE_NATS_EMBEDDED_TOKEN"] = token
		url = "nats://" + token + "@" + addr
	}
	return natsSetup{
		bridge:   bridge,
		consumer: map[string]string{"NATS_URL": url},
		admin:    func(t *testing.T) *nats.Conn { return connectOrFail(t, url) },
	}
}

// startNATSConf runs a NATS server from a configuration file's text, as
// `nats-server -c` would, on a random loopback port, until t ends.
func startNATSConf(t *testing.T, conf string) *server.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server configuration:\n%s\n%v", conf, err)
	}
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return srv
}

// bridgeNATSPermissions are those docs/production-brokers.md gives the bridge's user.
const bridgeNATSPermissions = `permissions: { publish: ["audiospliter.>", "$JS.API.>"], subscribe: ["_INBOX.>"] }`

// natsUsersTLS: a server with TLS (no client certificates) and users with passwords
// in its configuration; the consumer's user has exactly the permissions
// docs/consuming.md gives, and cannot purge the stream.
func natsUsersTLS(t *testing.T) natsSetup {
	ca := certs.NewCA(t, "nats CA")
	pair := ca.Server(t)
	perms := docBlock(t, "docs/consuming.md", "nats-consumer-permissions")
	srv := startNATSConf(t, fmt.Sprintf(`
jetstream { store_dir: %q }
tls { cert_file: %q, key_file: %q, timeout: 2 }
authorization { users: [
  { user: bridge, password: "bridge-pw-51c3", %s }
  { user: consumer, password: "consumer-pw-0b9e",
%s
  }
] }
`, t.TempDir(), pair.CertFile, pair.KeyFile, bridgeNATSPermissions, perms))
	_, hostPort, _ := strings.Cut(srv.ClientURL(), "://")
	bridgeURL := "tls://bridge:bridge-pw-51c3@" + hostPort
	consumerURL := "tls://consumer:consumer-pw-0b9e@" + hostPort
	// Least privilege: the consumer's user may not purge the stream.
	t.Cleanup(func() {
		nc, err := nats.Connect(consumerURL, nats.RootCAs(ca.File))
		if err != nil {
			t.Errorf("consumer user: %v", err)
			return
		}
		defer nc.Close()
		if _, err := nc.Request("$JS.API.STREAM.PURGE.AUDIOSPLITER", nil, 2*time.Second); err == nil {
			t.Errorf("the documented consumer permissions let a consumer purge the stream")
		}
	})
	return natsSetup{
		bridge:   map[string]string{"BRIDGE_NATS_URL": bridgeURL, "BRIDGE_NATS_TLS_CA_FILE": ca.File},
		consumer: map[string]string{"NATS_URL": consumerURL, "NATS_TLS_CA_FILE": ca.File},
		admin:    func(t *testing.T) *nats.Conn { return connectOrFail(t, bridgeURL, nats.RootCAs(ca.File)) },
	}
}

// nscPermissions reads the --allow-pub and --allow-sub lists of the nsc command in
// docs/consuming.md.
func nscPermissions(t *testing.T) (pub, sub []string) {
	t.Helper()
	w := shellWords(t, strings.SplitN(docBlock(t, "docs/consuming.md", "nats-consumer-nsc"), "\nnsc generate", 2)[0])
	for i := 0; i+1 < len(w); i++ {
		switch w[i] {
		case "--allow-pub":
			pub = append(pub, strings.Split(w[i+1], ",")...)
		case "--allow-sub":
			sub = append(sub, strings.Split(w[i+1], ",")...)
		}
	}
	if len(pub) == 0 || len(sub) == 0 {
		t.Fatalf("docs/consuming.md: no --allow-pub or --allow-sub in the nsc command: %q", w)
	}
	return pub, sub
}

// natsCredsTLS: decentralised JWT authentication (.creds files), TLS with client
// certificates verified; the consumer's JWT holds the permissions of the nsc
// command in docs/consuming.md.
func natsCredsTLS(t *testing.T) natsSetup {
	s := startSecuredNATS(t)
	pub, sub := nscPermissions(t)
	creds := s.Auth.CredsWithPermissions(t, "consumer-doc", pub, sub)
	consumer := s.CA.Client(t, "consumer")
	return natsSetup{
		bridge: s.env(),
		consumer: map[string]string{
			"NATS_URL": s.Server.URL(), "NATS_TLS_CA_FILE": s.CA.File, "NATS_CREDS_FILE": creds,
			"NATS_TLS_CERT_FILE": consumer.CertFile, "NATS_TLS_KEY_FILE": consumer.KeyFile,
		},
		admin: func(t *testing.T) *nats.Conn { return connectOrFail(t, s.Server.URL(), s.Server.ClientOptions()...) },
	}
}

// natsNkey: NKey users, a nats:// URL on a server that requires TLS (the CA file
// turns TLS on).
func natsNkey(t *testing.T) natsSetup {
	ca := certs.NewCA(t, "nats CA")
	pair := ca.Server(t)
	bridgeSeed, bridgePub := natstest.NkeyUser(t)
	consumerSeed, consumerPub := natstest.NkeyUser(t)
	ts := natstest.StartSecure(t, natstest.Secure{Cert: &pair, Nkeys: []string{bridgePub, consumerPub}})
	url := strings.Replace(ts.URL(), "tls://", "nats://", 1)
	return natsSetup{
		bridge:   map[string]string{"BRIDGE_NATS_URL": url, "BRIDGE_NATS_TLS_CA_FILE": ca.File, "BRIDGE_NATS_NKEY_FILE": bridgeSeed},
		consumer: map[string]string{"NATS_URL": url, "NATS_TLS_CA_FILE": ca.File, "NATS_NKEY_FILE": consumerSeed},
		admin: func(t *testing.T) *nats.Conn {
			o, err := nats.NkeyOptionFromSeed(bridgeSeed)
			if err != nil {
				t.Fatal(err)
			}
			return connectOrFail(t, url, nats.RootCAs(ca.File), o)
		},
	}
}

// natsSystemCA: a token on a tls:// URL, the private CA added to the system's
// store the way each language reads one (SSL_CERT_FILE for Go,
// NODE_EXTRA_CA_CERTS for Node) rather than given as a setting.
func natsSystemCA(t *testing.T) natsSetup {
	const token = "tls-token-9e4d"
	ca := certs.NewCA(t, "nats CA")
	pair := ca.Server(t)
	ts := natstest.StartSecure(t, natstest.Secure{Cert: &pair, Token: token})
	url := strings.Replace(ts.URL(), "tls://", "tls://"+token+"@", 1)
	return natsSetup{
		bridge:   map[string]string{"BRIDGE_NATS_URL": url, "BRIDGE_NATS_TLS_CA_FILE": ca.File},
		consumer: map[string]string{"NATS_URL": url},
		goEnv:    []string{"SSL_CERT_FILE=" + ca.File},
		nodeEnv:  []string{"NODE_EXTRA_CA_CERTS=" + ca.File},
		admin:    func(t *testing.T) *nats.Conn { return connectOrFail(t, url, nats.RootCAs(ca.File)) },
	}
}
