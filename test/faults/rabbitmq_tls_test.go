package faults

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// The broker closes every connection three times under a load through the whole
// bridge: each reconnection is a new TLS handshake with EXTERNAL, and nothing
// answered 200 is lost. Between the closes the client certificate is replaced on
// disk, as a rotation does it: the next connection presents the new one, without a
// restart.
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
