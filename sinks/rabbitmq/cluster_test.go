package rabbitmq_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// logTap keeps the sink's log lines so a test can see which node it connected to.
type logTap struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logTap) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logTap) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// connectedTo returns host:port of the node the sink last said it connected to, and
// how many times it has connected.
func (l *logTap) connectedTo() (addr string, connects int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		var e struct{ Msg, Node string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "rabbitmq connected" {
			if u, err := url.Parse(e.Node); err == nil {
				addr = u.Host
				connects++
			}
		}
	}
	return addr, connects
}

// A node list in front of one broker, each entry a proxy: the sink starts with the
// first entry dead, fails over to the next entry when its proxy goes down, and comes
// back round to the first when that one is the only one left.
func TestNodeListRoundRobin(t *testing.T) {
	shared := rabbittest.SharedURL(t)
	u, _ := url.Parse(shared)
	proxies := []*testkit.Proxy{testkit.StartProxy(t, u.Host), testkit.StartProxy(t, u.Host), testkit.StartProxy(t, u.Host)}
	list := ""
	for i, p := range proxies {
		if i > 0 {
			list += ","
		}
		list += fmt.Sprintf("amqp://guest:guest@%s/", p.Addr())
	}
	proxies[0].SetDown(true)
	top := newTopology(t, shared)
	var tap logTap
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: list, Exchange: top.exchange, Queue: top.queue, Logger: tap.logger()})
	if err != nil {
		t.Fatalf("New with the first node down: %v", err)
	}
	defer s.Close()
	waitNode := func(want int, connects int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			addr, n := tap.connectedTo()
			if addr == proxies[want].Addr() && n == connects && s.Ready(t.Context()) == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("connected to %s after %d connects, want node %d (%s) after %d", addr, n, want, proxies[want].Addr(), connects)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	publish := func(id string) {
		t.Helper()
		if err := s.Publish(t.Context(), sinktest.NewMessage(id)); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	waitNode(1, 1)
	publish("rr-1")
	proxies[0].SetDown(false)
	proxies[1].SetDown(true) // cuts the live connection: the next node is 2
	waitNode(2, 2)
	publish("rr-2")
	proxies[2].SetDown(true) // 0 is next, and the only one up
	waitNode(0, 3)
	publish("rr-3")
	got := (&queueReader{url: shared, queue: top.queue}).read(t, 3)
	if len(got) != 3 {
		t.Fatalf("queue holds %d messages, want 3", len(got))
	}
}

// Three nodes in one cluster, a quorum queue, and a bridge given all three URLs, under
// load: SIGKILL the node the bridge is connected to, bring it back, SIGKILL the node
// leading the quorum queue, bring it back. Every delivery answered 200 must be on
// the queue afterwards, 503s may come only inside a failover window, and the bridge
// is the same process throughout.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	began := time.Now()
	c := rabbittest.StartCluster(t, 3)
	t.Logf("3-node cluster up in %s", time.Since(began).Round(time.Second))
	const publishTimeout = 5 * time.Second
	top := newTopology(t, c.Nodes[0].URL)
	var tap logTap
	t.Cleanup(func() { // which nodes it used, and why it left each
		tap.mu.Lock()
		t.Logf("the sink's log:\n%s", tap.buf.String())
		tap.mu.Unlock()
	})
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: c.URLs(), Exchange: top.exchange, Queue: top.queue, QueueType: "quorum", Logger: tap.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &faultEnv{Bridged: sinktest.ServeBridge(t, s, publishTimeout), sink: s, top: top}

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
	go func() {
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
		addr, _ := tap.connectedTo()
		return c.ByAddr(addr)
	}
	// kill SIGKILLs n and waits until a fresh delivery is answered 200 again.
	kill := func(what string, n *rabbittest.Node) *window {
		w := &window{what: what, killed: n, wasConnected: n == connected()}
		w.from = n.Kill(t)
		deadline := time.Now().Add(60 * time.Second)
		for {
			if f.Ready() == 200 && f.Post(fmt.Sprintf("probe-%d", time.Now().UnixNano())) == 200 {
				break
			}
			if time.Now().After(deadline) {
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
			time.Sleep(50 * time.Millisecond)
		}
		w.to = time.Now()
		windows = append(windows, w)
		t.Logf("%s: killed %s (bridge connected to it: %v); publishing again after %s, now connected to %s",
			what, n, w.wasConnected, w.to.Sub(w.from).Round(time.Millisecond), connected())
		return w
	}
	settle := func() { time.Sleep(2 * time.Second) }

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
			c.MoveLeader(t, via, top.queue, n)
			break
		}
	}
	leader := c.Leader(t, via, top.queue)
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
	found := drain(t, survivor.URL, top.queue)
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
	_, connects := tap.connectedTo()
	for _, w := range windows {
		t.Logf("window %q: %s, /readyz 503 samples inside: %d", w.what, w.to.Sub(w.from).Round(time.Millisecond), w.readyz503)
	}
	t.Logf("cluster fault figures: answered 200 %d, found %d, lost %d, duplicates %d, non-200 %d (%v), connections made %d",
		r.Acked, r.Found, len(r.Lost), r.Duplicates, len(load.Failures()), res.Statuses, connects)
	f.WaitRecovered(t)
}

// drain consumes every message of queue and returns their message ids; faster than
// basic.get for the tens of thousands a load leaves on a quorum queue.
func drain(t *testing.T, url, queue string) []string {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(2000, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				t.Fatal("consumer closed while draining")
			}
			ids = append(ids, d.MessageId)
			if len(ids)%500 == 0 {
				_ = d.Ack(true)
			}
		case <-time.After(3 * time.Second):
			return ids
		}
	}
}

// When no node of a list can be reached, the start-up error names each one, with no
// password in it.
func TestNodeListAllDown(t *testing.T) {
	a, b := testkit.FreeAddr(t), testkit.FreeAddr(t)
	list := fmt.Sprintf("amqp://u:s3cret-a@%s/, amqps://u:s3cret-b@%s/", a, b)
	_, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: list, ConnectTimeout: time.Second})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "URL" {
		t.Fatalf("New = %v, want a ConfigError on URL", err)
	}
	for _, want := range []string{"none of the 2 nodes", a, b} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows a password: %v", err)
	}
}
