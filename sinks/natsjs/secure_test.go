package natsjs_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// secureEnv is a production-like server: TLS that verifies client certificates, and
// operator/account JWT authentication with a memory resolver.
type secureEnv struct{ *natstest.Secured }

func startSecure(t testing.TB) *secureEnv { return &secureEnv{natstest.StartSecured(t)} }

// sinkConfig is what an operator would give the bridge for this server.
func (e *secureEnv) sinkConfig() natsjs.Config {
	return natsjs.Config{
		URL: e.Server.URL(), TLSCAFile: e.CA.File, TLSCertFile: e.Client.CertFile, TLSKeyFile: e.Client.KeyFile,
		CredsFile: e.Creds, ConnectTimeout: 3 * time.Second,
	}
}

// The whole conformance suite over TLS (client certificate verified) with a .creds
// user; its broker-restart case shows that reconnecting handshakes and
// authenticates again.
func TestSecureConformanceTLSCreds(t *testing.T) {
	t.Parallel()
	e := startSecure(t)
	sinktest.Run(t, sinktest.Harness{
		Open: func(t *testing.T) sinktest.Env {
			if t.Name() == "TestSecureConformanceTLSCreds/BrokerRestart" {
				own := startSecure(t)
				return openEnvWith(t, own.Server, own.sinkConfig())
			}
			return openEnvWith(t, e.Server, e.sinkConfig())
		},
		Dedup:  true,
		Routes: true,
	})
}

// A consumer reading the secured stream sees the bridge's connection under its
// name, and a plain-text or unauthenticated client is refused.
func TestSecureServerRefusesOthers(t *testing.T) {
	t.Parallel()
	e := startSecure(t)
	env := openEnvWith(t, e.Server, e.sinkConfig())
	defer env.Sink.Close()
	if err := env.Sink.Publish(t.Context(), sinktest.NewMessage("secure-1")); err != nil {
		t.Fatal(err)
	}
	if got := env.Read(t, 1); len(got) != 1 || got[0].ID != "secure-1" {
		t.Fatalf("read back %v", got)
	}
	if nc, err := nats.Connect(e.Server.URL(), nats.RootCAs(e.CA.File), nats.ClientCert(e.Client.CertFile, e.Client.KeyFile)); err == nil {
		nc.Close()
		t.Fatal("a client without credentials was let in")
	}
	host, _ := os.Hostname()
	var names []string
	for _, c := range connz(t, e) {
		names = append(names, c.Name)
	}
	if want := "audiospliter-bridge@" + host; !strings.Contains(strings.Join(names, ","), want) {
		t.Errorf("connections %v, want one named %s", names, want)
	}
}

func connz(t *testing.T, e *secureEnv) []struct{ Name string } {
	t.Helper()
	cz, err := e.Server.Server().Connz(nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []struct{ Name string }
	for _, c := range cz.Conns {
		out = append(out, struct{ Name string }{c.Name})
	}
	return out
}

// An NKey user (no JWT) over TLS.
func TestSecureNkey(t *testing.T) {
	t.Parallel()
	ca := certs.NewCA(t, "nats test CA")
	srv := ca.Server(t)
	seed, pub := natstest.NkeyUser(t)
	consumerSeed, consumerPub := natstest.NkeyUser(t)
	consumer, err := nats.NkeyOptionFromSeed(consumerSeed)
	if err != nil {
		t.Fatal(err)
	}
	ts := natstest.StartSecure(t, natstest.Secure{Cert: &srv, Nkeys: []string{pub, consumerPub},
		Client: []nats.Option{nats.RootCAs(ca.File), consumer}})
	env := openEnvWith(t, ts, natsjs.Config{TLSCAFile: ca.File, NkeyFile: seed})
	defer env.Sink.Close()
	msg := sinktest.NewMessage("nkey-1")
	if err := env.Sink.Publish(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	sinktest.AssertCarries(t, env.Read(t, 1)[0], msg)
}

// Every start-up failure names the field an operator must fix, and says nothing of
// the secrets in the files.
func TestSecureStartupErrors(t *testing.T) {
	t.Parallel()
	e := startSecure(t)
	other := certs.NewCA(t, "another CA")
	strangerCert := other.Client(t, "stranger")
	revoked := e.Auth.RevokedCreds(t, "revoked")
	e.Server.Restart(t) // the revocation is part of the account JWT the server loads
	foreign := e.Auth.ForeignCreds(t, "foreign")
	seed, _ := natstest.NkeyUser(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a creds file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.Creds")
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")

	cases := []struct {
		name  string
		edit  func(*natsjs.Config)
		field string
	}{
		{"server cert from another CA", func(c *natsjs.Config) { c.TLSCAFile = other.File }, "TLSCAFile"},
		// Not the URL: the CA file is what to set.
		{"no CA file: the system roots", func(c *natsjs.Config) { c.TLSCAFile = "" }, "TLSCAFile"},
		{"CA file missing", func(c *natsjs.Config) { c.TLSCAFile = missing }, "TLSCAFile"},
		{"CA file not PEM", func(c *natsjs.Config) { c.TLSCAFile = garbage }, "TLSCAFile"},
		{"client cert the server does not trust", func(c *natsjs.Config) {
			c.TLSCertFile, c.TLSKeyFile = strangerCert.CertFile, strangerCert.KeyFile
		}, "TLSCertFile"},
		{"client key missing", func(c *natsjs.Config) { c.TLSKeyFile = "" }, "TLSCertFile"},
		{"revoked user", func(c *natsjs.Config) { c.CredsFile = revoked }, "CredsFile"},
		{"user of an unknown account", func(c *natsjs.Config) { c.CredsFile = foreign }, "CredsFile"},
		{"creds file missing", func(c *natsjs.Config) { c.CredsFile = missing }, "CredsFile"},
		{"creds file not creds", func(c *natsjs.Config) { c.CredsFile = garbage }, "CredsFile"},
		{"creds and nkey", func(c *natsjs.Config) { c.NkeyFile = seed }, "NkeyFile"},
		{"nkey the server does not know", func(c *natsjs.Config) { c.CredsFile, c.NkeyFile = "", seed }, "NkeyFile"},
		{"nkey file not a seed", func(c *natsjs.Config) { c.CredsFile, c.NkeyFile = "", garbage }, "NkeyFile"},
		{"no credentials", func(c *natsjs.Config) { c.CredsFile = "" }, "URL"},
	}
	if os.Geteuid() != 0 { // root reads any file
		cases = append(cases, struct {
			name  string
			edit  func(*natsjs.Config)
			field string
		}{"creds file unreadable", func(c *natsjs.Config) { c.CredsFile = unreadable }, "CredsFile"})
	}
	secrets := fileSecrets(t, e.Creds, revoked, foreign, seed)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := e.sinkConfig()
			cfg.Stream, cfg.SubjectPrefix = "ERR", "err"
			c.edit(&cfg)
			s, err := natsjs.New(t.Context(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			var ce *sinks.ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field {
				t.Fatalf("New = %v, want a ConfigError on %s", err, c.field)
			}
			for _, secret := range secrets {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error carries a secret: %v", err)
				}
			}
			t.Log(err)
		})
	}
}

// fileSecrets returns the JWTs and seeds in .creds and seed files: lines that are
// neither armour nor blank.
func fileSecrets(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if len(line) > 20 && !strings.HasPrefix(line, "---") && !strings.HasPrefix(line, "*") && !strings.Contains(line, " ") {
				out = append(out, line)
			}
		}
	}
	if len(out) < 7 {
		t.Fatalf("found %d secrets in the files, want 7", len(out))
	}
	return out
}

// A token in the URL stays out of the log, also in the line written when the sink
// reconnects after a server restart (nats.go's own redaction masks only passwords).
func TestTokenURLNotLogged(t *testing.T) {
	t.Parallel()
	const token = "sink-token-c41f9a"
	ts := natstest.StartSecure(t, natstest.Secure{Token: token})
	var logs testkit.LockedBuffer
	s, err := natsjs.New(t.Context(), natsjs.Config{
		URL: strings.Replace(ts.URL(), "://", "://"+token+"@", 1), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts.Restart(t)
	testkit.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "nats reconnected") },
		"no reconnect logged:\n%s", &logs)
	if strings.Contains(logs.String(), token) {
		t.Fatalf("the token reached the log:\n%s", logs.String())
	}
}

// Certificates and .creds rotated in place are used from the next connection on,
// without a restart of the bridge: the server comes back trusting only the new
// client CA and with the old user revoked, and the sink reconnects with the new
// files (nats.go reads them on every connect).
func TestRotatedFilesUsedOnReconnect(t *testing.T) {
	t.Parallel()
	caA, caB := certs.NewCA(t, "client CA A"), certs.NewCA(t, "client CA B")
	srv := caA.Server(t)
	clientA, clientB := caA.Client(t, "bridge"), caB.Client(t, "bridge")
	auth := natstest.NewAuth(t)
	oldCreds, newCreds := auth.Creds(t, "bridge-old"), auth.Creds(t, "bridge-new")
	consumer := auth.Creds(t, "consumer")

	dir := t.TempDir()
	certFile, keyFile, credsFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"), filepath.Join(dir, "bridge.Creds")
	install := func(pair certs.Pair, creds string) {
		t.Helper()
		for dst, src := range map[string]string{certFile: pair.CertFile, keyFile: pair.KeyFile, credsFile: creds} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(clientA, oldCreds)
	ts := natstest.StartSecure(t, natstest.Secure{Cert: &srv, ClientCA: caA, Auth: auth})
	env := openEnvWith(t, ts, natsjs.Config{TLSCAFile: caA.File, TLSCertFile: certFile, TLSKeyFile: keyFile, CredsFile: credsFile})
	defer env.Sink.Close()
	if err := env.Sink.Publish(t.Context(), sinktest.NewMessage("before-rotation")); err != nil {
		t.Fatal(err)
	}

	install(clientB, newCreds)
	auth.Revoke(t, oldCreds)
	ts.SetSecure(natstest.Secure{Cert: &srv, ClientCA: caB, Auth: auth,
		Client: []nats.Option{nats.RootCAs(caA.File), nats.ClientCert(clientB.CertFile, clientB.KeyFile), nats.UserCredentials(consumer)}})
	ts.Restart(t)
	sink := env.Sink.(*natsjs.Sink)
	var err error
	if !testkit.Poll(15*time.Second, func() bool { err = sink.Ready(t.Context()); return err == nil }) {
		t.Fatalf("the sink did not reconnect with the rotated files: %v", err)
	}
	if err := env.Sink.Publish(t.Context(), sinktest.NewMessage("after-rotation")); err != nil {
		t.Fatal(err)
	}
	if got := env.Read(t, 2); len(got) != 2 {
		t.Fatalf("stream holds %d messages, want 2", len(got))
	}
}

// Credentials the server starts refusing while the bridge runs (the user revoked,
// its new .creds file not there yet) make the sink unready, not closed for good:
// once the file is replaced it reconnects without a restart.
func TestRefusedCredentialsLaterFixedRecovers(t *testing.T) {
	t.Parallel()
	ca := certs.NewCA(t, "nats CA")
	srv := ca.Server(t)
	auth := natstest.NewAuth(t)
	oldCreds, newCreds := auth.Creds(t, "bridge-old"), auth.Creds(t, "bridge-new")
	consumer := auth.Creds(t, "consumer")
	credsFile := filepath.Join(t.TempDir(), "bridge.Creds")
	install := func(src string) {
		t.Helper()
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(credsFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	install(oldCreds)
	ts := natstest.StartSecure(t, natstest.Secure{Cert: &srv, Auth: auth,
		Client: []nats.Option{nats.RootCAs(ca.File), nats.UserCredentials(consumer)}})
	var logs testkit.LockedBuffer
	env := openEnvWith(t, ts, natsjs.Config{TLSCAFile: ca.File, CredsFile: credsFile, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	defer env.Sink.Close()
	sink := env.Sink.(*natsjs.Sink)

	auth.Revoke(t, oldCreds)
	ts.Restart(t)
	// Long enough for nats.go to be refused several times on the one server (it
	// waits 250 ms plus up to 1 s of jitter between attempts over TLS).
	time.Sleep(5 * time.Second) // the fault's length: refused again and again
	if err := sink.Ready(t.Context()); err == nil {
		t.Fatal("ready with the credentials refused")
	}
	if !strings.Contains(logs.String(), "uthorization") {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}
	install(newCreds)
	var err error
	if !testkit.Poll(10*time.Second, func() bool { err = sink.Ready(t.Context()); return err == nil }) {
		t.Fatalf("no recovery after the .creds file was fixed: %v", err)
	}
	if err := env.Sink.Publish(t.Context(), sinktest.NewMessage("after-fix")); err != nil {
		t.Fatal(err)
	}
}

// A server without JetStream stops the bridge at start naming the URL: the stream's
// settings are not what is wrong.
func TestServerWithoutJetStream(t *testing.T) {
	t.Parallel()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	_, err = natsjs.New(t.Context(), natsjs.Config{URL: srv.ClientURL(), ConnectTimeout: 3 * time.Second})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "URL" || !strings.Contains(err.Error(), "runs without JetStream") {
		t.Fatalf("New = %v, want a ConfigError on URL saying the server runs without JetStream", err)
	}
}
