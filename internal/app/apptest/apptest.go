// Package apptest is what the tests of the app (internal/app) and of the binary
// (test/) share: the secret and the sample delivery they send, signed requests to a
// running bridge, and an exchange and queue of their own on the shared RabbitMQ.
package apptest

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/schemas"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// Secret is the webhook secret the tests configure and sign with.
const Secret = "whsec-test-0123456789abcdef"

// Sample returns the published job.completed sample (schemas/samples), the body the
// tests send: its jobId is job_8f3a2c1e and its URLs are on cdn.audiospliter.example.
func Sample() []byte {
	b, err := fs.ReadFile(schemas.FS(), "samples/job.completed.json")
	if err != nil {
		panic("apptest: " + err.Error())
	}
	return bytes.TrimSpace(b)
}

// Reply is an answer of the bridge, its body read.
type Reply struct {
	Status int
	Header http.Header
	Body   string
}

// Post sends body to addr's /webhooks as delivery, signed with Secret.
func Post(t testing.TB, addr string, body []byte, delivery string) Reply {
	t.Helper()
	return PostSigned(t, addr, Secret, body, delivery)
}

// PostSigned sends body to addr's /webhooks as delivery, signed with secret.
func PostSigned(t testing.TB, addr, secret string, body []byte, delivery string) Reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks", bytes.NewReader(body))
	req.Header.Set(bridge.SignatureHeader, bridge.Sign(secret, body))
	req.Header.Set(bridge.DeliveryHeader, delivery)
	req.Header.Set("Content-Type", "application/json")
	return Do(t, req)
}

// Get asks addr for path.
func Get(t testing.TB, addr, path string) Reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	return Do(t, req)
}

// Do sends req and reads the whole answer; a transport error fails t.
func Do(t testing.TB, req *http.Request) Reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Reply{resp.StatusCode, resp.Header, string(b)}
}

// RabbitNames gives a test its own exchange and queue on the shared broker at url,
// deleted when t ends (rabbittest.NewTopology).
func RabbitNames(t testing.TB, url string) (exchange, queue string) {
	t.Helper()
	top := rabbittest.NewTopology(t, url)
	return top.Exchange, top.Queue
}

// AssertSchema checks headers the bridge put on a broker against the published
// schema (schemas/message-attributes.schema.json).
func AssertSchema(t testing.TB, headers map[string]string) {
	t.Helper()
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := set.ValidateHeaders(headers); err != nil {
		t.Errorf("the bridge's headers do not match the published schema: %v", err)
	}
}
