package faults

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
)

// Faults only SQS has, through the whole bridge: throttling, an answer lost after
// SQS stored a batch, bodies SQS cannot carry (sqstest.Env sets the process's AWS
// variables: another reason these cannot run in parallel).

// openSQS opens a sink on queueURL at srv, with edit's changes, closed when t ends.
func openSQS(t *testing.T, srv *sqstest.Server, queueURL string, edit func(*awssqs.Config)) *awssqs.Sink {
	t.Helper()
	cfg := awssqs.Config{QueueURL: queueURL, Endpoint: srv.Endpoint()}
	if edit != nil {
		edit(&cfg)
	}
	s, err := awssqs.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("awssqs.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// deliveryCopies returns how many times each delivery id is on the queue.
func deliveryCopies(ms []types.Message) map[string]int {
	n := map[string]int{}
	for _, m := range sqstest.Received(ms) {
		n[m.ID]++
	}
	return n
}

// throttler sits between the sink and the local server and answers every third
// SendMessageBatch with SQS's throttling error: a fault the local server cannot
// produce on demand. Everything else passes through to the real server.
type throttler struct {
	proxy     *httputil.ReverseProxy
	n         atomic.Int64
	throttled atomic.Int64
}

func (th *throttler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessageBatch") && th.n.Add(1)%3 == 0 {
		_, _ = io.Copy(io.Discard, r.Body)
		th.throttled.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}`))
		return
	}
	th.proxy.ServeHTTP(w, r)
}

// Every third SendMessageBatch throttled under load: the batches are retried
// inside the publish timeout, every delivery is answered 200 and is on the queue.
func TestFaultThrottlingUnderLoad(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	target, _ := url.Parse(srv.Endpoint())
	th := &throttler{proxy: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(th)
	defer front.Close()
	s := openSQS(t, srv, queueURL, func(c *awssqs.Config) { c.Endpoint = front.URL })
	f := bridgetest.Serve(t, s, 3*time.Second)
	load := f.StartLoad("sqs-throttled", 16, 1500)
	time.Sleep(2 * time.Second) // the load's length
	res, acked := load.Stop(t)
	found := sqstest.Received((&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, len(acked)))
	var ids []string
	for _, m := range found {
		ids = append(ids, m.ID)
	}
	r := f.AssertNoLoss(t, res, acked, ids)
	if th.throttled.Load() == 0 {
		t.Fatal("no call was throttled: the fault did not bite")
	}
	if res.Statuses[200] != res.Requests {
		t.Errorf("statuses %v: throttled batches must be retried inside the publish timeout", res.Statuses)
	}
	t.Logf("throttled calls: %d; lost: %d", th.throttled.Load(), len(r.Lost))
}

// The connection cut while a batch is on its way back: SQS has stored every entry,
// the sink never hears so. The outcome is unknown, so the entries are sent again
// (once by the SDK's immediate retry, else by the bridge): no delivery answered 200
// is missing, a FIFO queue holds each exactly once (its deduplication id absorbs
// the second send), and a standard queue at most one copy more per cut.
func TestFaultConnectionCutMidBatch(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	for _, fifo := range []bool{false, true} {
		t.Run(fmt.Sprintf("fifo=%v", fifo), func(t *testing.T) {
			queueURL := srv.CreateQueue(t, fifo, nil)
			proxy := testkit.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", srv.Port))
			s := openSQS(t, srv, queueURL, func(c *awssqs.Config) {
				c.Endpoint = "http://" + proxy.Addr()
				c.Linger = 100 * time.Millisecond
			})
			f := bridgetest.Serve(t, s, 10*time.Second)

			// Slow both ways: a batch reaches SQS after a second and its answer
			// needs another; the cut falls in between, once SQS holds the batch.
			proxy.SetLatency(time.Second)
			const n = 10
			prefix := fmt.Sprintf("cut-%d", time.Now().UnixNano())
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { statuses[i] = f.Post(fmt.Sprintf("%s-%d", prefix, i)) })
			}
			direct := srv.Client(t)
			testkit.Eventually(t, 20*time.Second, func() bool { return stored(t, direct, queueURL) >= n }, "the batch did not reach the queue")
			proxy.Cut()
			proxy.SetLatency(0)
			wg.Wait()

			var acked []string
			for i, st := range statuses {
				if st == 200 {
					acked = append(acked, fmt.Sprintf("%s-%d", prefix, i))
				} else {
					t.Errorf("delivery %d answered %d, want 200 (the bridge retries within its timeout)", i, st)
				}
			}
			copies := deliveryCopies((&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, len(acked)))
			total := 0
			for _, id := range acked {
				total += copies[id]
				switch {
				case copies[id] == 0:
					t.Errorf("%s answered 200 but not on the queue", id)
				case fifo && copies[id] != 1:
					t.Errorf("%s on the FIFO queue %d times, want once", id, copies[id])
				case copies[id] > 2:
					t.Errorf("%s on the queue %d times after one cut, want at most 2", id, copies[id])
				}
			}
			t.Logf("answered 200: %d; messages on the queue: %d", len(acked), total)
			if !fifo && total == len(acked) {
				t.Log("no entry was sent twice: the cut fell before SQS stored the batch")
			}
		})
	}
}

// stored is how many messages the queue holds (read past the proxy).
func stored(t *testing.T, c *sqs.Client, queueURL string) int {
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	return n
}

// answerLoser forwards every send to the real server, which stores it, and then
// drops the connection instead of the answer: the outcome the sink can never know.
type answerLoser struct {
	proxy *httputil.ReverseProxy
	sends atomic.Int64
}

func (a *answerLoser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if !strings.HasSuffix(target, ".SendMessageBatch") && !strings.HasSuffix(target, ".SendMessage") {
		a.proxy.ServeHTTP(w, r)
		return
	}
	a.sends.Add(1)
	rec := httptest.NewRecorder()
	a.proxy.ServeHTTP(rec, r)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// countingSink counts the publish attempts the bridge makes for each delivery.
type countingSink struct {
	sinks.Sink
	mu       sync.Mutex
	attempts map[string]int
}

func (c *countingSink) Publish(ctx context.Context, m sinks.Message) error {
	c.mu.Lock()
	c.attempts[m.ID]++
	c.mu.Unlock()
	return c.Sink.Publish(ctx, m)
}

func (c *countingSink) attemptsOf(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts[id]
}

// Every answer to a send is lost: on a standard queue each copy stays, so a send
// must not be repeated beyond the bridge's own retries (one call per publish
// attempt, no second call from the SDK), and the sender gets 503 in time.
func TestFaultLostAnswersMakeOneCopyPerAttempt(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	target, _ := url.Parse(srv.Endpoint())
	loser := &answerLoser{proxy: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(loser)
	defer front.Close()
	s := openSQS(t, srv, queueURL, func(c *awssqs.Config) { c.Endpoint = front.URL })
	sink := &countingSink{Sink: s, attempts: map[string]int{}}
	f := bridgetest.Serve(t, sink, 2*time.Second)

	start := time.Now()
	if st := f.Post("lost-answers-1"); st != 503 {
		t.Fatalf("POST = %d, want 503: no send was ever confirmed", st)
	}
	if d := time.Since(start); d > 2*time.Second+3*time.Second {
		t.Errorf("answered after %s, want within the publish timeout", d)
	}
	attempts := sink.attemptsOf("lost-answers-1")
	sends := int(loser.sends.Load())
	copies := len((&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, sends))
	t.Logf("publish attempts: %d, send calls: %d, copies on the queue: %d", attempts, sends, copies)
	if sends < 2 {
		t.Fatalf("%d send calls: the bridge did not retry, the test proves nothing", sends)
	}
	// At most one send per attempt (the last attempt may end with the publish
	// timeout before its call leaves), and every send stored once.
	if sends > attempts || copies != sends {
		t.Errorf("%d send calls and %d copies for %d publish attempts: want at most one send per attempt, one copy per send", sends, copies, attempts)
	}
}

// Bodies SQS cannot carry, through the bridge, as a sender sees it: signed POSTs,
// some with such a body, sent at once. The others are answered 200 on their first
// attempt, each is on the queue once, and the bad ones are answered 400.
func TestBadBodiesThroughTheBridge(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	s := openSQS(t, srv, queueURL, func(c *awssqs.Config) { c.Linger = 50 * time.Millisecond })
	sink := &countingSink{Sink: s, attempts: map[string]int{}}
	f := bridgetest.Serve(t, sink, 5*time.Second)

	bad := sqstest.BadBodies()
	var names []string
	for name := range bad {
		names = append(names, name)
	}
	const n = 60
	statuses := make([]int, n)
	var wg sync.WaitGroup
	var fails atomic.Int64
	for i := range n {
		wg.Go(func() {
			body := []byte(fmt.Sprintf(`{"event":"job.completed","jobId":"job_%d","data":{"segments":[]}}`, i))
			if i%10 == 7 {
				body = bad[names[(i/10)%len(names)]]
			}
			target := f.Target()
			target.Body = body
			r, err := loadgen.Send(t.Context(), target, fmt.Sprintf("http-%02d", i))
			if err != nil {
				fails.Add(1)
				return
			}
			statuses[i] = r.Status
		})
	}
	wg.Wait()
	if fails.Load() > 0 {
		t.Fatalf("%d requests got no answer", fails.Load())
	}
	want := 0
	for i, st := range statuses {
		id := fmt.Sprintf("http-%02d", i)
		if i%10 == 7 {
			if st != 400 {
				t.Errorf("%s (a body SQS cannot carry) answered %d, want 400", id, st)
			}
			continue
		}
		want++
		if st != 200 {
			t.Errorf("%s answered %d, want 200", id, st)
		}
		if a := sink.attemptsOf(id); a != 1 {
			t.Errorf("%s took %d publish attempts, want 1: it was sent again", id, a)
		}
	}
	got := deliveryCopies((&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, want))
	for i := range n {
		id := fmt.Sprintf("http-%02d", i)
		if i%10 == 7 {
			if got[id] != 0 {
				t.Errorf("%s refused but on the queue %d times", id, got[id])
			}
		} else if got[id] != 1 {
			t.Errorf("%s on the queue %d times, want exactly once", id, got[id])
		}
	}
}
