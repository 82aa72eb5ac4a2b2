package natsjs_test

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

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// reply is one answer the load saw, kept to place every 503 in time.
type reply struct {
	id     string
	status int
	sent   time.Time
}

// window is a failover: from the fault until the bridge confirmed a fresh delivery.
type window struct {
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
	b := sinktest.ServeBridge(t, sink, publishTimeout)

	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	info := streamInfo(t, js, cfg.Stream)
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

	var windows []window
	fail := func(what string, node *natstest.Server) {
		t.Helper()
		time.Sleep(time.Second) // load before the fault
		w := window{what: what + " " + node.Name(), start: time.Now()}
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
	restart(t, c, js, cfg.Stream, connected)

	leader := c.Node(streamInfo(t, js, cfg.Stream).Cluster.Leader)
	fail("killed the stream leader,", leader)
	if l := streamInfo(t, js, cfg.Stream).Cluster.Leader; l == leader.Name() || l == "" {
		t.Fatalf("stream leader after the kill: %q", l)
	}
	time.Sleep(time.Second)
	restart(t, c, js, cfg.Stream, leader)
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
		if !slices.ContainsFunc(windows, func(w window) bool {
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
		len(replies), len(replies)-len(failed), len(failed), r.Found, len(r.Lost), r.Duplicates, windowsString(windows))
	if err := sink.Ready(t.Context()); err != nil {
		t.Errorf("the sink is not ready at the end: %v", err)
	}
}

func windowsString(ws []window) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s %s", w.what, w.end.Sub(w.start).Round(time.Millisecond)))
	}
	return strings.Join(parts, "; ")
}

func streamInfo(t *testing.T, js jetstream.JetStream, stream string) *jetstream.StreamInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		st, err := js.Stream(ctx, stream)
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = st.Info(ctx)
		}
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s info: %v", stream, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bridgeNode is the node that holds the bridge's connection, as the servers see it.
func bridgeNode(t *testing.T, c *natstest.Cluster) *natstest.Server {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range c.Running() {
			cz, err := s.Server().Connz(&server.ConnzOptions{})
			if err != nil {
				continue
			}
			for _, conn := range cz.Conns {
				if strings.HasPrefix(conn.Name, "audiospliter-bridge@") {
					return s
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no node holds the bridge's connection")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// restart brings a node back and waits until it is a current replica of stream.
func restart(t *testing.T, c *natstest.Cluster, js jetstream.JetStream, stream string, node *natstest.Server) {
	t.Helper()
	if err := node.Start(); err != nil {
		t.Fatal(err)
	}
	c.WaitCurrent(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		info := streamInfo(t, js, stream)
		current := info.Cluster.Leader == node.Name()
		for _, p := range info.Cluster.Replicas {
			current = current || p.Name == node.Name() && p.Current
		}
		if current {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not catch up with stream %s", node.Name(), stream)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An operator's stream with other settings is used as it is (never updated), and
// the difference is logged once.
func TestExistingStreamUsedAsItIs(t *testing.T) {
	ts := startServer(t)
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "OPS", Subjects: []string{"ops.>"}, Storage: jetstream.MemoryStorage, Duplicates: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	var logs testkit.LockedBuffer
	// Three replicas on a single server could not be created: proof that the
	// existing stream is taken as it is.
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: ts.URL(), Stream: "OPS", SubjectPrefix: "ops", Replicas: 3,
		DuplicateWindow: 10 * time.Minute, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("ops-1")); err != nil {
		t.Fatal(err)
	}
	info := streamInfo(t, js, "OPS")
	if info.Config.Replicas != 1 || info.Config.Storage != jetstream.MemoryStorage || info.Config.Duplicates != time.Minute {
		t.Errorf("the bridge changed the operator's stream: %+v", info.Config)
	}
	if n := strings.Count(logs.String(), "using the existing jetstream stream as it is"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	for _, want := range []string{`"replicas":1`, `"bridge_replicas":3`, `"storage":"Memory"`, `"duplicate_window":"1m0s"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}
