package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
)

// The bridge on production-like NATS servers, configured only through its
// BRIDGE_NATS_* variables as an operator would: TLS, .creds users, a URL in a file,
// and the start-up error of each setting.

// securedNATS is a NATS server with TLS that verifies client certificates and
// operator/account JWT authentication, the files an operator hands the bridge, and
// a CA and a user that must not get in.
type securedNATS struct {
	*natstest.Secured
	other   *certs.CA
	revoked string
}

func startSecuredNATS(t *testing.T) *securedNATS {
	t.Helper()
	s := &securedNATS{Secured: natstest.StartSecured(t), other: certs.NewCA(t, "other CA")}
	s.revoked = s.Auth.RevokedCreds(t, "revoked")
	s.Server.Restart(t) // the revocation is part of the account JWT the server loads
	return s
}

func (s *securedNATS) env() map[string]string {
	return map[string]string{
		"BRIDGE_NATS_URL":           s.Server.URL(),
		"BRIDGE_NATS_TLS_CA_FILE":   s.CA.File,
		"BRIDGE_NATS_TLS_CERT_FILE": s.Client.CertFile,
		"BRIDGE_NATS_TLS_KEY_FILE":  s.Client.KeyFile,
		"BRIDGE_NATS_CREDS_FILE":    s.Creds,
	}
}

// The bridge on a TLS server with a .creds user: 200, the message on the stream,
// and neither the JWT nor the seed in the log.
func TestNATSTLSCreds(t *testing.T) {
	t.Parallel()
	s := startSecuredNATS(t)
	b := startBridge(t, s.env())
	if r := b.post(t, sample, "tls-creds-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	msgs := natstest.ReadStream(t, s.Server.URL(), "AUDIOSPLITER", 1, s.Server.ClientOptions()...)
	if len(msgs) != 1 || msgs[0].Header.Get("Nats-Msg-Id") != "tls-creds-1" {
		t.Fatalf("stream holds %d messages", len(msgs))
	}
	b.stop(t)
	logs := b.stderr.String()
	if !strings.Contains(logs, `"auth":"creds"`) || !strings.Contains(logs, `"tls":true`) {
		t.Errorf("the start-up log does not say how the bridge connected:\n%s", logs)
	}
	assertNoFileSecrets(t, logs, s.Creds)
}

// BRIDGE_NATS_URL_FILE carries a URL with a token; the token stays out of the log.
func TestNATSURLFileWithToken(t *testing.T) {
	t.Parallel()
	const token = "url-token-5e2c7d"
	ts := natstest.StartSecure(t, natstest.Secure{Token: token})
	urlFile := filepath.Join(t.TempDir(), "nats-url")
	withToken := strings.Replace(ts.URL(), "://", "://"+token+"@", 1)
	if err := os.WriteFile(urlFile, []byte(withToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBridge(t, map[string]string{"BRIDGE_NATS_URL_FILE": urlFile})
	if r := b.post(t, sample, "url-file-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if msgs := natstest.ReadStream(t, withToken, "AUDIOSPLITER", 1); len(msgs) != 1 {
		t.Fatalf("stream holds %d messages", len(msgs))
	}
	b.stop(t)
	if strings.Contains(b.stderr.String(), token) {
		t.Errorf("the token reached the log:\n%s", b.stderr.String())
	}

	if err := os.WriteFile(urlFile, []byte(strings.Replace(withToken, token, "wrong-"+token, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := startFails(t, map[string]string{"BRIDGE_NATS_URL_FILE": urlFile})
	if !strings.HasPrefix(msg, "bad configuration: BRIDGE_NATS_URL_FILE:") || strings.Contains(msg, token) {
		t.Errorf("a refused token: %q, want BRIDGE_NATS_URL_FILE named and no token", msg)
	}
}

func TestNATSProductionBadConfiguration(t *testing.T) {
	t.Parallel()
	s := startSecuredNATS(t)
	seed, _ := natstest.NkeyUser(t)
	with := func(kv ...string) map[string]string {
		env := s.env()
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	missing := filepath.Join(t.TempDir(), "missing")
	noJS := s.Auth.NoJetStreamCreds(t, "nojs")
	for _, c := range []struct {
		name     string
		env      map[string]string
		variable string
		says     string // part of the line that tells what to fix, where the variable alone does not
	}{
		{"server cert not from our CA", with("BRIDGE_NATS_TLS_CA_FILE", s.other.File), "BRIDGE_NATS_TLS_CA_FILE", ""},
		{"CA file missing", with("BRIDGE_NATS_TLS_CA_FILE", missing), "BRIDGE_NATS_TLS_CA_FILE", ""},
		{"client certificate half set", with("BRIDGE_NATS_TLS_KEY_FILE", ""), "BRIDGE_NATS_TLS_CERT_FILE", ""},
		{"revoked user", with("BRIDGE_NATS_CREDS_FILE", s.revoked), "BRIDGE_NATS_CREDS_FILE", ""},
		{"creds file missing", with("BRIDGE_NATS_CREDS_FILE", missing), "BRIDGE_NATS_CREDS_FILE", ""},
		{"creds and nkey", with("BRIDGE_NATS_NKEY_FILE", seed), "BRIDGE_NATS_CREDS_FILE", ""},
		{"no credentials at all", with("BRIDGE_NATS_CREDS_FILE", ""), "BRIDGE_NATS_URL", "wants credentials and none are set"},
		{"an account without JetStream", with("BRIDGE_NATS_CREDS_FILE", noJS), "BRIDGE_NATS_CREDS_FILE", "has no JetStream"},
		{"nkey refused", with("BRIDGE_NATS_CREDS_FILE", "", "BRIDGE_NATS_NKEY_FILE", seed), "BRIDGE_NATS_NKEY_FILE", ""},
		{"url file missing", with("BRIDGE_NATS_URL", "", "BRIDGE_NATS_URL_FILE", missing), "BRIDGE_NATS_URL_FILE", ""},
		{"url and url file", with("BRIDGE_NATS_URL_FILE", s.Creds), "BRIDGE_NATS_URL_FILE", ""},
		{"creds with the embedded server", map[string]string{"BRIDGE_NATS_CREDS_FILE": s.Creds}, "BRIDGE_NATS_CREDS_FILE", ""},
		{"replicas zero", with("BRIDGE_NATS_REPLICAS", "0"), "BRIDGE_NATS_REPLICAS", ""},
		// Named before any server is asked: one server would refuse 7 as it refuses 3.
		{"more replicas than JetStream allows", with("BRIDGE_NATS_REPLICAS", "7", "BRIDGE_NATS_URL", "nats://127.0.0.1:1"), "BRIDGE_NATS_REPLICAS", ""},
		{"three replicas on one server", with("BRIDGE_NATS_REPLICAS", "3"), "BRIDGE_NATS_REPLICAS", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			msg := startFails(t, c.env)
			if !strings.HasPrefix(msg, "bad configuration: "+c.variable+":") {
				t.Errorf("error %q does not name %s", msg, c.variable)
			}
			if !strings.Contains(msg, c.says) {
				t.Errorf("error %q does not say %q", msg, c.says)
			}
			assertNoFileSecrets(t, msg, s.Creds, s.revoked, seed, noJS)
		})
	}
}

// assertNoFileSecrets fails when text holds a JWT or seed line of the given files.
func assertNoFileSecrets(t *testing.T, text string, files ...string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if len(line) > 20 && !strings.HasPrefix(line, "-") && !strings.HasPrefix(line, "*") && strings.Contains(text, line) {
				t.Errorf("a secret of %s reached the output", filepath.Base(f))
			}
		}
	}
}
