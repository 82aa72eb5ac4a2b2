package rabbittest_test

import (
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// Two nodes at once, as two test binaries (or other helpers' tests) would run them:
// each has its own ports and name, serves AMQP, and took its own configuration.
func TestNodesRunSideBySide(t *testing.T) {
	opts := rabbittest.Options{Conf: []string{"max_message_size = 65536"}}
	nodes := []*rabbittest.Node{rabbittest.StartNode(t, opts), rabbittest.StartNode(t, opts)}
	a, b := nodes[0], nodes[1]
	if a.Name == b.Name || a.Addr == b.Addr || a.DistPort == b.DistPort || a.Dir == b.Dir {
		t.Fatalf("nodes share a name, port or folder: %+v %+v", a, b)
	}
	for _, n := range nodes {
		if err := n.WaitAMQP(0); err != nil {
			t.Fatal(err)
		}
		if got := n.Ctl(t, "eval", "application:get_env(rabbit, max_message_size)."); !strings.Contains(got, "65536") {
			t.Errorf("node %s: max_message_size = %q, want 65536 from Options.Conf", n.Name, got)
		}
	}
}
