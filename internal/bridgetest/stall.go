package bridgetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The stall and slow-link cases: a sink on the broker through a TCP proxy that stops
// reading (a frozen broker, an alarm, a network that silently drops: once the socket
// buffers are full, the client's writes block) or forwards slowly. Most call the sink
// directly, to time each publish against its own deadline; the bridge's answer during
// a stall is checked through the bridge. The sleeps in them pace the senders.

// stallMargin is what a publish may take past its deadline on a loaded 2-core
// machine; without the bounds of internal/stall, the broker clients alone take their
// heartbeat or write timeout (30 s to a minute).
const stallMargin = 1500 * time.Millisecond

// proxied opens a sink on a destination of its own through a proxy, and confirms a
// body of size bytes on it first: the sink has seen the broker take that size, so
// the bodies to come share the connection's channels (RabbitMQ sends a body larger
// than any before alone on a channel of its own).
func proxied(t *testing.T, h Harness, size int) (sinks.Sink, *Dest, *testkit.Proxy) {
	t.Helper()
	b := h.Broker(t, false)
	d := b.Dest(t, false)
	proxy := testkit.StartProxy(t, b.Addr)
	s := open(t, d, proxy.Addr())
	if err := s.Publish(t.Context(), bigMessage("before", size)); err != nil {
		t.Fatal(err)
	}
	return s, d, proxy
}

// publishWithin publishes msg with a deadline and returns how long the publish took
// and its error.
func publishWithin(t *testing.T, s sinks.Sink, msg sinks.Message, deadline time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	start := time.Now()
	err := s.Publish(ctx, msg)
	return time.Since(start), err
}

// publishesRecover waits up to 30 s for a publish to succeed after a stall cleared.
func publishesRecover(t *testing.T, s sinks.Sink, size int) {
	t.Helper()
	var err error
	if !testkit.Poll(30*time.Second, func() bool {
		_, err = publishWithin(t, s, bigMessage(fmt.Sprintf("after-stall-%d", time.Now().UnixNano()), size), 2*time.Second)
		return err == nil
	}) {
		t.Fatalf("no publish succeeded within 30 s after the stall cleared: %v", err)
	}
}

// The broker stops reading with 16 MiB of publishes on their way: every publish
// returns within its deadline with a retryable error, so does one that arrives
// while the stall goes on, a webhook through the bridge is answered 503 within its
// publish timeout, and the sink recovers on its own once the stall clears.
func stalledPublishesReturnInTime(t *testing.T, h Harness) {
	size := h.BigBody
	s, _, proxy := proxied(t, h, size)
	proxy.SetStalled(true)
	const deadline = time.Second
	n := 16 << 20 / size
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for i := range n {
		wg.Go(func() {
			took, err := publishWithin(t, s, bigMessage(fmt.Sprintf("stalled-%02d", i), size), deadline)
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
			switch {
			case err == nil:
				t.Errorf("publish %d succeeded although the broker read nothing", i)
			case errors.Is(err, sinks.ErrPermanent):
				t.Errorf("publish %d: %v is permanent; a stall is retryable", i, err)
			}
			if took > deadline+stallMargin {
				t.Errorf("publish %d returned after %s with a %s deadline (err %v)", i, took.Round(time.Millisecond), deadline, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d × %d KiB publishes, %s deadline, broker not reading: slowest returned after %s", n, size>>10, deadline, slowest.Round(time.Millisecond))

	// A publish arriving while the stall goes on fails in time too.
	if took, err := publishWithin(t, s, bigMessage("during-stall", size), deadline); err == nil || took > deadline+stallMargin {
		t.Errorf("publish during the stall: %v after %s", err, took.Round(time.Millisecond))
	}

	// The bridge in front of the same sink, while the stall goes on: fill the socket
	// again, then a webhook is answered 503 within its publish timeout.
	b := Serve(t, s, deadline)
	for i := range 8 {
		wg.Go(func() { _, _ = publishWithin(t, s, bigMessage(fmt.Sprintf("filler-%d", i), size), 3*deadline) })
	}
	time.Sleep(300 * time.Millisecond) // the fillers' writes under way
	start := time.Now()
	status := b.Post("during-stall")
	took := time.Since(start)
	t.Logf("webhook during the stall: %d after %s (publish timeout %s)", status, took.Round(time.Millisecond), deadline)
	if status != 503 || took > deadline+stallMargin {
		t.Errorf("webhook during the stall: %d after %s, want 503 within the publish timeout %s", status, took.Round(time.Millisecond), deadline)
	}
	wg.Wait()

	proxy.SetStalled(false)
	publishesRecover(t, s, size)
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the stall: %v", err)
	}
}

// During a stall Ready says not ready, each call within its own deadline: at its
// deadline for a sink whose Ready asks the broker, once a write has moved nothing
// for stall.Interval for one that follows its connection. Close does not wait for
// the publishes' deadlines (unless the sink says it lacks that), let alone for the
// client's heartbeat or write timeout.
func stalledReadyAndClose(t *testing.T, h Harness) {
	size := h.BigBody
	s, _, proxy := proxied(t, h, size)
	proxy.SetStalled(true)
	stalled := time.Now()
	const deadline = 3 * stall.Interval
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { _, _ = publishWithin(t, s, bigMessage(fmt.Sprintf("close-stalled-%02d", i), size), deadline) })
	}
	const probe = 500 * time.Millisecond
	notReady := func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), probe)
		defer cancel()
		start := time.Now()
		err := s.Ready(ctx)
		if took := time.Since(start); took > probe+500*time.Millisecond {
			t.Errorf("Ready during the stall = %v after %s, want an answer within its %s deadline", err, took.Round(time.Millisecond), probe)
		}
		return err != nil
	}
	// The writes block within moments; the publishes' deadlines are still ahead.
	seen := stall.Interval + time.Second
	if h.ReadyAsksBroker {
		seen = 1500*time.Millisecond + probe + 500*time.Millisecond
	}
	testkit.Eventually(t, seen, notReady, "Ready = nil during a stall")
	t.Logf("Ready said not ready %s after the stall began", since(stalled))
	if !notReady() {
		t.Error("Ready = nil again while the stall goes on")
	}
	closeWithin := 3 * time.Second
	if h.Lacks.CloseCuts != "" {
		closeWithin += time.Until(stalled.Add(deadline))
		t.Logf("Close may take until the publishes' deadlines: %s", h.Lacks.CloseCuts)
	}
	start := time.Now()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeWithin):
		t.Fatalf("Close still waiting %s after it was called during a stall", since(start))
	}
	t.Logf("Close during the stall took %s", since(start))
	wg.Wait()
}

// A slow link is not a stalled one: the broker reads, only slowly. A readiness probe
// or a publish whose deadline ends while a large write is under way fails alone (or
// not at all); it must not cut the connection under the publishes that share it,
// and Close waits for the publishes under way.
func slowLinkIsNotAStall(t *testing.T, h Harness) {
	size := min(h.BigBody, 512<<10)
	s, _, proxy := proxied(t, h, size)
	// 32 KiB every 5 ms each way: about 6.5 MB/s. 16 MiB to send fill the socket
	// buffers, so writes wait for the link, far longer than the short deadlines below.
	proxy.SetLatency(5 * time.Millisecond)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 1 << 20 / size {
				if _, err := publishWithin(t, s, bigMessage(fmt.Sprintf("slow-%d-%d", w, i), size), 20*time.Second); err != nil {
					t.Errorf("publish %d-%d on a slow but working link: %v", w, i, err)
				}
			}
		})
	}
	// Short deadlines while the large writes go on: a probe from a kubelet, a small
	// publish at the end of its time.
	time.Sleep(200 * time.Millisecond) // the large writes under way
	for i := range 6 {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		_ = s.Ready(ctx)
		_ = s.Publish(ctx, sinktest.NewMessage(fmt.Sprintf("short-%d", i)))
		cancel()
		// A Ready that asks the broker waits behind the writes; one that follows the
		// connection answers at once, and must find it up.
		if !h.ReadyAsksBroker {
			if err := s.Ready(t.Context()); err != nil {
				t.Errorf("Ready on a slow but working link: %v", err)
			}
		}
		time.Sleep(150 * time.Millisecond) // the probes' pace
	}
	wg.Wait()
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the slow publishes: %v", err)
	}

	// Close waits for publishes under way on a slow link, rather than giving them up.
	for i := range 6 {
		wg.Go(func() {
			if _, err := publishWithin(t, s, bigMessage(fmt.Sprintf("closing-%d", i), size), 20*time.Second); err != nil {
				t.Errorf("publish %d under way while the sink closed: %v", i, err)
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // the publishes under way
	s.Close()
	wg.Wait()
}

// On a slow link a write moves, so nothing cuts it, but it may last well past the
// publish's deadline, queued behind the others: the publish must still end at its
// deadline (the bound of docs/contract.md), and the connection stay up.
func slowLinkPublishesEndAtTheirDeadline(t *testing.T, h Harness) {
	size := h.BigBody
	s, _, proxy := proxied(t, h, size)
	// About 1.6 MB/s: 12 MiB of bodies need eight seconds.
	proxy.SetLatency(20 * time.Millisecond)
	const deadline = time.Second
	n := 12 << 20 / size
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for i := range n {
		wg.Go(func() {
			took, err := publishWithin(t, s, bigMessage(fmt.Sprintf("slow-deadline-%02d", i), size), deadline)
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
			if took > deadline+500*time.Millisecond {
				t.Errorf("publish %d returned after %s with a %s deadline (err %v)", i, took.Round(time.Millisecond), deadline, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d × %d KiB publishes on a 1.6 MB/s link, %s deadline: slowest returned after %s", n, size>>10, deadline, slowest.Round(time.Millisecond))
	if _, err := publishWithin(t, s, sinktest.NewMessage("after-slow"), 30*time.Second); err != nil {
		t.Errorf("publish after the slow ones, on the same link: %v", err)
	}
}

// Publishes that end at their deadline leave their writes to finish; on a link far
// slower than the load they would gather without end, each holding its body. Past
// the sink's MaxCalls a publish is refused at once (retryable), Ready says backed
// up, and Close does not wait for the writes left running.
func slowLinkWritesLeftRunningAreBounded(t *testing.T, h Harness) {
	size := min(h.BigBody, 256<<10)
	s, _, proxy := proxied(t, h, size)
	// About 640 KB/s: what the waves below send needs minutes. A publish whose
	// deadline passed before its write began leaves nothing running, so waves go
	// on until the sink refuses one.
	proxy.SetLatency(50 * time.Millisecond)
	const wave = 40
	var refused atomic.Int32
	sent := 0
	for w := 0; refused.Load() == 0; w++ {
		if w == 10 {
			t.Fatalf("%d publishes of %d KiB with 200 ms deadlines on a 640 KB/s link, none refused", sent, size>>10)
		}
		var wg sync.WaitGroup
		for i := range wave {
			wg.Go(func() {
				if refused.Load() > 0 {
					return // the bound is reached: the check below must come before the pile drains
				}
				if _, err := publishWithin(t, s, bigMessage(fmt.Sprintf("pile-%d-%02d", w, i), size), 200*time.Millisecond); errors.Is(err, sinks.ErrBackedUp) {
					refused.Add(1)
				}
			})
		}
		wg.Wait()
		sent += wave
	}
	took, err := publishWithin(t, s, sinktest.NewMessage("behind-the-pile"), 5*time.Second)
	t.Logf("publish after %d with 200 ms deadlines (%d refused): %v after %s", sent, refused.Load(), err, took.Round(time.Millisecond))
	if !errors.Is(err, sinks.ErrBackedUp) || errors.Is(err, sinks.ErrPermanent) || took > 500*time.Millisecond {
		t.Errorf("publish behind the writes left running = %v after %s, want a retryable refusal at once", err, took.Round(time.Millisecond))
	}
	if err := s.Ready(t.Context()); !errors.Is(err, sinks.ErrBackedUp) {
		t.Errorf("Ready with the writes left running = %v, want not ready, backed up", err)
	}
	start := time.Now()
	s.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close with writes left running took %s", took.Round(time.Millisecond))
	}
}
