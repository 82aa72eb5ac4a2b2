package sinktest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// The fault tests of every sink share this: a real bridge over real HTTP in front of
// the sink, a load of unique signed deliveries, and a check of every delivery
// answered 200 against what the broker holds.

const faultSecret = "whsec-fault-test-0123456789"

// Bridged is a bridge served over loopback HTTP in front of a sink.
type Bridged struct {
	URL            string
	PublishTimeout time.Duration
}

// ServeBridge starts a bridge in front of sink until t ends.
func ServeBridge(t testing.TB, sink sinks.Sink, publishTimeout time.Duration) *Bridged {
	t.Helper()
	b, err := bridge.New(bridge.Config{
		Secrets: []string{faultSecret}, PublishTimeout: publishTimeout, DedupTTL: time.Minute,
		CETypePrefix: bridge.DefaultCETypePrefix, Sink: sink, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return &Bridged{URL: srv.URL, PublishTimeout: publishTimeout}
}

// Post sends one delivery and returns the status (0 when there was no answer).
func (b *Bridged) Post(id string) int {
	r, err := loadgen.Send(context.Background(), b.target(), id)
	if err != nil {
		return 0
	}
	return r.Status
}

// Target is what a load generator needs to send signed deliveries to this bridge,
// for tests that watch every answer themselves.
func (b *Bridged) Target() loadgen.Target { return b.target() }

func (b *Bridged) target() loadgen.Target {
	return loadgen.Target{URL: b.URL + "/webhooks", Secret: faultSecret,
		Body: []byte(`{"event":"job.completed","jobId":"job_fault","data":{"segments":[]}}`)}
}

// Ready returns the status of /readyz.
func (b *Bridged) Ready() int {
	resp, err := http.Get(b.URL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Load is a running load; Stop ends it and returns what it saw.
type Load struct {
	cancel context.CancelFunc
	done   chan struct{}
	res    loadgen.Result
	err    error
	mu     sync.Mutex
	acked  []string
	sent   []time.Time // when each acked request was sent
	failed []Failure
}

// Failure is a request answered with another status than 200.
type Failure struct {
	ID     string
	Status int
	Sent   time.Time
}

// StartLoad sends unique deliveries from workers connections until Stop, at most
// limit requests, so that the test always ends.
func (b *Bridged) StartLoad(prefix string, workers, limit int) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.res, l.err = loadgen.Run(ctx, b.target(), loadgen.Options{
			Concurrency: workers, Requests: limit, IDPrefix: fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()),
			Timeout: b.PublishTimeout + 20*time.Second,
			OnReply: func(id string, status int, sent time.Time) {
				l.mu.Lock()
				if status == 200 {
					l.acked = append(l.acked, id)
					l.sent = append(l.sent, sent)
				} else {
					l.failed = append(l.failed, Failure{ID: id, Status: status, Sent: sent})
				}
				l.mu.Unlock()
			},
		})
	}()
	return l
}

// Stop ends the load and returns the report and the ids answered 200.
func (l *Load) Stop(t testing.TB) (loadgen.Result, []string) {
	t.Helper()
	l.cancel()
	<-l.done
	if l.err != nil {
		t.Fatalf("load: %v", l.err)
	}
	return l.res, l.acked
}

// Failures returns the requests answered with another status than 200, to check
// that they fall inside a fault's window. Call it after Stop.
func (l *Load) Failures() []Failure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Failure(nil), l.failed...)
}

// AckedSentAfter returns the ids answered 200 whose request was sent after t: what a
// broker must hold when everything it held before t was destroyed on purpose (a
// queue deleted, an emulator restarted). Call it after Stop.
func (l *Load) AckedSentAfter(t time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i, id := range l.acked {
		if l.sent[i].After(t) {
			out = append(out, id)
		}
	}
	return out
}

// AssertNoLoss fails t when any delivery answered 200 is missing, when the load did
// not run, or when an answer took longer than the publish timeout plus margin.
func (b *Bridged) AssertNoLoss(t testing.TB, res loadgen.Result, acked, found []string) loadgen.LossReport {
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

// WaitRecovered waits for /readyz 200 and proves a fresh delivery goes through.
func (b *Bridged) WaitRecovered(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for b.Ready() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not return to 200 within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status := b.Post(fmt.Sprintf("after-%d", time.Now().UnixNano())); status != 200 {
		t.Fatalf("a delivery after recovery got %d", status)
	}
}
