package rabbittest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

var names atomic.Int64

// Topology is an exchange and a queue of a test's own.
type Topology struct{ Exchange, Queue string }

// NewTopology names an exchange and a queue for t on the broker at url, and deletes
// them when t ends. The bridge's sink declares them.
func NewTopology(t testing.TB, url string) Topology {
	t.Helper()
	n := names.Add(1)
	top := Topology{
		Exchange: fmt.Sprintf("bridgetest.%d.%d", time.Now().UnixNano(), n),
		Queue:    fmt.Sprintf("bridgetest.%d.%d.q", time.Now().UnixNano(), n),
	}
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(top.Queue, false, false, false)
			_ = ch.ExchangeDelete(top.Exchange, false, false)
		}
	})
	return top
}

// Reader drains a queue with basic.get and remembers everything it took, so
// repeated reads see every message read so far.
type Reader struct {
	URL, Queue string
	mu         sync.Mutex
	got        []amqp.Delivery
}

// Read returns every message taken so far, waiting until there are at least
// atLeast or ten seconds have passed.
func (r *Reader) Read(t testing.TB, atLeast int) []amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(r.URL)
	if err != nil {
		t.Fatalf("reader connect: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	testkit.Poll(10*time.Second, func() bool {
		for {
			d, ok, err := ch.Get(r.Queue, true)
			if err != nil {
				t.Fatalf("basic.get %s: %v", r.Queue, err)
			}
			if !ok {
				return len(r.got) >= atLeast
			}
			r.got = append(r.got, d)
		}
	})
	return append([]amqp.Delivery(nil), r.got...)
}

// Drain consumes every message of queue and returns their message ids, once no
// message has come for 3 s; faster than basic.get for the tens of thousands a load
// leaves on a quorum queue.
func Drain(t testing.TB, url, queue string) []string {
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

// Received returns the deliveries as the conformance suite compares them: the
// message id, the string headers, the body, the routing key.
func Received(ds []amqp.Delivery) []sinktest.Received {
	out := make([]sinktest.Received, 0, len(ds))
	for _, d := range ds {
		r := sinktest.Received{ID: d.MessageId, Body: d.Body, Headers: map[string]string{}, Route: d.RoutingKey}
		for k, v := range d.Headers {
			if s, ok := v.(string); ok {
				r.Headers[k] = s
			}
		}
		out = append(out, r)
	}
	return out
}

// ConnectedTo reads a sink's JSON log (slog.NewJSONHandler) and returns host:port
// of the node it last said it connected to, and how many times it has connected.
func ConnectedTo(log string) (addr string, connects int) {
	for line := range strings.Lines(log) {
		var e struct{ Msg, Node string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "rabbitmq connected" {
			if u, err := url.Parse(e.Node); err == nil {
				addr = u.Host
				connects++
			}
		}
	}
	return addr, connects
}
