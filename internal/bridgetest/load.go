package bridgetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
)

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
func (b *Bridge) StartLoad(prefix string, workers, limit int) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.res, l.err = loadgen.Run(ctx, b.Target(), loadgen.Options{
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
