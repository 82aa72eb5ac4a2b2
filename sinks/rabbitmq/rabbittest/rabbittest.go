// Package rabbittest finds RabbitMQ for tests: the machine's broker (skipping with
// instructions when there is none, failing under CI) and a private node of our own
// that tests may stop, restart, alarm and disconnect.
package rabbittest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
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

// Node is a second RabbitMQ node of our own (see shared/services.md), which tests
// may stop, restart, alarm and disconnect without disturbing the shared one.
type Node struct {
	Name string
	URL  string
	dir  string
}

var (
	nodeOnce sync.Once
	node     *Node
	nodeErr  error
)

const (
	privatePort     = 5680
	privateDistPort = 25680
)

// PrivateNode starts the node once per test binary (TestMain must call Stop).
func PrivateNode(t testing.TB) *Node {
	t.Helper()
	nodeOnce.Do(func() { node, nodeErr = bootPrivateNode() })
	if nodeErr != nil {
		if InCI() {
			t.Fatalf("private RabbitMQ node required in CI: %v", nodeErr)
		}
		t.Skipf("cannot run a private RabbitMQ node (%v): run as root with rabbitmq-server installed; %s", nodeErr, howToRun)
	}
	return node
}

func bootPrivateNode() (*Node, error) {
	if _, err := exec.LookPath("rabbitmq-server"); err != nil {
		return nil, fmt.Errorf("rabbitmq-server not installed")
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("not root: the node runs as user rabbitmq")
	}
	rmq, err := user.Lookup("rabbitmq")
	if err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", privatePort), time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("port %d is taken (a private node left running? stop it: rabbitmqctl -n test@localhost stop)", privatePort)
	}
	dir, err := os.MkdirTemp("", "bridge-rabbit-")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		return nil, err
	}
	// A config file of our own: the system's /etc/rabbitmq/rabbitmq.conf may pin
	// listeners.tcp to 5672, which RABBITMQ_NODE_PORT does not override.
	conf := fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\n", privatePort)
	if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("chown", "-R", rmq.Uid+":"+rmq.Gid, dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown: %v %s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	n := &Node{Name: "bridgetest@localhost", URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", privatePort), dir: dir}
	cmd := exec.Command("rabbitmq-server", "-detached")
	cmd.Env = append(os.Environ(),
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", privatePort),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", privateDistPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rabbitmq-server -detached: %v %s", err, out)
	}
	if err := n.WaitAMQP(90 * time.Second); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// WaitAMQP waits until the node accepts an AMQP connection.
func (n *Node) WaitAMQP(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		conn, err := amqp.DialConfig(n.URL, amqp.Config{Dial: amqp.DefaultDial(time.Second)})
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("private node not accepting AMQP after %s: %v", limit, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Ctl runs rabbitmqctl against the node and returns its output.
func (n *Node) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-n", n.Name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Restart stops and starts the broker application; durable data survives.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Ctl(t, "stop_app")
	n.Ctl(t, "start_app")
	if err := n.WaitAMQP(60 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func (n *Node) stop() {
	_ = exec.Command("rabbitmqctl", "-n", n.Name, "stop").Run()
	_ = os.RemoveAll(n.dir)
}

// Stop stops the private node if this test binary started it.
func Stop() {
	if node != nil {
		node.stop()
	}
}
