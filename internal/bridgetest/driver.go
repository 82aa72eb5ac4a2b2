package bridgetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Harness adapts one sink and its broker to the driver; test/faults has one per sink.
type Harness struct {
	// Broker returns the broker a case runs on. private is true when the case
	// stops, blocks or disconnects the broker itself: the broker must then be one
	// that no other test uses meanwhile.
	Broker func(t *testing.T, private bool) *Broker
	// BigBody is the size of the large bodies of the stall and slow-link cases
	// (they send 12 to 16 MiB of them): 1 MiB, or less when the broker takes less.
	BigBody int
	// Dedup is true when the broker keeps one message per delivery id (JetStream's
	// duplicate window, a FIFO queue's deduplication id); without it, a delivery
	// sent to two replicas at once may be stored twice.
	Dedup bool
	// ReadyAsksBroker is true when the sink's Ready makes a round trip to the broker:
	// during a stall it then fails at its own deadline, and on a slow link it waits
	// behind the writes under way. A sink whose Ready looks at its connection's state
	// learns of a stall when a write has moved nothing for stall.Interval.
	ReadyAsksBroker bool
	// Lacks says, for each feature the sink or its broker does not have, why; the
	// cases that need it are left out with the reason in the log. A Broker hook that
	// is nil without a reason here fails the case.
	Lacks Lacks
}

// Lacks holds the reasons a sink gives for the features it does not have.
type Lacks struct {
	Restart          string // Broker.Stop and Start
	CloseConnections string // Broker.CloseConnections
	Block            string // Broker.Block
	DeleteDest       string // Dest.Delete
	// WritesLeftRunning: the sink never leaves a write running past its publish's
	// deadline, so there is nothing to bound (SlowLinkWritesLeftRunningAreBounded).
	WritesLeftRunning string
	// CloseCuts: Close waits for the calls in flight to end at their publishes'
	// deadlines instead of cutting them during a stall; StalledBrokerReadyAndClose
	// then bounds Close by those deadlines (plus 3 s) rather than by 3 s.
	CloseCuts string
}

// Broker is one broker of the kind the sink publishes to.
type Broker struct {
	// Addr is the broker's host:port, which a sink dials directly or through a
	// proxy in front of it (testkit.Proxy) that stands for the network.
	Addr string
	// Dest gives the case a destination of its own on this broker (an exchange and
	// its queue, a stream, a queue), removed when t ends. forReplicas asks for the
	// kind several replicas of the bridge share in production (RabbitMQ: a quorum
	// queue).
	Dest func(t *testing.T, forReplicas bool) *Dest
	// Stop takes the broker down (every client connection drops, new ones are
	// refused); Start brings it back, with its data unless RestartLosesData, and
	// returns once it accepts clients.
	Stop, Start      func(t *testing.T)
	RestartLosesData bool
	// CloseConnections makes the broker close every client connection at once, as
	// an operator or a broker's own protection does (rabbitmqctl
	// close_all_connections); the broker stays up.
	CloseConnections func(t *testing.T)
	// Block makes the broker stop taking publishes while every connection stays up
	// (a RabbitMQ memory alarm), or take them again (false).
	Block func(t *testing.T, blocked bool)
}

// Dest is a destination of a case's own on a broker.
type Dest struct {
	// Open returns a sink publishing to the destination that dials addr (the
	// broker's Addr, or a proxy's). The driver closes it.
	Open func(t *testing.T, addr string) (sinks.Sink, error)
	// Read returns every message the destination holds, a message stored twice
	// twice, waiting until there are at least atLeast or ten seconds have passed.
	// Received.ID is the delivery id.
	Read func(t *testing.T, atLeast int) []sinktest.Received
	// Delete removes the destination under the sink's feet, as an operator might.
	Delete func(t *testing.T)
}

// Run runs every case of the driver against h. The cases run one after another,
// never in parallel: each measures answer times against the publish timeout, and
// several break the broker they run on.
func Run(t *testing.T, h Harness) { RunCases(t, h) }

// RunCases runs the named cases of the driver against h (all of them when names is
// empty), for a harness that differs from a sink's usual one only where those cases
// go (a broker over TLS).
func RunCases(t *testing.T, h Harness, names ...string) {
	if h.BigBody <= 0 || h.BigBody > 1<<20 {
		t.Fatalf("Harness.BigBody = %d, want 1 to 1 MiB", h.BigBody)
	}
	for _, name := range names {
		if !slices.ContainsFunc(cases, func(c driverCase) bool { return c.name == name }) {
			t.Fatalf("no case %q in the driver", name)
		}
	}
	for _, c := range cases {
		if len(names) > 0 && !slices.Contains(names, c.name) {
			continue
		}
		if reason := c.lacked(h); reason != "" {
			t.Logf("%s: not run: %s", c.name, reason)
			continue
		}
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

type driverCase struct {
	name   string
	lacked func(Harness) string // the reason the sink gives, "" when it has what the case needs
	run    func(*testing.T, Harness)
}

func needs(reason func(Lacks) string) func(Harness) string {
	return func(h Harness) string { return reason(h.Lacks) }
}

func always(Harness) string { return "" }

var cases = []driverCase{
	{"FaultBrokerRestarted", needs(func(l Lacks) string { return l.Restart }), faultBrokerRestarted},
	{"FaultConnectionsClosedByBroker", needs(func(l Lacks) string { return l.CloseConnections }), faultConnectionsClosedByBroker},
	{"FaultBlockedConnection", needs(func(l Lacks) string { return l.Block }), faultBlockedConnection},
	{"FaultNetworkCutAndDown", always, faultNetworkCutAndDown},
	{"FaultNetworkLatency", always, faultNetworkLatency},
	{"FaultDestinationDeletedUnderLoad", needs(func(l Lacks) string { return l.DeleteDest }), faultDestinationDeleted},
	{"StalledBrokerPublishesReturnInTime", always, stalledPublishesReturnInTime},
	{"StalledBrokerReadyAndClose", always, stalledReadyAndClose},
	{"SlowLinkIsNotAStall", always, slowLinkIsNotAStall},
	{"SlowLinkPublishesEndAtTheirDeadline", always, slowLinkPublishesEndAtTheirDeadline},
	{"SlowLinkWritesLeftRunningAreBounded", needs(func(l Lacks) string { return l.WritesLeftRunning }), slowLinkWritesLeftRunningAreBounded},
	{"ReplicasOfTheBridge", always, replicasOfTheBridge},
}

// open opens a sink on d through addr, closed when t ends.
func open(t *testing.T, d *Dest, addr string) sinks.Sink {
	t.Helper()
	s, err := d.Open(t, addr)
	if err != nil {
		t.Fatalf("open the sink: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// must fails t when a hook the case needs is missing although the harness gave no
// reason in Lacks.
func must(t *testing.T, missing bool, name string) {
	t.Helper()
	if missing {
		t.Fatalf("the harness gives no %s and no reason in Lacks", name)
	}
}

// ids returns the delivery id of every message, a copy as often as it is held.
func ids(ms []sinktest.Received) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// bigMessage is a delivery whose body is about size bytes of valid JSON.
func bigMessage(id string, size int) sinks.Message {
	msg := sinktest.NewMessage(id)
	msg.Body = fmt.Appendf(nil, `{"event":"job.completed","jobId":"job_big","pad":"%s"}`, bytes.Repeat([]byte("x"), size))
	return msg
}

// since is how long ago start was, rounded for a log line.
func since(start time.Time) time.Duration { return time.Since(start).Round(time.Millisecond) }
