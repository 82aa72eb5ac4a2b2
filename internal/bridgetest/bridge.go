// Package bridgetest runs the whole bridge (bridge.New, served over loopback HTTP) in
// front of a sink, for the tests and benchmarks that need the bridge and a broker
// together; and it holds the fault driver (Run) that every sink passes: broker and
// network faults under a load of signed deliveries, stalled and slow links, and
// replicas of the bridge on one broker. sinks/sinktest is its counterpart for a sink
// alone.
//
// A sink wires the driver in test/faults by describing its broker (Harness); the driver
// leaves out, with the reason in the log, the cases the sink says it lacks.
package bridgetest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Secret is the webhook secret the bridges here verify and the loads sign with.
const Secret = "whsec-fault-test-0123456789"

// Body is the delivery the loads send (each with its own delivery id).
var Body = []byte(`{"event":"job.completed","jobId":"job_fault","data":{"segments":[]}}`)

// Bridge is a bridge served over loopback HTTP in front of a sink.
type Bridge struct {
	URL            string
	PublishTimeout time.Duration
}

// Serve starts a bridge in front of sink until t ends. It does not close sink.
func Serve(t testing.TB, sink sinks.Sink, publishTimeout time.Duration) *Bridge {
	t.Helper()
	b, err := bridge.New(bridge.Config{
		Secrets: []string{Secret}, PublishTimeout: publishTimeout, DedupTTL: time.Minute,
		CETypePrefix: bridge.DefaultCETypePrefix, Sink: sink, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return &Bridge{URL: srv.URL, PublishTimeout: publishTimeout}
}

// Post sends one delivery and returns the status (0 when there was no answer).
func (b *Bridge) Post(id string) int {
	r, err := loadgen.Send(context.Background(), b.Target(), id)
	if err != nil {
		return 0
	}
	return r.Status
}

// Target is what a load generator needs to send signed deliveries to this bridge,
// for tests that watch every answer themselves.
func (b *Bridge) Target() loadgen.Target {
	return loadgen.Target{URL: b.URL + "/webhooks", Secret: Secret, Body: Body}
}

// Ready returns the status of /readyz (0 when there was no answer).
func (b *Bridge) Ready() int {
	resp, err := http.Get(b.URL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// AssertNoLoss fails t when any delivery answered 200 is missing from found (the
// delivery ids on the broker), when nothing was answered 200 (the load did not
// run), or when an answer took longer than the publish timeout plus 3 s as the
// client measured it.
func (b *Bridge) AssertNoLoss(t testing.TB, res loadgen.Result, acked, found []string) loadgen.LossReport {
	t.Helper()
	r := loadgen.Compare(acked, found)
	t.Logf("answered 200: %d, found on the broker: %d distinct, lost: %d, duplicates: %d, statuses: %v, no answer: %d, slowest: %s",
		r.Acked, r.Found, len(r.Lost), r.Duplicates, res.Statuses, res.Errors, res.Percentile(1))
	if len(r.Lost) > 0 {
		t.Errorf("%d deliveries answered 200 are not on the broker, e.g. %v", len(r.Lost), r.Lost[:min(5, len(r.Lost))])
	}
	if r.Acked == 0 {
		t.Error("no request was answered 200: the load did not run")
	}
	if margin := 3 * time.Second; res.Percentile(1) > b.PublishTimeout+margin {
		t.Errorf("slowest answer %s: over the publish timeout %s plus %s", res.Percentile(1), b.PublishTimeout, margin)
	}
	return r
}

// WaitRecovered waits up to 30 s for /readyz 200 and proves a fresh delivery goes
// through.
func (b *Bridge) WaitRecovered(t testing.TB) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() bool { return b.Ready() == 200 }, "/readyz did not return to 200")
	if status := b.Post(fmt.Sprintf("after-%d", time.Now().UnixNano())); status != 200 {
		t.Fatalf("a delivery after recovery got %d", status)
	}
}
