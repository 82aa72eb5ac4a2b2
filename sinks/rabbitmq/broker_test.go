package rabbitmq_test

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

func inCI() bool { return os.Getenv("CI") != "" }

// sharedBroker returns the URL of the machine's RabbitMQ, or skips (fails in CI).
func sharedBroker(t testing.TB) string {
	t.Helper()
	url := os.Getenv(sharedURLVar)
	if url == "" {
		url = defaultURL
	}
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
	if err != nil {
		if inCI() {
			t.Fatalf("RabbitMQ required in CI but not reachable at %s: %v", url, err)
		}
		t.Skipf("RabbitMQ not reachable at %s (%v): %s", url, err, howToRun)
	}
	conn.Close()
	return url
}

// privateNode is a second RabbitMQ node of our own (see shared/services.md), which
// tests may stop, restart, alarm and disconnect without disturbing the shared one.
type privateNode struct {
	name string
	url  string
	dir  string
}

var (
	nodeOnce sync.Once
	node     *privateNode
	nodeErr  error
)

const (
	privatePort     = 5680
	privateDistPort = 25680
)

// startPrivateNode starts the node once per test binary; TestMain stops it.
func startPrivateNode(t testing.TB) *privateNode {
	t.Helper()
	nodeOnce.Do(func() { node, nodeErr = bootPrivateNode() })
	if nodeErr != nil {
		if inCI() {
			t.Fatalf("private RabbitMQ node required in CI: %v", nodeErr)
		}
		t.Skipf("cannot run a private RabbitMQ node (%v): run as root with rabbitmq-server installed; %s", nodeErr, howToRun)
	}
	return node
}

func bootPrivateNode() (*privateNode, error) {
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
	n := &privateNode{name: "bridgetest@localhost", url: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", privatePort), dir: dir}
	cmd := exec.Command("rabbitmq-server", "-detached")
	cmd.Env = append(os.Environ(),
		"RABBITMQ_NODENAME="+n.name,
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
	if err := n.waitAMQP(90 * time.Second); err != nil {
		n.stop()
		return nil, err
	}
	return n, nil
}

// waitAMQP waits until the node accepts an AMQP connection.
func (n *privateNode) waitAMQP(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		conn, err := amqp.DialConfig(n.url, amqp.Config{Dial: amqp.DefaultDial(time.Second)})
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

func (n *privateNode) ctl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// restart stops and starts the broker application; durable data survives.
func (n *privateNode) restart(t testing.TB) {
	t.Helper()
	n.ctl(t, "stop_app")
	n.ctl(t, "start_app")
	if err := n.waitAMQP(60 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func (n *privateNode) stop() {
	_ = exec.Command("rabbitmqctl", "-n", n.name, "stop").Run()
	_ = os.RemoveAll(n.dir)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if node != nil {
		node.stop()
	}
	os.Exit(code)
}
