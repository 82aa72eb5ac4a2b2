// Package rabbittest finds RabbitMQ for tests: the machine's broker (skipping with
// instructions when there is none, failing under CI) and a private node of our own
// that tests may stop, restart, alarm and disconnect.
package rabbittest

import (
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// How these tests find RabbitMQ. Plain `go test ./...` skips them with a message when
// no broker answers; CI (CI set) makes them required.
const (
	sharedURLVar = "BRIDGE_TEST_RABBITMQ_URL"
	defaultURL   = "amqp://guest:guest@127.0.0.1:5672/"
	howToRun     = "install and start RabbitMQ (Debian: apt-get install -y rabbitmq-server && rabbitmq-server -detached), " +
		"or point " + sharedURLVar + " at one; .ci/run does this and makes these tests required"
)

// InCI reports whether CI is set: then a missing broker fails instead of skipping.
func InCI() bool { return os.Getenv("CI") != "" }

// SharedURL returns the URL of the machine's RabbitMQ, or skips (fails in CI).
func SharedURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(sharedURLVar)
	if url == "" {
		url = defaultURL
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
	if err != nil {
		if InCI() {
			t.Fatalf("RabbitMQ required in CI but not reachable at %s: %v", url, err)
		}
		t.Skipf("RabbitMQ not reachable at %s (%v): %s", url, err, howToRun)
	}
	conn.Close()
	return url
}

// PrivateNode returns this test binary's private node with default options, started
// on first use (TestMain must call Stop). Tests that need a node configured otherwise,
// or one of their own to break, use StartNode.
func PrivateNode(t testing.TB) *Node {
	t.Helper()
	nodeOnce.Do(func() { node, nodeErr = boot(Options{}) })
	if nodeErr != nil {
		unavailable(t, nodeErr)
	}
	return node
}

var (
	nodeOnce sync.Once
	node     *Node
	nodeErr  error
)

// Stop stops the node PrivateNode started, if any.
func Stop() {
	if node != nil {
		node.Stop()
	}
}
