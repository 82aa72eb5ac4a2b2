package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// askedSink is a sink whose Ready answers what the test says, counting the calls.
type askedSink struct {
	*sinktest.Memory
	calls  atomic.Int64
	mu     sync.Mutex
	answer error
}

func (s *askedSink) Ready(context.Context) error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answer
}

func (s *askedSink) set(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = err
}

// What a broker's error may tell: an address, an account, a role, a queue.
const brokerDetail = "dial tcp 10.0.7.12:5672: AccessDenied for arn:aws:iam::123456789012:role/bridge on queue billing-events"

// /readyz is anonymous: a flood of probes (and the ready gauge's scrapes) asks the
// sink at most once a second, shares that one answer, logs one line per change of
// state, and answers a fixed body that says the reason code and nothing of the
// broker's error. The clock is fake: the second passes when the test says so.
func TestReadyzFloodAsksOncePerSecond(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sink := &askedSink{Memory: sinktest.NewMemory()}
	sink.set(fmt.Errorf("rabbitmq: %w: %s", sinks.ErrUnavailable, brokerDetail))
	logs := &testkit.LockedBuffer{}
	b, err := bridge.New(bridge.Config{
		Secrets: []string{secret}, Sink: sink, Clock: clk,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// flood sends n probes at once, half through /readyz and half as the gauge asks,
	// and returns the distinct answers of /readyz.
	flood := func(n int) map[string]int {
		var mu sync.Mutex
		answers := map[string]int{}
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if i%2 == 1 {
					b.Ready(context.Background())
					return
				}
				rec := httptest.NewRecorder()
				b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
				mu.Lock()
				answers[fmt.Sprintf("%d %s", rec.Code, rec.Body)]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return answers
	}
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if strings.Contains(l, "ready") {
				out = append(out, l)
			}
		}
		return out
	}
	step := func(name string, advance time.Duration, wantCalls int64, wantAnswer string, wantLines int) {
		t.Helper()
		clk.Advance(advance)
		got := flood(400)
		if calls := sink.calls.Load(); calls != wantCalls {
			t.Errorf("%s: the sink was asked %d times in all, want %d", name, calls, wantCalls)
		}
		if len(got) != 1 || got[wantAnswer] != 200 {
			t.Errorf("%s: answers %v, want 200 × %q", name, got, wantAnswer)
		}
		if l := lines(); len(l) != wantLines {
			t.Errorf("%s: %d log lines about readiness, want %d:\n%s", name, len(l), wantLines, strings.Join(l, "\n"))
		}
	}
	unavailable := `503 {"ready":false,"reason":"broker_unavailable"}`
	step("first flood", 0, 1, unavailable, 1)
	if l := lines(); len(l) == 1 && (!strings.Contains(l[0], `"reason":"broker_unavailable"`) || !strings.Contains(l[0], "123456789012")) {
		t.Errorf("the log line should carry the reason and the broker's detail: %s", l[0])
	}
	step("within the second", ReadyEvery-time.Millisecond, 1, unavailable, 1)
	step("a second later, the same state", time.Millisecond, 2, unavailable, 1)

	sink.set(fmt.Errorf("rabbitmq: %w: 64 writes past their deadlines on 10.0.7.12", sinks.ErrBackedUp))
	step("backed up", ReadyEvery, 3, `503 {"ready":false,"reason":"backed_up"}`, 2)
	sink.set(fmt.Errorf("natsjs: %w: %s", sinks.ErrRefused, brokerDetail))
	step("refused", ReadyEvery, 4, `503 {"ready":false,"reason":"broker_refused"}`, 3)
	sink.set(nil)
	step("ready again", ReadyEvery, 5, `200 {"status":"ready"}`, 4)
	step("still ready", 10*ReadyEvery, 6, `200 {"status":"ready"}`, 4)
	sink.set(fmt.Errorf("natsjs: %w", sinks.ErrClosed))
	step("closed", ReadyEvery, 7, `503 {"ready":false,"reason":"shutting_down"}`, 5)

	if l := lines(); len(l) == 5 && !strings.Contains(l[3], "ready again") {
		t.Errorf("the return is not logged: %s", l[3])
	}
}

const ReadyEvery = bridge.ReadyEvery

// Probes that arrive while the sink is being asked wait for that answer instead of
// asking again, and a probe that hangs up does not cut the question short for them.
func TestReadyzProbesShareOneQuestion(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	release := make(chan struct{})
	sink := &slowReady{Memory: sinktest.NewMemory(), release: release, asked: make(chan struct{}, 1)}
	b, err := bridge.New(bridge.Config{Secrets: []string{secret}, Sink: sink, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	first, hangUp := context.WithCancel(context.Background())
	firstDone := make(chan string, 1)
	go func() { firstDone <- b.Ready(first) }()
	<-sink.asked
	var wg sync.WaitGroup
	answers := make([]string, 50)
	for i := range answers {
		wg.Go(func() { answers[i] = b.Ready(context.Background()) })
	}
	hangUp()
	close(release)
	if a := <-firstDone; a != bridge.ReadyBackedUp {
		t.Errorf("the probe that hung up: %q", a)
	}
	wg.Wait()
	if n := sink.calls.Load(); n != 1 {
		t.Errorf("the sink was asked %d times, want once", n)
	}
	for i, a := range answers {
		if a != bridge.ReadyBackedUp {
			t.Errorf("probe %d: %q, want the one answer, %q", i, a, bridge.ReadyBackedUp)
		}
	}
}

// slowReady answers Ready with ErrBackedUp once released, or with its context's
// error if that ends first.
type slowReady struct {
	*sinktest.Memory
	calls   atomic.Int64
	asked   chan struct{}
	release chan struct{}
}

func (s *slowReady) Ready(ctx context.Context) error {
	s.calls.Add(1)
	s.asked <- struct{}{}
	select {
	case <-s.release:
		return sinks.ErrBackedUp
	case <-ctx.Done():
		return ctx.Err()
	}
}
