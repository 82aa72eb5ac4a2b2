package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// The bridge against a RabbitMQ node with a TLS listener, configured only through its
// BRIDGE_RABBITMQ_* variables as an operator would: EXTERNAL with a client
// certificate, PLAIN with the URL in a file, and the start-up errors of each setting.
func TestRabbitMQTLS(t *testing.T) {
	t.Parallel()
	n := rabbittest.StartTLSNode(t)
	password := n.AddUser(t, "bridge")
	n.AddUser(t, "bridge-ext")
	client := n.CA.Client(t, "bridge-ext")
	keyPEM, err := os.ReadFile(client.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "rabbitmq-url")
	if err := os.WriteFile(urlFile, []byte(n.AMQPS("bridge:"+password)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	external := map[string]string{
		"BRIDGE_SINK":                   "rabbitmq",
		"BRIDGE_RABBITMQ_URL":           n.AMQPS(""),
		"BRIDGE_RABBITMQ_TLS_CA_FILE":   n.CA.File,
		"BRIDGE_RABBITMQ_TLS_CERT_FILE": client.CertFile,
		"BRIDGE_RABBITMQ_TLS_KEY_FILE":  client.KeyFile,
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(env, kv[i])
			} else {
				env[kv[i]] = kv[i+1]
			}
		}
		return env
	}
	noSecret := func(t *testing.T, text string) {
		t.Helper()
		for _, s := range []string{password, string(keyPEM), "wrong-s3cret"} {
			if strings.Contains(text, s) {
				t.Errorf("output shows a secret:\n%s", text)
			}
		}
	}

	// publish runs the bridge with env, posts one delivery and finds it on the queue.
	publish := func(t *testing.T, env map[string]string, id string) {
		exchange, queue := apptest.RabbitNames(t, n.URL)
		b := startBridge(t, with(env, "BRIDGE_RABBITMQ_EXCHANGE", exchange, "BRIDGE_RABBITMQ_QUEUE", queue))
		if r := b.post(t, sample, id); r.Status != 200 {
			t.Fatalf("POST = %d %s", r.Status, r.Body)
		}
		conn, err := amqp.Dial(n.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, _ := conn.Channel()
		d, ok, err := ch.Get(queue, true)
		if err != nil || !ok || d.MessageId != id {
			t.Fatalf("queue %s: %v %v %q, want %s", queue, ok, err, d.MessageId, id)
		}
		b.stop(t)
		noSecret(t, b.stderr.String())
	}

	t.Run("EXTERNAL with a client certificate", func(t *testing.T) {
		publish(t, external, "rmq-tls-external-1")
	})
	t.Run("PLAIN with the URL in a file", func(t *testing.T) {
		publish(t, with(external, "BRIDGE_RABBITMQ_URL", "", "BRIDGE_RABBITMQ_URL_FILE", urlFile,
			"BRIDGE_RABBITMQ_TLS_CERT_FILE", "", "BRIDGE_RABBITMQ_TLS_KEY_FILE", ""), "rmq-tls-plain-1")
	})

	other := certs.NewCA(t, "another CA")
	foreign := other.Client(t, "bridge-ext")
	wrongURL := filepath.Join(dir, "wrong-url")
	if err := os.WriteFile(wrongURL, []byte(n.AMQPS("bridge:wrong-s3cret")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		env      map[string]string
		variable string
	}{
		{"the broker's certificate does not verify against our CA", with(external, "BRIDGE_RABBITMQ_TLS_CA_FILE", other.File), "BRIDGE_RABBITMQ_TLS_CA_FILE"},
		{"the broker refuses our client certificate", with(external, "BRIDGE_RABBITMQ_TLS_CERT_FILE", foreign.CertFile, "BRIDGE_RABBITMQ_TLS_KEY_FILE", foreign.KeyFile), "BRIDGE_RABBITMQ_TLS_CERT_FILE"},
		{"the broker refuses the password", with(external, "BRIDGE_RABBITMQ_URL", "", "BRIDGE_RABBITMQ_URL_FILE", wrongURL, "BRIDGE_RABBITMQ_TLS_CERT_FILE", "", "BRIDGE_RABBITMQ_TLS_KEY_FILE", ""), "BRIDGE_RABBITMQ_URL_FILE"},
		{"the broker refuses the password in the URL", with(external, "BRIDGE_RABBITMQ_URL", n.AMQPS("bridge:wrong-s3cret"), "BRIDGE_RABBITMQ_TLS_CERT_FILE", "", "BRIDGE_RABBITMQ_TLS_KEY_FILE", ""), "BRIDGE_RABBITMQ_URL"},
		{"a name the broker's certificate does not carry", with(external, "BRIDGE_RABBITMQ_TLS_SERVER_NAME", "rabbit.example"), "BRIDGE_RABBITMQ_TLS_SERVER_NAME"},
		{"an unreadable CA file", with(external, "BRIDGE_RABBITMQ_TLS_CA_FILE", filepath.Join(dir, "none.pem")), "BRIDGE_RABBITMQ_TLS_CA_FILE"},
		{"an unreadable key file", with(external, "BRIDGE_RABBITMQ_TLS_KEY_FILE", filepath.Join(dir, "none.key")), "BRIDGE_RABBITMQ_TLS_KEY_FILE"},
		{"a certificate without its key", with(external, "BRIDGE_RABBITMQ_TLS_KEY_FILE", ""), "BRIDGE_RABBITMQ_TLS_CERT_FILE"},
		{"an unreadable URL file", with(external, "BRIDGE_RABBITMQ_URL", "", "BRIDGE_RABBITMQ_URL_FILE", filepath.Join(dir, "none")), "BRIDGE_RABBITMQ_URL_FILE"},
		{"both the URL and its file", with(external, "BRIDGE_RABBITMQ_URL_FILE", urlFile), "BRIDGE_RABBITMQ_URL_FILE"},
		{"TLS files with amqp://", with(external, "BRIDGE_RABBITMQ_URL", "amqp://bridge:wrong-s3cret@"+n.Addr+"/"), "BRIDGE_RABBITMQ_URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			msg := startFails(t, c.env)
			if !strings.HasPrefix(msg, "bad configuration: "+c.variable+": ") {
				t.Errorf("error %q does not name %s", msg, c.variable)
			}
			noSecret(t, msg)
		})
	}
}
