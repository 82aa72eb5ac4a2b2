package rabbitmq_test

import (
	"bytes"
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
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// bigMessage is a delivery whose body is about size bytes of valid JSON.
func bigMessage(id string, size int) sinks.Message {
	msg := sinktest.NewMessage(id)
	msg.Body = fmt.Appendf(nil, `{"event":"job.completed","jobId":"job_big","pad":"%s"}`, bytes.Repeat([]byte("x"), size))
	return msg
}

// The broker stops reading its socket (a network that silently drops, an alarm):
// once the socket buffers are full the library's writer blocks, holding the channel
// and connection locks, and checks the context only before writing. Every publish
// must still return within its deadline with a retryable error, Close must not
// hang behind them, and a new sink recovers once the stall clears.
func TestStalledBrokerPublishesReturnInTime(t *testing.T) {
	url := rabbittest.SharedURL(t)
	proxy := testkit.StartProxy(t, "127.0.0.1:5672")
	top := newTopology(t, url)
	s := openSink(t, fmt.Sprintf("amqp://guest:guest@%s/", proxy.Addr()), top, "classic")
	defer s.Close()
	// A body of the size to come, confirmed before the stall: the sink has seen the
	// broker take it, so the ones during the stall share the channel pool.
	if err := s.Publish(t.Context(), bigMessage("before-stall", 1<<20)); err != nil {
		t.Fatal(err)
	}

	proxy.SetStalled(true)
	const deadline = time.Second
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for i := range 16 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			err := s.Publish(ctx, bigMessage(fmt.Sprintf("stalled-%02d", i), 1<<20))
			took := time.Since(start)
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
			switch {
			case err == nil:
				t.Errorf("publish %d succeeded although the broker read nothing", i)
			case errors.Is(err, sinks.ErrPermanent):
				t.Errorf("publish %d: %v is permanent; a stall is retryable", i, err)
			}
			// Margin for a loaded 2-core machine; the library alone takes until its
			// heartbeat gives up (30 s and more).
			if took > deadline+1500*time.Millisecond {
				t.Errorf("publish %d returned after %s with a %s deadline (err %v)", i, took.Round(time.Millisecond), deadline, err)
			}
		})
	}
	wg.Wait()
	t.Logf("16 × 1 MiB publishes, %s deadline, broker not reading: slowest returned after %s", deadline, slowest.Round(time.Millisecond))

	// A publish arriving while the stall goes on fails fast too.
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	start := time.Now()
	err := s.Publish(ctx, bigMessage("during-stall", 1<<20))
	cancel()
	if took := time.Since(start); err == nil || took > deadline+1500*time.Millisecond {
		t.Errorf("publish during the stall: %v after %s", err, took.Round(time.Millisecond))
	}

	proxy.SetStalled(false)
	recovered := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := s.Publish(ctx, sinktest.NewMessage(fmt.Sprintf("after-stall-%d", time.Now().UnixNano())))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(recovered) {
			t.Fatalf("no publish succeeded within 30 s after the stall cleared: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// During a stall /readyz turns 503 once a write has moved nothing for the stall
// interval (the write fails and the connection is dropped), and Close does not wait
// for the publishes' deadlines, let alone for the library's heartbeat to give up.
func TestStalledBrokerCloseDoesNotHang(t *testing.T) {
	url := rabbittest.SharedURL(t)
	proxy := testkit.StartProxy(t, "127.0.0.1:5672")
	top := newTopology(t, url)
	s := openSink(t, fmt.Sprintf("amqp://guest:guest@%s/", proxy.Addr()), top, "classic")
	// A body of the size to come, confirmed before the stall: the sink has seen the
	// broker take it, so the ones during the stall share the channel pool.
	if err := s.Publish(t.Context(), bigMessage("before-stall", 1<<20)); err != nil {
		t.Fatal(err)
	}
	proxy.SetStalled(true)
	const deadline = 3 * stall.Interval
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			_ = s.Publish(ctx, bigMessage(fmt.Sprintf("close-stalled-%02d", i), 1<<20))
		})
	}
	// The publishes' deadlines are still ahead when the blocked write fails.
	testkit.Eventually(t, stall.Interval+time.Second, func() bool { return s.Ready(t.Context()) != nil },
		"Ready = nil with writes blocked for over the stall interval (%s)", stall.Interval)
	start := time.Now()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(deadline + 3*time.Second):
		t.Fatalf("Close still waiting %s after it was called during a stall", time.Since(start).Round(time.Millisecond))
	}
	t.Logf("Close during the stall took %s", time.Since(start).Round(time.Millisecond))
	wg.Wait()
}

// A body larger than any the connection has carried goes alone on a channel of its
// own, opened again after the broker closed it for a body over max_message_size.
// Opening waits for the broker's answer, which amqp091-go waits for without a
// context: with the broker stalled, that publish too must end at its deadline, and
// the sink recovers once the stall clears.
func TestStalledBrokerProbeChannelReturnsInTime(t *testing.T) {
	const limit = 65536
	n := rabbittest.StartNode(t, rabbittest.Options{Conf: []string{fmt.Sprintf("max_message_size = %d", limit)}})
	proxy := testkit.StartProxy(t, n.Addr)
	top := newTopology(t, n.URL)
	s := openSink(t, fmt.Sprintf("amqp://guest:guest@%s/", proxy.Addr()), top, "classic")
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("small")); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), bigMessage("over-the-limit", limit+1000)); !errors.Is(err, sinks.ErrTooLarge) {
		t.Fatalf("body over max_message_size = %v, want ErrTooLarge", err)
	}

	proxy.SetStalled(true)
	const deadline = time.Second
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	start := time.Now()
	err := s.Publish(ctx, bigMessage("new-largest", limit/2))
	took := time.Since(start)
	cancel()
	t.Logf("a new largest body during the stall: %v after %s", err, took.Round(time.Millisecond))
	if err == nil || errors.Is(err, sinks.ErrPermanent) || took > deadline+1500*time.Millisecond {
		t.Errorf("a new largest body during the stall: %v after %s, want a retryable error within %s", err, took.Round(time.Millisecond), deadline)
	}

	proxy.SetStalled(false)
	recovered := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := s.Publish(ctx, bigMessage(fmt.Sprintf("after-stall-%d", time.Now().UnixNano()), limit/2))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(recovered) {
			t.Fatalf("no publish succeeded within 30 s after the stall cleared: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// proxiedSink is a sink on the shared broker through a proxy, with its log in the
// test's, that has carried a body of size bytes (so larger bodies are not sent
// alone on the probe channel).
func proxiedSink(t *testing.T, size int) (*rabbitmq.Sink, *testkit.Proxy) {
	t.Helper()
	url := rabbittest.SharedURL(t)
	proxy := testkit.StartProxy(t, "127.0.0.1:5672")
	top := newTopology(t, url)
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{
		URL: fmt.Sprintf("amqp://guest:guest@%s/", proxy.Addr()), Exchange: top.exchange, Queue: top.queue, QueueType: "classic",
		Logger: testkit.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Publish(t.Context(), bigMessage("before-slow", size)); err != nil {
		t.Fatal(err)
	}
	return s, proxy
}

// A slow link is not a stalled one: the broker reads, only slowly. A publish whose
// deadline ends while a large write is under way fails alone (or not at all); it must
// not cut the connection under the publishes that share it, and Close waits for the
// ones under way.
func TestSlowLinkIsNotAStall(t *testing.T) {
	s, proxy := proxiedSink(t, 512<<10)
	// 32 KiB every 5 ms each way: about 6.5 MB/s. 16 MiB to send fill the socket
	// buffers, so writes wait for the link, far longer than the short deadlines below.
	proxy.SetLatency(5 * time.Millisecond)

	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 2 {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				err := s.Publish(ctx, bigMessage(fmt.Sprintf("slow-%d-%d", w, i), 512<<10))
				cancel()
				if err != nil {
					t.Errorf("publish %d-%d on a slow but working link: %v", w, i, err)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	for i := range 6 {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		_ = s.Publish(ctx, sinktest.NewMessage(fmt.Sprintf("short-%d", i)))
		cancel()
		if err := s.Ready(t.Context()); err != nil {
			t.Errorf("Ready on a slow but working link: %v", err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	wg.Wait()

	for i := range 6 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := s.Publish(ctx, bigMessage(fmt.Sprintf("closing-%d", i), 512<<10)); err != nil {
				t.Errorf("publish %d under way while the sink closed: %v", i, err)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	s.Close()
	wg.Wait()
}

// On a slow link a write moves, so nothing cuts it, but it may last well past the
// publish's deadline, queued behind the others: the publish must still end at its
// deadline (the bound of docs/contract.md), and the connection stay up.
func TestSlowLinkPublishesEndAtTheirDeadline(t *testing.T) {
	s, proxy := proxiedSink(t, 1<<20)
	// About 1.6 MB/s: twelve 1 MiB bodies need eight seconds.
	proxy.SetLatency(20 * time.Millisecond)
	const deadline = time.Second
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for i := range 12 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			err := s.Publish(ctx, bigMessage(fmt.Sprintf("slow-deadline-%02d", i), 1<<20))
			took := time.Since(start)
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
			if took > deadline+500*time.Millisecond {
				t.Errorf("publish %d returned after %s with a %s deadline (err %v)", i, took.Round(time.Millisecond), deadline, err)
			}
		})
	}
	wg.Wait()
	t.Logf("12 × 1 MiB publishes on a 1.6 MB/s link, %s deadline: slowest returned after %s", deadline, slowest.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Publish(ctx, sinktest.NewMessage("after-slow")); err != nil {
		t.Errorf("publish after the slow ones, on the same link: %v", err)
	}
}

// Publishes that end at their deadline leave their writes to finish; on a link far
// slower than the load they would gather without end, each holding its body. Past
// the sink's MaxCalls a publish is refused at once (retryable), and Close does not
// wait for the writes left running.
func TestSlowLinkWritesLeftRunningAreBounded(t *testing.T) {
	s, proxy := proxiedSink(t, 256<<10)
	// About 640 KB/s: what the waves below send needs minutes. A publish whose
	// deadline passed before its write began leaves nothing running, so waves go
	// on until the sink refuses one.
	proxy.SetLatency(50 * time.Millisecond)
	const wave = 40
	var refused atomic.Int32
	sent := 0
	for w := 0; refused.Load() == 0; w++ {
		if w == 10 {
			t.Fatalf("%d publishes of 256 KiB with 200 ms deadlines on a 640 KB/s link, none refused", sent)
		}
		var wg sync.WaitGroup
		for i := range wave {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				if refused.Load() > 0 {
					return // the bound is reached: the check below must come before the pile drains
				}
				if err := s.Publish(ctx, bigMessage(fmt.Sprintf("pile-%d-%02d", w, i), 256<<10)); errors.Is(err, sinks.ErrBackedUp) {
					refused.Add(1)
				}
			})
		}
		wg.Wait()
		sent += wave
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Publish(ctx, sinktest.NewMessage("behind-the-pile"))
	took := time.Since(start)
	t.Logf("publish after %d with 200 ms deadlines (%d refused): %v after %s", sent, refused.Load(), err, took.Round(time.Millisecond))
	if !errors.Is(err, sinks.ErrBackedUp) || errors.Is(err, sinks.ErrPermanent) || took > 500*time.Millisecond {
		t.Errorf("publish behind the writes left running = %v after %s, want a retryable refusal at once", err, took.Round(time.Millisecond))
	}
	if err := s.Ready(t.Context()); !errors.Is(err, sinks.ErrBackedUp) {
		t.Errorf("Ready with the writes left running = %v, want not ready, backed up", err)
	}
	start = time.Now()
	s.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close with writes left running took %s", took.Round(time.Millisecond))
	}
}
