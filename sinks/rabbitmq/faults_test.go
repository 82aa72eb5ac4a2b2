package rabbitmq_test

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Fault tests: a bridge under a load of signed deliveries in front of RabbitMQ while
// the broker or the network fails. Each checks that every delivery answered 200 is
// on the queue, that no answer took longer than the publish timeout plus a margin,
// that /readyz told the truth, and that the bridge recovered without a restart.

type faultEnv struct {
	*sinktest.Bridged
	sink *rabbitmq.Sink
	url  string
	top  topology
}

func newFaultEnv(t *testing.T, brokerURL, sinkURL string, timeout time.Duration) *faultEnv {
	t.Helper()
	top := newTopology(t, brokerURL)
	s := openSink(t, sinkURL, top, "classic")
	t.Cleanup(func() { s.Close() })
	return &faultEnv{Bridged: sinktest.ServeBridge(t, s, timeout), sink: s, url: brokerURL, top: top}
}

// check drains the queue and compares it with the deliveries answered 200.
func (f *faultEnv) check(t *testing.T, load *sinktest.Load) loadgen.LossReport {
	t.Helper()
	res, acked := load.Stop(t)
	var found []string
	for _, d := range (&queueReader{url: f.url, queue: f.top.queue}).read(t, len(acked)) {
		found = append(found, d.MessageId)
	}
	return f.AssertNoLoss(t, res, acked, found)
}

func TestFaultConnectionsClosedByBroker(t *testing.T) {
	n := rabbittest.PrivateNode(t)
	f := newFaultEnv(t, n.URL, n.URL, 5*time.Second)
	load := f.StartLoad("closed", 16, 20000)
	for range 3 {
		time.Sleep(700 * time.Millisecond)
		n.Ctl(t, "close_all_connections", "fault test")
	}
	time.Sleep(700 * time.Millisecond)
	f.check(t, load)
	f.WaitRecovered(t)
}

func TestFaultNodeStoppedAndStarted(t *testing.T) {
	n := rabbittest.PrivateNode(t)
	f := newFaultEnv(t, n.URL, n.URL, 2*time.Second)
	load := f.StartLoad("restart", 16, 20000)
	time.Sleep(700 * time.Millisecond)
	n.Ctl(t, "stop_app")
	time.Sleep(300 * time.Millisecond)
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the broker stopped = %d, want 503", got)
	}
	time.Sleep(time.Second)
	n.Ctl(t, "start_app")
	if err := n.WaitAMQP(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	r := f.check(t, load)
	if r.Acked == 0 {
		return
	}
	f.WaitRecovered(t)
}

// A memory alarm makes RabbitMQ block publishing connections. Webhooks must get 503
// at the publish timeout rather than hang, /readyz must say so, and service resumes
// when the alarm clears.
func TestFaultBlockedConnection(t *testing.T) {
	n := rabbittest.PrivateNode(t)
	f := newFaultEnv(t, n.URL, n.URL, time.Second)
	t.Cleanup(func() { n.Ctl(t, "set_vm_memory_high_watermark", "0.4") })
	if status := f.Post("before-alarm"); status != 200 {
		t.Fatalf("before the alarm: %d", status)
	}
	load := f.StartLoad("alarm", 8, 5000)
	n.Ctl(t, "set_vm_memory_high_watermark", "0")
	time.Sleep(2500 * time.Millisecond)
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the connection blocked = %d, want 503", got)
	}
	start := time.Now()
	if status := f.Post("during-alarm"); status != 503 {
		t.Errorf("a delivery during the alarm got %d, want 503", status)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answer took %s with the connection blocked; the publish timeout is 1s", took)
	}
	n.Ctl(t, "set_vm_memory_high_watermark", "0.4")
	f.WaitRecovered(t)
	f.check(t, load)
}

// The network between the bridge and RabbitMQ fails: connections cut mid-load, then
// the broker unreachable for a while, through a TCP proxy.
func TestFaultNetworkCutAndDown(t *testing.T) {
	url := rabbittest.SharedURL(t)
	proxy := testkit.StartProxy(t, "127.0.0.1:5672")
	f := newFaultEnv(t, url, fmt.Sprintf("amqp://guest:guest@%s/", proxy.Addr()), 2*time.Second)
	load := f.StartLoad("netcut", 16, 20000)
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		proxy.Cut()
	}
	time.Sleep(500 * time.Millisecond)
	proxy.SetDown(true)
	time.Sleep(500 * time.Millisecond)
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the broker unreachable = %d, want 503", got)
	}
	time.Sleep(time.Second)
	proxy.SetDown(false)
	f.WaitRecovered(t)
	f.check(t, load)
}

// Latency on the way to the broker slows confirms down; nothing is lost and nothing
// fails while the latency stays well inside the publish timeout.
func TestFaultNetworkLatency(t *testing.T) {
	url := rabbittest.SharedURL(t)
	proxy := testkit.StartProxy(t, "127.0.0.1:5672")
	f := newFaultEnv(t, url, fmt.Sprintf("amqp://guest:guest@%s/", proxy.Addr()), 2*time.Second)
	proxy.SetLatency(50 * time.Millisecond)
	load := f.StartLoad("latency", 16, 2000)
	time.Sleep(2 * time.Second)
	r := f.check(t, load)
	if r.Acked < 100 {
		t.Errorf("only %d deliveries confirmed in 2 s with 50 ms latency", r.Acked)
	}
}

// The bridge's queue deleted by an operator mid-load: what it held is gone with it,
// but every delivery sent after the deletion and answered 200 is on the queue the
// sink declared again, and no request fails for good.
func TestFaultQueueDeletedUnderLoad(t *testing.T) {
	url := rabbittest.SharedURL(t)
	f := newFaultEnv(t, url, url, 3*time.Second)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	load := f.StartLoad("qdeleted", 16, 20000)
	time.Sleep(700 * time.Millisecond)
	if _, err := ch.QueueDelete(f.top.queue, false, false, false); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	time.Sleep(1500 * time.Millisecond)
	res, _ := load.Stop(t)
	mustHold := load.AckedSentAfter(deleted)
	var found []string
	for _, d := range (&queueReader{url: f.url, queue: f.top.queue}).read(t, len(mustHold)) {
		found = append(found, d.MessageId)
	}
	r := f.AssertNoLoss(t, res, mustHold, found)
	if res.Statuses[502] > 0 {
		t.Errorf("%d deliveries answered 502: a deleted queue of the bridge's own must be mended, not refused", res.Statuses[502])
	}
	t.Logf("sent after the deletion and answered 200: %d, all on the queue: %v", r.Acked, len(r.Lost) == 0)
}
