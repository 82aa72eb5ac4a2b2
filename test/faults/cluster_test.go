package faults

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Clusters under load through the whole bridge: the node the bridge is connected
// to killed, then the node leading the queue or stream.

// Three RabbitMQ nodes in one cluster, a quorum queue, and a bridge given all three
// URLs, under load: SIGKILL the node the bridge is connected to, bring it back,
// SIGKILL the node leading the quorum queue, bring it back. Every delivery answered
// 200 must be on the queue afterwards, 503s may come only inside a failover window,
// and the bridge is the same process throughout.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	began := time.Now()
	c := rabbittest.StartCluster(t, 3)
	t.Logf("3-node cluster up in %s", time.Since(began).Round(time.Second))
	const publishTimeout = 5 * time.Second
	top := rabbittest.NewTopology(t, c.Nodes[0].URL)
	var log testkit.LockedBuffer
	t.Cleanup(func() { t.Logf("the sink's log:\n%s", log.String()) }) // which nodes it used, and why it left each
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: c.URLs(), Exchange: top.Exchange, Queue: top.Queue, QueueType: "quorum",
		Logger: slog.New(slog.NewJSONHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := bridgetest.Serve(t, s, publishTimeout)

	type window struct {
		what         string
		killed       *rabbittest.Node
		from, to     time.Time
		readyz503    int
		wasConnected bool
	}
	var windows []*window
	var readyMu sync.Mutex
	var readyz []struct {
		at     time.Time
		status int
	}
	stopPoll := make(chan struct{})
	pollDone := make(chan struct{})
	go func() { // samples /readyz every 100 ms, as a kubelet would
		defer close(pollDone)
		for {
			select {
			case <-stopPoll:
				return
			case <-time.After(100 * time.Millisecond):
			}
			st := f.Ready()
			readyMu.Lock()
			readyz = append(readyz, struct {
				at     time.Time
				status int
			}{time.Now(), st})
			readyMu.Unlock()
		}
	}()

	connected := func() *rabbittest.Node {
		addr, _ := rabbittest.ConnectedTo(log.String())
		return c.ByAddr(addr)
	}
	// kill SIGKILLs n and waits until a fresh delivery is answered 200 again.
	kill := func(what string, n *rabbittest.Node) *window {
		w := &window{what: what, killed: n, wasConnected: n == connected()}
		w.from = n.Kill(t)
		if !testkit.Poll(60*time.Second, func() bool {
			return f.Ready() == 200 && f.Post(fmt.Sprintf("probe-%d", time.Now().UnixNano())) == 200
		}) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			err := s.Publish(ctx, sinktest.NewMessage("debug"))
			cancel()
			for _, m := range c.Nodes {
				if m != n {
					t.Log(m.Ctl(t, "list_queues", "name", "leader", "members", "online", "messages"))
				}
			}
			t.Fatalf("%s: the bridge did not recover within 60 s: /readyz %d, a publish: %v", what, f.Ready(), err)
		}
		w.to = time.Now()
		windows = append(windows, w)
		t.Logf("%s: killed %s (bridge connected to it: %v); publishing again after %s, now connected to %s",
			what, n, w.wasConnected, w.to.Sub(w.from).Round(time.Millisecond), connected())
		return w
	}
	settle := func() { time.Sleep(2 * time.Second) } // load on the cluster between the faults

	load := f.StartLoad("cluster", 16, 200000)
	settle()
	first := connected()
	if first == nil {
		t.Fatal("the sink did not log which node it connected to")
	}
	kill("connected node killed", first)
	settle()
	back := time.Now()
	first.Start(t)
	t.Logf("%s is back after %s", first, time.Since(back).Round(time.Second))
	settle()
	// The leader on a node the bridge is not connected to: its connection survives,
	// and confirms wait for the queue to elect a new leader.
	via := connected()
	for _, n := range c.Nodes {
		if n != via {
			c.MoveLeader(t, via, top.Queue, n)
			break
		}
	}
	leader := c.Leader(t, via, top.Queue)
	kill("quorum leader killed", leader)
	settle()
	back = time.Now()
	leader.Start(t)
	t.Logf("%s is back after %s", leader, time.Since(back).Round(time.Second))
	settle()

	res, acked := load.Stop(t)
	close(stopPoll)
	<-pollDone
	var survivor *rabbittest.Node
	for _, n := range c.Nodes {
		if n != first && n != leader {
			survivor = n
		}
	}
	if survivor == nil {
		survivor = c.Nodes[0]
	}
	drained := time.Now()
	found := rabbittest.Drain(t, survivor.URL, top.Queue)
	t.Logf("drained %d messages from %s in %s", len(found), survivor, time.Since(drained).Round(time.Millisecond))
	r := f.AssertNoLoss(t, res, acked, found)

	// 503s and /readyz 503s belong inside a window: from a publish timeout before the
	// kill (a publish in flight then) to the first 200 after it.
	inside := func(at time.Time) *window {
		for _, w := range windows {
			if !at.Before(w.from.Add(-publishTimeout)) && !at.After(w.to) {
				return w
			}
		}
		return nil
	}
	outside := 0
	for _, fl := range load.Failures() {
		if inside(fl.Sent) == nil {
			outside++
			if outside <= 5 {
				t.Errorf("delivery %s answered %d outside every failover window (sent %s)", fl.ID, fl.Status, fl.Sent.Format(time.RFC3339Nano))
			}
		}
	}
	readyMu.Lock()
	for _, p := range readyz {
		if p.status == 200 {
			continue
		}
		if w := inside(p.at); w != nil {
			w.readyz503++
		} else {
			t.Errorf("/readyz %d at %s, outside every failover window", p.status, p.at.Format(time.RFC3339Nano))
		}
	}
	readyMu.Unlock()
	_, connects := rabbittest.ConnectedTo(log.String())
	for _, w := range windows {
		t.Logf("window %q: %s, /readyz 503 samples inside: %d", w.what, w.to.Sub(w.from).Round(time.Millisecond), w.readyz503)
	}
	t.Logf("cluster fault figures: answered 200 %d, found %d, lost %d, duplicates %d, non-200 %d (%v), connections made %d",
		r.Acked, r.Found, len(r.Lost), r.Duplicates, len(load.Failures()), res.Statuses, connects)
	f.WaitRecovered(t)
}

// reply is one answer the load saw, kept to place every 503 in time.
type reply struct {
	id     string
	status int
	sent   time.Time
}

// failover is one fault: from the fault until the bridge confirmed a fresh delivery.
type failover struct {
	what       string
	start, end time.Time
}

// A 3-node JetStream cluster with an R3 stream created by the bridge, under a load
// of signed requests through the real bridge: the node the bridge is connected to
// is killed, then the stream's leader, then that node comes back. Every delivery
// answered 200 is in the stream, 503s happen only inside the failover windows, the
// bridge (and its one sink) is never restarted, and senders' retries of the failed
// deliveries leave no second copy (JetStream's dedup).
func TestClusterR3NoLoss(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	const publishTimeout = 3 * time.Second
	cfg := natsjs.Config{URL: c.URLs(), Stream: "CLUSTER", SubjectPrefix: "cluster", Replicas: 3, ConnectTimeout: 3 * time.Second}
	sink, err := natsjs.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	b := bridgetest.Serve(t, sink, publishTimeout)

	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	info := natstest.StreamInfo(t, js, cfg.Stream)
	if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream has %d replicas (%d followers), want 3", info.Config.Replicas, len(info.Cluster.Replicas))
	}

	var (
		mu      sync.Mutex
		replies []reply
	)
	ctx, stopLoad := context.WithCancel(t.Context())
	loadDone := make(chan loadgen.Result, 1)
	go func() {
		res, err := loadgen.Run(ctx, b.Target(), loadgen.Options{Concurrency: 16, Requests: 200000, IDPrefix: fmt.Sprintf("cluster-%d", time.Now().UnixNano()),
			Timeout: publishTimeout + 20*time.Second,
			OnReply: func(id string, status int, sent time.Time) {
				mu.Lock()
				replies = append(replies, reply{id, status, sent})
				mu.Unlock()
			}})
		if err != nil {
			t.Errorf("load: %v", err)
		}
		loadDone <- res
	}()

	var windows []failover
	fail := func(what string, node *natstest.Server) {
		t.Helper()
		time.Sleep(time.Second) // load before the fault
		w := failover{what: what + " " + node.Name(), start: time.Now()}
		node.Stop()
		b.WaitRecovered(t)
		w.end = time.Now()
		windows = append(windows, w)
		t.Logf("%s: recovered after %s", w.what, w.end.Sub(w.start).Round(time.Millisecond))
	}

	connected := bridgeNode(t, c)
	fail("killed the node the bridge is connected to,", connected)
	if now := bridgeNode(t, c); now == connected {
		t.Fatalf("the bridge is still connected to the killed node %s", now.Name())
	}
	restartNode(t, c, js, cfg.Stream, connected)

	leader := c.Node(natstest.StreamInfo(t, js, cfg.Stream).Cluster.Leader)
	fail("killed the stream leader,", leader)
	if l := natstest.StreamInfo(t, js, cfg.Stream).Cluster.Leader; l == leader.Name() || l == "" {
		t.Fatalf("stream leader after the kill: %q", l)
	}
	time.Sleep(time.Second) // load on the two nodes left
	restartNode(t, c, js, cfg.Stream, leader)
	time.Sleep(time.Second) // load on the whole cluster again
	stopLoad()
	res := <-loadDone

	mu.Lock()
	defer mu.Unlock()
	var acked, failed []string
	for _, r := range replies {
		if r.status == 200 {
			acked = append(acked, r.id)
			continue
		}
		failed = append(failed, r.id)
		if !slices.ContainsFunc(windows, func(w failover) bool {
			return !r.sent.Before(w.start.Add(-publishTimeout)) && !r.sent.After(w.end.Add(time.Second))
		}) {
			t.Errorf("%s answered %d at %s, outside every failover window %v", r.id, r.status, r.sent.Format(time.StampMilli), windows)
		}
	}
	// The senders retry what failed, as AudioSpliter does; JetStream's dedup absorbs
	// those that were stored after all.
	for _, id := range failed {
		if status := b.Post(id); status != 200 {
			t.Errorf("retry of %s after recovery: %d", id, status)
		}
		acked = append(acked, id)
	}
	var found []string
	for _, m := range natstest.ReadStream(t, c.URLs(), cfg.Stream, 0) {
		found = append(found, m.Header.Get(jetstream.MsgIDHeader))
	}
	r := b.AssertNoLoss(t, res, acked, found)
	if r.Duplicates != 0 {
		t.Errorf("%d extra copies in the stream, want 0 (JetStream dedup)", r.Duplicates)
	}
	t.Logf("R3 on 3 nodes: %d requests, %d answered 200 first time, %d failed then retried, %d in the stream, lost %d, duplicates %d; failovers %v",
		len(replies), len(replies)-len(failed), len(failed), r.Found, len(r.Lost), r.Duplicates, failoversString(windows))
	if err := sink.Ready(t.Context()); err != nil {
		t.Errorf("the sink is not ready at the end: %v", err)
	}
}

func failoversString(ws []failover) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s %s", w.what, w.end.Sub(w.start).Round(time.Millisecond)))
	}
	return strings.Join(parts, "; ")
}

// bridgeNode is the node that holds the bridge's connection, as the servers see it.
func bridgeNode(t *testing.T, c *natstest.Cluster) *natstest.Server {
	t.Helper()
	var node *natstest.Server
	testkit.Eventually(t, 10*time.Second, func() bool {
		for _, s := range c.Running() {
			cz, err := s.Server().Connz(&server.ConnzOptions{})
			if err != nil {
				continue
			}
			for _, conn := range cz.Conns {
				if strings.HasPrefix(conn.Name, "audiospliter-bridge@") {
					node = s
					return true
				}
			}
		}
		return false
	}, "no node holds the bridge's connection")
	return node
}

// restartNode brings a node back and waits until it is a current replica of stream.
func restartNode(t *testing.T, c *natstest.Cluster, js jetstream.JetStream, stream string, node *natstest.Server) {
	t.Helper()
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	c.WaitCurrent(t)
	testkit.Eventually(t, 30*time.Second, func() bool {
		info := natstest.StreamInfo(t, js, stream)
		current := info.Cluster.Leader == node.Name()
		for _, p := range info.Cluster.Replicas {
			current = current || p.Name == node.Name() && p.Current
		}
		return current
	}, "node %s did not catch up with stream %s", node.Name(), stream)
}
