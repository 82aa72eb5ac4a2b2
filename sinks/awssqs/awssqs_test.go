package awssqs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The tests here do not run in parallel: sqstest.Env sets the process's AWS
// variables (t.Setenv), which the SDK reads, and awsconfig_test.go varies them.
func TestMain(m *testing.M) {
	code := m.Run()
	sqstest.StopShared()
	os.Exit(code)
}

func openSink(t testing.TB, srv *sqstest.Server, queueURL string, edit func(*awssqs.Config)) *awssqs.Sink {
	t.Helper()
	cfg := awssqs.Config{QueueURL: queueURL, Endpoint: srv.Endpoint()}
	if edit != nil {
		edit(&cfg)
	}
	s, err := awssqs.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("awssqs.New: %v", err)
	}
	return s
}

func harness(fifo bool) sinktest.Harness {
	return sinktest.Harness{
		Open: func(t *testing.T) sinktest.Env {
			sqstest.Env(t)
			srv := sqstest.Shared(t)
			url := srv.CreateQueue(t, fifo, nil)
			r := &sqstest.Reader{Server: srv, URL: url}
			return sinktest.Env{
				Sink: openSink(t, srv, url, nil),
				Read: func(t *testing.T, n int) []sinktest.Received { return sqstest.Received(r.Read(t, n)) },
			}
		},
		Dedup: fifo,
		// The local server keeps nothing across a restart, so durability across one
		// cannot be shown; cmd/bridge's TestSQSEndpointAwayAndBack covers reconnecting.
		NoRestart: "fauxqs keeps no state across a restart",
	}
}

func TestConformanceStandard(t *testing.T) { sinktest.Run(t, harness(false)) }

func TestConformanceFIFO(t *testing.T) { sinktest.Run(t, harness(true)) }

func TestMessageFormat(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	for _, fifo := range []bool{false, true} {
		t.Run(fmt.Sprintf("fifo=%v", fifo), func(t *testing.T) {
			url := srv.CreateQueue(t, fifo, nil)
			s := openSink(t, srv, url, nil)
			defer s.Close()
			if s.FIFO() != fifo {
				t.Fatalf("FIFO() = %v", s.FIFO())
			}
			withJob := sinktest.NewMessage("fmt-1")
			noJob := sinktest.NewMessage("fmt-2")
			noJob.JobID = ""
			noJob.Headers = noJob.Headers[:len(noJob.Headers)-1] // no audiospliter-job-id
			for _, m := range []sinks.Message{withJob, noJob} {
				if err := s.Publish(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			got := (&sqstest.Reader{Server: srv, URL: url}).Read(t, 2)
			if len(got) != 2 {
				t.Fatalf("read %d messages", len(got))
			}
			byID := map[string]types.Message{}
			for i, r := range sqstest.Received(got) {
				byID[r.ID] = got[i]
			}
			for _, m := range []sinks.Message{withJob, noJob} {
				msg, ok := byID[m.ID]
				if !ok {
					t.Fatalf("%s not on the queue", m.ID)
				}
				sinktest.AssertCarries(t, sqstest.Received([]types.Message{msg})[0], m)
				if n := len(msg.MessageAttributes); n != len(m.Headers) {
					t.Errorf("%s: %d attributes, want %d", m.ID, n, len(m.Headers))
				}
				if !fifo {
					continue
				}
				wantGroup := m.JobID
				if wantGroup == "" {
					wantGroup = m.Event
				}
				if g := msg.Attributes["MessageGroupId"]; g != wantGroup {
					t.Errorf("%s: MessageGroupId = %q, want %q", m.ID, g, wantGroup)
				}
				if d := msg.Attributes["MessageDeduplicationId"]; d != m.ID {
					t.Errorf("%s: MessageDeduplicationId = %q, want %q", m.ID, d, m.ID)
				}
			}
		})
	}
}

// countingTransport counts the API calls that reach the server.
type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultClient.Do(r)
}

func TestConcurrentPublishesAreBatched(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, false, nil)
	counter := &countingTransport{}
	s := openSink(t, srv, url, func(c *awssqs.Config) { c.HTTPClient = counter })
	defer s.Close()
	start := counter.n.Load()
	const n = 64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("batch-%02d", i))); err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	calls := counter.n.Load() - start
	t.Logf("%d publishes in %d API calls", n, calls)
	if calls >= n {
		t.Errorf("%d API calls for %d concurrent publishes, want fewer", calls, n)
	}
	got := sqstest.Received((&sqstest.Reader{Server: srv, URL: url}).Read(t, n))
	ids := map[string]bool{}
	for _, r := range got {
		ids[r.ID] = true
	}
	if len(ids) != n {
		t.Fatalf("%d distinct messages on the queue, want %d", len(ids), n)
	}
}

// One bad entry in a batch fails only its own publish: the others in the same
// batch succeed.
func TestOneFailedEntryFailsOnlyItsOwnPublish(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, false, nil)
	s := openSink(t, srv, url, func(c *awssqs.Config) { c.Linger = 200 * 1e6 }) // long enough to share a batch
	defer s.Close()
	bad := sinktest.NewMessage("bad-entry")
	// U+FFFF is valid JSON and UTF-8 but not a character SQS accepts in a body.
	bad.Body = []byte("{\"event\":\"job.completed\",\"x\":\"\uffff\"}")
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() {
			m := sinktest.NewMessage(fmt.Sprintf("good-%d", i))
			if i == 5 {
				m = bad
			}
			errs[i] = s.Publish(t.Context(), m)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			t.Logf("bad entry: %v", err)
			if !errors.Is(err, sinks.ErrInvalid) {
				t.Errorf("bad entry: %v, want ErrInvalid (permanent)", err)
			}
		} else if err != nil {
			t.Errorf("good entry %d failed with the bad one: %v", i, err)
		}
	}
}

func TestTooLargeIsRefusedBeforeSending(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, false, map[string]string{"MaximumMessageSize": "1024"})
	counter := &countingTransport{}
	s := openSink(t, srv, url, func(c *awssqs.Config) { c.HTTPClient = counter })
	defer s.Close()
	if s.MaxMessageSize() != 1024 {
		t.Fatalf("MaxMessageSize = %d, want the queue's 1024", s.MaxMessageSize())
	}
	before := counter.n.Load()
	m := sinktest.NewMessage("big")
	m.Body = make([]byte, 1000) // fits alone, not with its attributes
	for i := range m.Body {
		m.Body[i] = 'a'
	}
	if err := s.Publish(t.Context(), m); !errors.Is(err, sinks.ErrTooLarge) {
		t.Fatalf("Publish = %v, want ErrTooLarge", err)
	}
	if counter.n.Load() != before {
		t.Error("an oversized message was sent anyway")
	}
}

func TestStartupErrorsNameTheField(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	cases := []struct {
		name  string
		cfg   awssqs.Config
		field string
	}{
		{"no queue url", awssqs.Config{Endpoint: srv.Endpoint()}, "QueueURL"},
		{"queue does not exist", awssqs.Config{Endpoint: srv.Endpoint(), QueueURL: srv.Endpoint() + "/000000000000/no-such-queue"}, "QueueURL"},
		{"endpoint down", awssqs.Config{Endpoint: "http://127.0.0.1:1", QueueURL: "http://127.0.0.1:1/000000000000/q"}, "Endpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := awssqs.New(context.Background(), c.cfg)
			var ce *sinks.ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field {
				t.Fatalf("New = %v, want a ConfigError on %s", err, c.field)
			}
		})
	}
}
