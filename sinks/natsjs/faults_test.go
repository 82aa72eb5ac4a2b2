package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/bridge/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Fault tests: a bridge under a load of signed deliveries in front of JetStream
// while the server, the stream or the network fails. Each checks that every
// delivery answered 200 is in the stream, that no answer took longer than the
// publish timeout plus a margin, and that the bridge recovered without a restart.

type faultEnv struct {
	*sinktest.Bridged
	ts     *testServer
	stream string
}

func newFaultEnv(t *testing.T, ts *testServer, sinkURL string, timeout time.Duration) *faultEnv {
	t.Helper()
	n := streamSeq.Add(1)
	cfg := natsjs.Config{URL: sinkURL, Stream: fmt.Sprintf("FAULT%d", n), SubjectPrefix: fmt.Sprintf("fault%d", n)}
	return newFaultEnvWith(t, ts, cfg, timeout)
}

// newFaultEnvWith is newFaultEnv with the connection settings of cfg.
func newFaultEnvWith(t *testing.T, ts *testServer, cfg natsjs.Config, timeout time.Duration) *faultEnv {
	t.Helper()
	s, err := natsjs.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &faultEnv{Bridged: sinktest.ServeBridge(t, s, timeout), ts: ts, stream: cfg.Stream}
}

func (f *faultEnv) check(t *testing.T, load *sinktest.Load) loadgen.LossReport {
	t.Helper()
	res, acked := load.Stop(t)
	var found []string
	for _, m := range readStream(t, f.ts.URL(), f.stream, 0, f.ts.ClientOptions()...) {
		found = append(found, m.ID)
	}
	return f.AssertNoLoss(t, res, acked, found)
}

func TestFaultServerRestarted(t *testing.T) {
	ts := startServer(t)
	f := newFaultEnv(t, ts, ts.URL(), 2*time.Second)
	load := f.StartLoad("nats-restart", 16, 50000)
	time.Sleep(700 * time.Millisecond)
	ts.Stop()
	time.Sleep(300 * time.Millisecond)
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the server down = %d, want 503", got)
	}
	time.Sleep(700 * time.Millisecond)
	if err := ts.Start(); err != nil {
		t.Fatal(err)
	}
	f.WaitRecovered(t)
	time.Sleep(500 * time.Millisecond)
	f.check(t, load)
}

func TestFaultStreamDeleted(t *testing.T) {
	ts := startServer(t)
	f := newFaultEnv(t, ts, ts.URL(), 3*time.Second)
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	load := f.StartLoad("nats-deleted", 16, 50000)
	time.Sleep(700 * time.Millisecond)
	// Deleting the stream deletes what it held: only deliveries answered after
	// this point can be checked, so the load restarts.
	res, _ := load.Stop(t)
	if err := js.DeleteStream(t.Context(), f.stream); err != nil {
		t.Fatal(err)
	}
	load = f.StartLoad("nats-after-delete", 16, 50000)
	time.Sleep(1500 * time.Millisecond)
	r := f.check(t, load)
	if r.Acked == 0 {
		t.Fatalf("nothing confirmed after the stream was deleted (before: %v)", res.Statuses)
	}
	f.WaitRecovered(t)
}

func TestFaultNetworkCutAndDown(t *testing.T) {
	ts := startServer(t)
	proxy := sinktest.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", ts.Port))
	f := newFaultEnv(t, ts, "nats://"+proxy.Addr(), 2*time.Second)
	load := f.StartLoad("nats-netcut", 16, 50000)
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		proxy.Cut()
	}
	time.Sleep(500 * time.Millisecond)
	proxy.SetDown(true)
	time.Sleep(700 * time.Millisecond)
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the server unreachable = %d, want 503", got)
	}
	time.Sleep(500 * time.Millisecond)
	proxy.SetDown(false)
	f.WaitRecovered(t)
	f.check(t, load)
}

// With the server away a publish fails at once (no reconnect buffer), retryable,
// and its error says what is wrong in one line, not "outbound buffer limit exceeded"
// alone.
func TestPublishWhileServerDownSaysSo(t *testing.T) {
	ts := startServer(t)
	env := openEnv(t, ts)
	defer env.Sink.Close()
	ts.Stop()
	sink := env.Sink.(*natsjs.Sink)
	deadline := time.Now().Add(5 * time.Second)
	for sink.Ready(t.Context()) == nil {
		if time.Now().After(deadline) {
			t.Fatal("still ready with the server stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := sink.Publish(ctx, sinktest.NewMessage("while-down"))
	if err == nil || errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("Publish with the server down = %v, want a retryable error", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "natsjs: publish: no NATS server reachable") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line that starts with the cause", msg)
	}
	if msg := err.Error(); strings.Contains(msg, "outbound buffer") {
		t.Errorf("error %q: an outage is not a full buffer", msg)
	}
	// The bridge answers it broker_unavailable, and readiness says so too.
	if !errors.Is(err, sinks.ErrUnavailable) {
		t.Errorf("Publish with the server down = %v, want ErrUnavailable", err)
	}
	if err := sink.Ready(t.Context()); !errors.Is(err, sinks.ErrUnavailable) {
		t.Errorf("Ready with the server down = %v, want ErrUnavailable", err)
	}
}
