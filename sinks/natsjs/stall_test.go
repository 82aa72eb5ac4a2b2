package natsjs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// bigMessage is a delivery whose body is about size bytes of valid JSON.
func bigMessage(id string, size int) sinks.Message {
	msg := sinktest.NewMessage(id)
	msg.Body = fmt.Appendf(nil, `{"event":"job.completed","jobId":"job_big","pad":"%s"}`, bytes.Repeat([]byte("x"), size))
	return msg
}

// stalledSink is a sink connected to a real server through a proxy that can stop
// reading, with a 512 KiB body confirmed before the test stalls it.
func stalledSink(t *testing.T) (*natsjs.Sink, *testkit.Proxy) {
	t.Helper()
	ts := startServer(t)
	proxy := testkit.StartProxy(t, strings.TrimPrefix(ts.URL(), "nats://"))
	n := streamSeq.Add(1)
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: "nats://" + proxy.Addr(), Stream: fmt.Sprintf("STALL%d", n), SubjectPrefix: fmt.Sprintf("stall%d", n)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Publish(t.Context(), bigMessage("before-stall", 512<<10)); err != nil {
		t.Fatal(err)
	}
	return s, proxy
}

// The server stops reading its socket (a frozen process, a network that silently
// drops): once the socket buffers are full nats.go's writer blocks holding the
// connection's lock, and nats.go gives a write a minute. Every publish must still
// return within its deadline with a retryable error, Ready must say so instead of
// waiting, the bridge must answer 503 in time, and the sink recovers on its own
// once the stall clears.
func TestStalledServerPublishesReturnInTime(t *testing.T) {
	s, proxy := stalledSink(t)
	proxy.SetStalled(true)
	const deadline = time.Second
	// Margin for a loaded 2-core machine; without the cut, nats.go alone takes a minute.
	const margin = 1500 * time.Millisecond
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slowest time.Duration
	for i := range 32 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			err := s.Publish(ctx, bigMessage(fmt.Sprintf("stalled-%02d", i), 512<<10))
			took := time.Since(start)
			mu.Lock()
			slowest = max(slowest, took)
			mu.Unlock()
			switch {
			case err == nil:
				t.Errorf("publish %d succeeded although the server read nothing", i)
			case errors.Is(err, sinks.ErrPermanent):
				t.Errorf("publish %d: %v is permanent; a stall is retryable", i, err)
			}
			if took > deadline+margin {
				t.Errorf("publish %d returned after %s with a %s deadline (err %v)", i, took.Round(time.Millisecond), deadline, err)
			}
		})
	}
	wg.Wait()
	t.Logf("32 × 512 KiB publishes, %s deadline, server not reading: slowest returned after %s", deadline, slowest.Round(time.Millisecond))

	// The bridge in front of the same sink, while the stall goes on: fill the socket
	// again, then a webhook is answered 503 within its publish timeout.
	b := sinktest.ServeBridge(t, s, deadline)
	for i := range 8 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 3*deadline)
			defer cancel()
			_ = s.Publish(ctx, bigMessage(fmt.Sprintf("filler-%d", i), 512<<10))
		})
	}
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	status := b.Post("during-stall")
	took := time.Since(start)
	t.Logf("webhook during the stall: %d after %s (publish timeout %s)", status, took.Round(time.Millisecond), deadline)
	if status != 503 || took > deadline+margin {
		t.Errorf("webhook during the stall: %d after %s, want 503 within the publish timeout %s", status, took.Round(time.Millisecond), deadline)
	}
	wg.Wait()

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
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the stall: %v", err)
	}
}

// During a stall Ready says not ready within its own deadline (nats.go's status
// call waits for the blocked write, and then for the reconnect), and Close does not
// wait for the publishes' deadlines, let alone for nats.go's write timeout.
func TestStalledServerReadyAndClose(t *testing.T) {
	s, proxy := stalledSink(t)
	proxy.SetStalled(true)
	const deadline = 5 * time.Second
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			_ = s.Publish(ctx, bigMessage(fmt.Sprintf("close-stalled-%02d", i), 512<<10))
		})
	}
	// The writes are blocked by now, and the publishes' deadlines are still ahead.
	time.Sleep(1500 * time.Millisecond)
	const probe = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), probe)
	start := time.Now()
	err := s.Ready(ctx)
	cancel()
	t.Logf("Ready during the stall: %v after %s", err, time.Since(start).Round(time.Millisecond))
	if err == nil || time.Since(start) > probe+500*time.Millisecond {
		t.Errorf("Ready during the stall = %v after %s, want an error within its %s deadline", err, time.Since(start).Round(time.Millisecond), probe)
	}
	start = time.Now()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatalf("Close still waiting %s after it was called during a stall", time.Since(start).Round(time.Millisecond))
	}
	t.Logf("Close during the stall took %s", time.Since(start).Round(time.Millisecond))
	wg.Wait()
}

// A slow link is not a stalled one: the server reads, only slowly. A readiness probe
// or a publish whose deadline ends while a large write is under way fails alone (or
// not at all); it must not cut the connection under the publishes that share it.
func TestSlowLinkIsNotAStall(t *testing.T) {
	ts := startServer(t)
	proxy := testkit.StartProxy(t, strings.TrimPrefix(ts.URL(), "nats://"))
	n := streamSeq.Add(1)
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: "nats://" + proxy.Addr(), Stream: fmt.Sprintf("SLOW%d", n), SubjectPrefix: fmt.Sprintf("slow%d", n),
		Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
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
	// Short deadlines while the large writes go on: a probe from a kubelet, a small
	// publish at the end of its time.
	time.Sleep(200 * time.Millisecond)
	for i := range 6 {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		_ = s.Ready(ctx)
		_ = s.Publish(ctx, sinktest.NewMessage(fmt.Sprintf("short-%d", i)))
		cancel()
		time.Sleep(150 * time.Millisecond)
	}
	wg.Wait()
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the slow publishes: %v", err)
	}

	// Close waits for publishes under way on a slow link, rather than giving them up.
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
