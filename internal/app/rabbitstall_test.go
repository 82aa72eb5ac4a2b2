package app_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// bodyOfSize is a valid webhook body of exactly size bytes.
func bodyOfSize(size int) []byte {
	head, tail := `{"event":"job.completed","jobId":"job_big","data":{"pad":"`, `"}}`
	return fmt.Appendf(nil, "%s%s%s", head, bytes.Repeat([]byte("x"), size-len(head)-len(tail)), tail)
}

// postAll sends n deliveries of body at once and returns each one's status (0: no
// answer) and how long its answer took.
func postAll(url string, body []byte, prefix string, n int) ([]int, []time.Duration) {
	statuses, took := make([]int, n), make([]time.Duration, n)
	target := loadgen.Target{URL: url + "/webhooks", Secret: testSecret, Body: body}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			r, err := loadgen.Send(ctx, target, fmt.Sprintf("%s-%02d", prefix, i))
			took[i] = time.Since(start)
			if err == nil {
				statuses[i] = r.Status
			}
		})
	}
	wg.Wait()
	return statuses, took
}

// The broker stops reading (a TCP proxy that stalls) while the bridge is sent
// bodies at the default 1 MiB limit. Every request is answered 503 within the
// publish timeout + 1 s; once the stall clears 200s resume and every delivery
// answered 200 is on the queue; SIGTERM during a second stall exits within the
// shutdown timeout + 1 s, shorter here than the publish timeout.
//
// Not parallel: it compares the same burst's answer times on a healthy and on a
// stalled broker, which another test's load in between would skew.
func TestStalledRabbitMQBridgeAnswersInTime(t *testing.T) {
	url := rabbittest.SharedURL(t)
	exchange, queue := apptest.RabbitNames(t, url)
	proxy := testkit.StartProxy(t, "127.0.0.1:5672")
	const publishTimeout, shutdownTimeout = 3 * time.Second, time.Second
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL = "rabbitmq", "amqp://guest:guest@"+proxy.Addr()+"/"
		c.Rabbitmq.Exchange, c.Rabbitmq.Queue = exchange, queue
		c.PublishTimeout, c.ShutdownTimeout = publishTimeout, shutdownTimeout
		c.LogLevel = "info"
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bridge log:\n%s", b.stderr)
		}
	})
	base := "http://" + b.addr
	body := bodyOfSize(1<<20 - 64) // just under BRIDGE_MAX_BODY_BYTES' default
	var acked []string
	if r := b.post(t, body, "stall-before"); r.Status != 200 {
		t.Fatalf("before the stall: %d %s", r.Status, r.Body)
	}
	acked = append(acked, "stall-before")

	// The bound runs from the moment a body has been read. Seen from the client, the
	// same burst on a healthy broker shows what reading and checking 16 MiB of
	// bodies costs on this machine (much more under -race), and that is allowed on
	// top.
	statuses, took := postAll(base, body, "healthy", 16)
	var reading time.Duration
	for i, st := range statuses {
		if st != 200 {
			t.Fatalf("healthy burst: delivery %d got %d", i, st)
		}
		reading = max(reading, took[i])
		acked = append(acked, fmt.Sprintf("healthy-%02d", i))
	}

	proxy.SetStalled(true)
	statuses, took = postAll(base, body, "stall", 16)
	var slowest time.Duration
	for i, st := range statuses {
		slowest = max(slowest, took[i])
		if st != 503 {
			t.Errorf("delivery %d during the stall: %d, want 503", i, st)
		}
		if took[i] > reading+publishTimeout+time.Second {
			t.Errorf("delivery %d answered after %s; publish timeout %s, the same burst took %s on a healthy broker",
				i, took[i].Round(time.Millisecond), publishTimeout, reading.Round(time.Millisecond))
		}
	}
	t.Logf("16 × 1 MiB during the stall: statuses %v, slowest answer %s (publish timeout %s; the burst took %s on a healthy broker)",
		statuses, slowest.Round(time.Millisecond), publishTimeout, reading.Round(time.Millisecond))

	proxy.SetStalled(false)
	n := 0
	testkit.Eventually(t, 30*time.Second, func() bool {
		n++
		id := fmt.Sprintf("stall-after-%d", n)
		if r := b.post(t, body, id); r.Status != 200 {
			return false
		}
		acked = append(acked, id)
		return true
	}, "no 200 after the stall cleared:\n%s", b.stderr)
	statuses, _ = postAll(base, body, "stall-resumed", 4)
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("delivery %d after recovery: %d, want 200", i, st)
		} else {
			acked = append(acked, fmt.Sprintf("stall-resumed-%02d", i))
		}
	}
	assertOnQueue(t, url, queue, acked)

	// SIGTERM while publishes are stuck behind a broker that reads nothing.
	proxy.SetStalled(true)
	answered := make(chan struct{})
	go func() { postAll(base, body, "stall-term", 8); close(answered) }()
	time.Sleep(500 * time.Millisecond) // the senders' requests under way
	start := time.Now()
	b.cancel()
	select {
	case err := <-b.exit:
		b.exit <- err
		t.Logf("SIGTERM during the stall: Run returned %v after %s (shutdown timeout %s)", err, time.Since(start).Round(time.Millisecond), shutdownTimeout)
		if took := time.Since(start); took > shutdownTimeout+time.Second {
			t.Errorf("exit took %s after SIGTERM; shutdown timeout %s", took.Round(time.Millisecond), shutdownTimeout)
		}
	case <-time.After(shutdownTimeout + 20*time.Second):
		t.Fatalf("no exit %s after SIGTERM during a stall", time.Since(start).Round(time.Second))
	}
	proxy.SetStalled(false)
	<-answered
}

// assertOnQueue fails t unless every id is among the messages on queue.
func assertOnQueue(t *testing.T, url, queue string, ids []string) {
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
	on := map[string]bool{}
	missing := 0
	if !testkit.Poll(10*time.Second, func() bool {
		for {
			d, ok, err := ch.Get(queue, true)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			on[d.MessageId] = true
		}
		missing = 0
		for _, id := range ids {
			if !on[id] {
				missing++
			}
		}
		return missing == 0
	}) {
		t.Fatalf("%d of %d deliveries answered 200 are not on the queue (it holds %d)", missing, len(ids), len(on))
	}
}

// A RabbitMQ node with a small max_message_size, and bodies over it sent among small
// ones: each large one is answered 413, every small one 200 and on the queue.
func TestRabbitMQOversizeBodyGets413(t *testing.T) {
	t.Parallel()
	const limit = 65536
	n := rabbittest.StartNode(t, rabbittest.Options{Conf: []string{fmt.Sprintf("max_message_size = %d", limit)}})
	exchange, queue := apptest.RabbitNames(t, n.URL)
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL, c.Rabbitmq.Exchange, c.Rabbitmq.Queue = "rabbitmq", n.URL, exchange, queue
		c.LogLevel = "info"
	})
	base := "http://" + b.addr
	var wg sync.WaitGroup
	var smallStatuses, bigStatuses []int
	wg.Go(func() { smallStatuses, _ = postAll(base, bodyOfSize(2000), "small", 64) })
	wg.Go(func() { bigStatuses, _ = postAll(base, bodyOfSize(limit+1), "big", 4) })
	wg.Wait()
	var acked []string
	for i, st := range smallStatuses {
		if st != 200 {
			t.Errorf("small delivery %d: %d, want 200", i, st)
		}
		acked = append(acked, fmt.Sprintf("small-%02d", i))
	}
	for i, st := range bigStatuses {
		if st != 413 {
			t.Errorf("delivery %d over max_message_size: %d, want 413", i, st)
		}
	}
	// The sender's retry of a refused body gets 413 again, not a cached answer.
	if r := b.post(t, bodyOfSize(limit+1), "big-00"); r.Status != 413 {
		t.Errorf("retry of a refused body: %d %s, want 413", r.Status, r.Body)
	}
	if r := b.post(t, bodyOfSize(limit), "at-limit"); r.Status != 200 {
		t.Errorf("a body of exactly max_message_size: %d %s, want 200", r.Status, r.Body)
	}
	acked = append(acked, "at-limit")
	assertOnQueue(t, n.URL, queue, acked)
}
