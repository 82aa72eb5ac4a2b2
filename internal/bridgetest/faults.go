package bridgetest

import (
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// The fault cases: a bridge under a load of signed deliveries (16 keep-alive
// connections, unique delivery ids) in front of the sink while the broker or the
// network fails. Each checks that every delivery answered 200 is on the broker,
// that no answer took longer than the publish timeout plus 3 s, that /readyz said
// 503 while the broker could not be reached, and that the bridge recovered without
// a restart. The sleeps in them pace the load and the fault; what they wait for
// (a broker back, /readyz) they wait for with testkit.Eventually.

// The broker stopped and started under load (RabbitMQ stop_app/start_app, a NATS
// server shut down and started on its store, the SQS endpoint's process killed and
// started). It stays down longer than the publish timeout, so deliveries sent then
// are answered 503 in time; where the restart loses what the broker held, the check
// covers the deliveries sent after it came back.
func faultBrokerRestarted(t *testing.T, h Harness) {
	b := h.Broker(t, true)
	must(t, b.Stop == nil || b.Start == nil, "Broker.Stop and Start")
	d := b.Dest(t, false)
	const timeout = 2 * time.Second
	f := Serve(t, open(t, d, b.Addr), timeout)
	load := f.StartLoad("restart", 16, 50000)
	time.Sleep(700 * time.Millisecond) // load before the fault
	b.Stop(t)
	down := time.Now()
	testkit.Eventually(t, bridge.ReadyEvery+time.Second, func() bool { return f.Ready() == 503 }, "/readyz 503 with the broker down")
	time.Sleep(time.Until(down.Add(timeout + 500*time.Millisecond))) // down for longer than the publish timeout
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the broker down for %s = %d, want 503", since(down), got)
	}
	b.Start(t)
	back := time.Now()
	t.Logf("broker down for %s", back.Sub(down).Round(time.Millisecond))
	f.WaitRecovered(t)
	time.Sleep(time.Second) // load on the broker that came back
	res, acked := load.Stop(t)
	if b.RestartLosesData {
		acked = load.AckedSentAfter(back)
	}
	f.AssertNoLoss(t, res, acked, ids(d.Read(t, len(acked))))
	if res.Statuses[503] == 0 {
		t.Errorf("no delivery was answered 503 while the broker was down for longer than the publish timeout: statuses %v", res.Statuses)
	}
}

// The broker closes every connection three times under load (rabbitmqctl
// close_all_connections, a NATS server kicking its clients): the sink reconnects at
// once, and nothing answered 200 is lost.
func faultConnectionsClosedByBroker(t *testing.T, h Harness) {
	b := h.Broker(t, true)
	must(t, b.CloseConnections == nil, "Broker.CloseConnections")
	d := b.Dest(t, false)
	f := Serve(t, open(t, d, b.Addr), 5*time.Second)
	load := f.StartLoad("closed", 16, 20000)
	for range 3 {
		time.Sleep(700 * time.Millisecond) // load between the faults
		b.CloseConnections(t)
	}
	time.Sleep(700 * time.Millisecond) // load after the last one
	res, acked := load.Stop(t)
	f.AssertNoLoss(t, res, acked, ids(d.Read(t, len(acked))))
	f.WaitRecovered(t)
}

// The broker blocks publishing connections (a RabbitMQ memory alarm): webhooks get
// 503 at the publish timeout rather than hang, /readyz says so, and service resumes
// when the alarm clears.
func faultBlockedConnection(t *testing.T, h Harness) {
	b := h.Broker(t, true)
	must(t, b.Block == nil, "Broker.Block")
	d := b.Dest(t, false)
	f := Serve(t, open(t, d, b.Addr), time.Second)
	t.Cleanup(func() { b.Block(t, false) })
	if status := f.Post("before-block"); status != 200 {
		t.Fatalf("before the broker blocked: %d", status)
	}
	load := f.StartLoad("blocked", 8, 5000)
	b.Block(t, true)
	testkit.Eventually(t, 2500*time.Millisecond, func() bool { return f.Ready() == 503 }, "/readyz 503 with the connection blocked")
	start := time.Now()
	if status := f.Post("during-block"); status != 503 {
		t.Errorf("a delivery while the broker blocks got %d, want 503", status)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answer took %s with the connection blocked; the publish timeout is 1s", took)
	}
	b.Block(t, false)
	f.WaitRecovered(t)
	res, acked := load.Stop(t)
	f.AssertNoLoss(t, res, acked, ids(d.Read(t, len(acked))))
}

// The network between the bridge and the broker fails, through a TCP proxy:
// connections cut three times mid-load, then the broker unreachable for 2.5 s.
func faultNetworkCutAndDown(t *testing.T, h Harness) {
	b := h.Broker(t, false)
	d := b.Dest(t, false)
	proxy := testkit.StartProxy(t, b.Addr)
	f := Serve(t, open(t, d, proxy.Addr()), 2*time.Second)
	load := f.StartLoad("netcut", 16, 50000)
	for range 3 {
		time.Sleep(500 * time.Millisecond) // load between the faults
		proxy.Cut()
	}
	time.Sleep(500 * time.Millisecond) // load after the last cut
	proxy.SetDown(true)
	down := time.Now()
	// /readyz asks the sink at most once a second (bridge.ReadyEvery): it may say
	// 200 for that long after the change, and a loaded machine adds to it.
	testkit.Eventually(t, bridge.ReadyEvery+time.Second, func() bool { return f.Ready() == 503 }, "/readyz 503 with the broker unreachable")
	time.Sleep(time.Until(down.Add(2500 * time.Millisecond))) // unreachable for 2.5 s
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the broker unreachable for %s = %d, want 503", since(down), got)
	}
	proxy.SetDown(false)
	f.WaitRecovered(t)
	res, acked := load.Stop(t)
	f.AssertNoLoss(t, res, acked, ids(d.Read(t, len(acked))))
}

// Latency on the way to the broker (50 ms per forwarded chunk) slows confirms
// down; nothing is lost and nothing fails while the latency stays well inside the
// publish timeout.
func faultNetworkLatency(t *testing.T, h Harness) {
	b := h.Broker(t, false)
	d := b.Dest(t, false)
	proxy := testkit.StartProxy(t, b.Addr)
	f := Serve(t, open(t, d, proxy.Addr()), 2*time.Second)
	proxy.SetLatency(50 * time.Millisecond)
	load := f.StartLoad("latency", 16, 2000)
	time.Sleep(2 * time.Second) // the load's length
	res, acked := load.Stop(t)
	r := f.AssertNoLoss(t, res, acked, ids(d.Read(t, len(acked))))
	if r.Acked < 100 {
		t.Errorf("only %d deliveries confirmed in 2 s with 50 ms latency", r.Acked)
	}
	if res.Statuses[200] != res.Requests {
		t.Errorf("statuses %v: with 50 ms of latency every delivery must be confirmed", res.Statuses)
	}
}

// The sink's destination deleted by an operator mid-load (a queue, a stream): what
// it held is gone with it, but every delivery sent after the deletion and answered
// 200 is on the destination the sink made again, no request fails for good (no
// 502), and the bridge is ready again.
func faultDestinationDeleted(t *testing.T, h Harness) {
	b := h.Broker(t, false)
	d := b.Dest(t, false)
	must(t, d.Delete == nil, "Dest.Delete")
	f := Serve(t, open(t, d, b.Addr), 3*time.Second)
	load := f.StartLoad("deleted", 16, 50000)
	time.Sleep(700 * time.Millisecond) // load before the fault
	d.Delete(t)
	deleted := time.Now()
	time.Sleep(1500 * time.Millisecond) // load after it
	res, _ := load.Stop(t)
	mustHold := load.AckedSentAfter(deleted)
	r := f.AssertNoLoss(t, res, mustHold, ids(d.Read(t, len(mustHold))))
	if res.Statuses[502] > 0 {
		t.Errorf("%d deliveries answered 502: a deleted destination of the bridge's own must be made again, not refused", res.Statuses[502])
	}
	t.Logf("sent after the deletion and answered 200: %d, all on the destination: %v", r.Acked, len(r.Lost) == 0)
	f.WaitRecovered(t)
}
