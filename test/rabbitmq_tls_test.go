package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
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

// The broker closes every connection three times under a load through the whole
// bridge: each reconnection is a new TLS handshake with EXTERNAL, and nothing
// answered 200 is lost. Between the closes the client certificate is replaced on
// disk, as a rotation does it: the next connection presents the new one, without a
// restart. Not in parallel: it times answers against the publish timeout.
func TestRabbitMQTLSReconnectionTakesARotatedCertificate(t *testing.T) {
	n := rabbittest.StartTLSNode(t)
	n.AddUser(t, "bridge-ext")
	n.AddUser(t, "bridge-ext-2")
	client := n.CA.Client(t, "bridge-ext")
	rotDir := t.TempDir()
	certFile, keyFile := filepath.Join(rotDir, "cert.pem"), filepath.Join(rotDir, "key.pem")
	copyFile(t, client.CertFile, certFile)
	copyFile(t, client.KeyFile, keyFile)
	top := rabbittest.NewTopology(t, n.URL)
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: n.AMQPS(""), Exchange: top.Exchange, Queue: top.Queue,
		TLS: rabbitmq.TLS{CAFile: n.CA.File, CertFile: certFile, KeyFile: keyFile}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := bridgetest.Serve(t, s, 5*time.Second)
	load := f.StartLoad("tls-closed", 16, 20000)
	for i := range 3 {
		time.Sleep(700 * time.Millisecond) // load between the faults
		if i == 1 {
			renewed := n.CA.Client(t, "bridge-ext-2")
			copyFile(t, renewed.KeyFile, keyFile)
			copyFile(t, renewed.CertFile, certFile)
		}
		n.Ctl(t, "close_all_connections", "TLS fault test")
	}
	time.Sleep(700 * time.Millisecond) // load after the last one
	res, acked := load.Stop(t)
	var found []string
	for _, d := range (&rabbittest.Reader{URL: n.URL, Queue: top.Queue}).Read(t, len(acked)) {
		found = append(found, d.MessageId)
	}
	r := f.AssertNoLoss(t, res, acked, found)
	f.WaitRecovered(t)
	c := n.WaitConnection(t, func(c rabbittest.Connection) bool { return c.User == "bridge-ext-2" })
	if !c.SSL || c.AuthMechanism != "EXTERNAL" {
		t.Errorf("after the rotation: %+v, want EXTERNAL over TLS", c)
	}
	t.Logf("answered 200 across 3 closes over TLS: %d, lost: %d", r.Acked, len(r.Lost))
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
