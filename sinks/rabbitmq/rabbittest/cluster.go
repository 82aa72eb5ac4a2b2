package rabbittest

import (
	"encoding/json"
	"fmt"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Cluster is private nodes joined into one RabbitMQ cluster. They share the Erlang
// cookie because they all run as the rabbitmq user.
type Cluster struct {
	Nodes []*Node
}

// StartCluster starts size nodes side by side and joins them to the first. It costs
// about 150 MB and 15 s of a busy core per node: start one per test binary at most.
func StartCluster(t testing.TB, size int) *Cluster {
	t.Helper()
	c := &Cluster{Nodes: make([]*Node, size)}
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range size {
		wg.Go(func() { c.Nodes[i], errs[i] = boot(Options{}) })
	}
	wg.Wait()
	for i, n := range c.Nodes {
		if n != nil {
			t.Cleanup(n.Stop)
		} else {
			unavailable(t, errs[i])
		}
	}
	for _, n := range c.Nodes[1:] {
		n.Ctl(t, "stop_app")
		n.Ctl(t, "join_cluster", c.Nodes[0].Name)
		n.Ctl(t, "start_app")
		if err := n.WaitAMQP(60 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(c.Nodes[0].Ctl(t, "eval", "rabbit_nodes:all_running()."), "@localhost"); got != size {
		t.Fatalf("%d of %d nodes running in the cluster", got, size)
	}
	return c
}

// URLs is the cluster as BRIDGE_RABBITMQ_URL lists it: every node, comma-separated.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// ByAddr returns the node listening on addr (host:port), or nil.
func (c *Cluster) ByAddr(addr string) *Node {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// ByName returns the node of an Erlang node name, or nil.
func (c *Cluster) ByName(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Leader asks node via which node leads the quorum queue queue.
func (c *Cluster) Leader(t testing.TB, via *Node, queue string) *Node {
	t.Helper()
	var leader *Node
	var out string
	if !testkit.Poll(30*time.Second, func() bool {
		out = via.Ctl(t, "list_queues", "-q", "--formatter", "json", "name", "leader")
		var qs []struct{ Name, Leader string }
		if err := json.Unmarshal([]byte(out), &qs); err != nil {
			t.Fatalf("list_queues: %v\n%s", err, out)
		}
		for _, q := range qs {
			if n := c.ByName(q.Leader); q.Name == queue && n != nil {
				leader = n
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no leader of %s in %s", queue, out)
	}
	return leader
}

// MoveLeader makes to the leader of the quorum queue queue (default vhost), asking
// via, and waits until the cluster reports it.
func (c *Cluster) MoveLeader(t testing.TB, via *Node, queue string, to *Node) {
	t.Helper()
	from := c.Leader(t, via, queue)
	if from == to {
		return
	}
	ra := "'%2F_" + queue + "'"
	via.Ctl(t, "eval", fmt.Sprintf("ra:transfer_leadership({%s, '%s'}, {%s, '%s'}).", ra, from.Name, ra, to.Name))
	testkit.Eventually(t, 30*time.Second, func() bool { return c.Leader(t, via, queue) == to },
		"leadership of %s did not move to %s", queue, to)
}

// launch runs rabbitmq-server -detached for the node.
func (n *Node) launch() ([]byte, error) {
	cmd := exec.Command("rabbitmq-server", "-detached")
	cmd.Env = n.env
	return cmd.CombinedOutput()
}

// Kill ends the node's Erlang VM with SIGKILL, as a crash or the OOM killer would:
// no goodbye to clients or to the other nodes. It returns when the signal was sent.
func (n *Node) Kill(t testing.TB) time.Time {
	t.Helper()
	out := n.Ctl(t, "eval", "os:getpid().")
	pid, err := strconv.Atoi(strings.Trim(strings.TrimSpace(out), `"`))
	if err != nil {
		t.Fatalf("pid of %s: %q", n.Name, out)
	}
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", n.Name, err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil },
		"%s (pid %d) still alive after SIGKILL", n.Name, pid)
	return at
}

// Start starts a node again after Kill, with its data; a cluster member rejoins.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	if out, err := n.launch(); err != nil {
		t.Fatalf("start %s again: %v %s", n.Name, err, out)
	}
	if err := n.WaitAMQP(90 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// String is the node's name and address, for test logs.
func (n *Node) String() string {
	return fmt.Sprintf("%s (%s)", strings.SplitN(n.Name, "@", 2)[0], n.Addr)
}
