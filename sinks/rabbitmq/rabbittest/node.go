package rabbittest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// Node is a RabbitMQ node of our own, which tests may stop, restart, alarm and
// disconnect without disturbing the shared one. Each node has its own free ports,
// Erlang node name and folder, so any number of test binaries (and `go test ./...`
// running packages side by side) can run nodes at the same time.
type Node struct {
	Name     string // Erlang node name, for rabbitmqctl -n
	URL      string // amqp URL with guest/guest
	Addr     string // AMQP host:port, for a proxy in front of the node
	DistPort int    // Erlang distribution port (clustering)
	Dir      string // the node's folder, readable by the rabbitmq user

	stopOnce sync.Once
	env      []string // of rabbitmq-server, to start the node again after Kill
}

// Options configure a node started with StartNode.
type Options struct {
	// Conf holds extra rabbitmq.conf lines (max_message_size, TLS listeners, …).
	// "{dir}" in a line stands for the node's folder, where Files are written.
	Conf []string
	// Files are written into the node's folder before it starts (certificates).
	Files map[string][]byte
	// Plugins are enabled at boot (rabbitmq_auth_mechanism_ssl, …).
	Plugins []string
}

// StartNode starts a node for this test alone and stops it when the test ends. It
// skips when the machine cannot run one (fails under CI).
func StartNode(t testing.TB, opts Options) *Node {
	t.Helper()
	n, err := boot(opts)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(n.Stop)
	return n
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("private RabbitMQ node required in CI: %v", err)
	}
	t.Skipf("cannot run a private RabbitMQ node (%v): run as root with rabbitmq-server installed; %s", err, howToRun)
}

var nodeSeq atomic.Int64

func boot(opts Options) (*Node, error) {
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
	addr, err := testkit.PickFreeAddr()
	if err != nil {
		return nil, err
	}
	dist, err := testkit.PickFreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	_, distPort, _ := net.SplitHostPort(dist)
	dir, err := os.MkdirTemp("", "bridge-rabbit-")
	if err != nil {
		return nil, err
	}
	n := &Node{
		// Unique on this machine: the Erlang port mapper refuses a second node of a name.
		Name: fmt.Sprintf("bridgetest_%d_%d_%s@localhost", os.Getpid(), nodeSeq.Add(1), strconv.FormatInt(time.Now().UnixNano()%1e9, 36)),
		URL:  fmt.Sprintf("amqp://guest:guest@%s/", addr),
		Addr: addr,
		Dir:  dir,
	}
	n.DistPort, _ = strconv.Atoi(distPort)
	if err := n.writeFiles(opts, port, rmq); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	n.env = append(os.Environ(),
		"RABBITMQ_NODENAME="+n.Name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+port,
		"RABBITMQ_DIST_PORT="+distPort,
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
	)
	if out, err := n.launch(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("rabbitmq-server -detached: %w %s", err, out)
	}
	n.watchOwner()
	if err := n.WaitAMQP(90 * time.Second); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

func (n *Node) writeFiles(opts Options, port string, rmq *user.User) error {
	for _, d := range []string{"mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o755); err != nil {
			return err
		}
	}
	plugins := "[" + strings.Join(opts.Plugins, ",") + "].\n"
	// A config file of our own: the system's /etc/rabbitmq/rabbitmq.conf may pin
	// listeners.tcp to 5672, which RABBITMQ_NODE_PORT does not override.
	conf := "listeners.tcp.local = 127.0.0.1:" + port + "\n"
	for _, line := range opts.Conf {
		conf += strings.ReplaceAll(line, "{dir}", n.Dir) + "\n"
	}
	files := map[string][]byte{"enabled_plugins": []byte(plugins), "rabbitmq.conf": []byte(conf)}
	for name, data := range opts.Files {
		files[name] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(n.Dir, name), data, 0o644); err != nil {
			return err
		}
	}
	if out, err := exec.Command("chown", "-R", rmq.Uid+":"+rmq.Gid, n.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("chown: %w %s", err, out)
	}
	return os.Chmod(n.Dir, 0o755)
}

// watchOwner stops the node when this test binary dies without stopping it (a test
// timeout kills the binary before TestMain's Stop runs), so that a crashed run does
// not leave brokers running on a machine others share.
func (n *Node) watchOwner() {
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 2; done; "+
		"rabbitmqctl -n %s stop >/dev/null 2>&1; rm -rf %s", os.Getpid(), n.Name, n.Dir)
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = detached()
	if cmd.Start() == nil {
		go func() { _ = cmd.Wait() }()
	}
}

// WaitAMQP waits until the node accepts an AMQP connection.
func (n *Node) WaitAMQP(limit time.Duration) error {
	var err error
	if !testkit.Poll(limit, func() bool {
		var conn *amqp.Connection
		if conn, err = amqp.DialConfig(n.URL, amqp.Config{Dial: amqp.DefaultDial(time.Second)}); err != nil {
			return false
		}
		conn.Close()
		return true
	}) {
		return fmt.Errorf("private node %s not accepting AMQP after %s: %w", n.Name, limit, err)
	}
	return nil
}

// Ctl runs rabbitmqctl against the node and returns its output.
func (n *Node) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // also from t.Cleanup, after t.Context() is done
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

// Stop stops the node and removes its folder. It is idempotent.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		_ = exec.Command("rabbitmqctl", "-n", n.Name, "stop").Run()
		_ = os.RemoveAll(n.Dir)
	})
}
