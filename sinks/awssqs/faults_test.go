package awssqs_test

import (
	"bytes"
	"encoding/json"
	"errors"
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

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

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

func TestFaultThrottlingUnderLoad(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	target, _ := url.Parse(srv.Endpoint())
	th := &throttler{proxy: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(th)
	defer front.Close()

	s, err := awssqs.New(t.Context(), awssqs.Config{QueueURL: queueURL, Endpoint: front.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := sinktest.ServeBridge(t, s, 3*time.Second)
	load := f.StartLoad("sqs-throttled", 16, 1500)
	time.Sleep(2 * time.Second)
	res, acked := load.Stop(t)
	var found []string
	for _, m := range (&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, len(acked)) {
		found = append(found, aws.ToString(m.MessageAttributes["ce-id"].StringValue))
	}
	r := f.AssertNoLoss(t, res, acked, found)
	if th.throttled.Load() == 0 {
		t.Fatal("no call was throttled: the fault did not bite")
	}
	if res.Statuses[200] != res.Requests {
		t.Errorf("statuses %v: throttled batches must be retried inside the publish timeout", res.Statuses)
	}
	t.Logf("throttled calls: %d; lost: %d", th.throttled.Load(), len(r.Lost))
}

// The SQS endpoint stopped and started mid-load. The local server keeps nothing
// across a restart, so the check covers deliveries sent after it came back (with
// its queue created again); during the outage answers are 503 within the publish
// timeout and /readyz says 503.
func TestFaultEndpointRestartedUnderLoad(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, false, nil)
	s := openSink(t, srv, queueURL, nil)
	defer s.Close()
	f := sinktest.ServeBridge(t, s, time.Second)
	load := f.StartLoad("sqs-restart", 16, 50000)
	time.Sleep(700 * time.Millisecond)
	srv.Stop()
	time.Sleep(500 * time.Millisecond)
	if got := f.Ready(); got != 503 {
		t.Errorf("/readyz with the endpoint down = %d, want 503", got)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the publish timeout
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	srv.CreateNamedQueue(t, queueURL[strings.LastIndex(queueURL, "/")+1:], nil)
	back := time.Now()
	f.WaitRecovered(t)
	time.Sleep(time.Second)
	res, _ := load.Stop(t)
	mustHold := load.AckedSentAfter(back)
	var found []string
	for _, m := range (&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, len(mustHold)) {
		found = append(found, aws.ToString(m.MessageAttributes["ce-id"].StringValue))
	}
	f.AssertNoLoss(t, res, mustHold, found)
	if res.Statuses[503] == 0 {
		t.Error("no request saw 503 while the endpoint was down: the fault did not bite")
	}
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
			s := openSink(t, srv, queueURL, func(c *awssqs.Config) {
				c.Endpoint = "http://" + proxy.Addr()
				c.Linger = 100 * time.Millisecond
			})
			defer s.Close()
			f := sinktest.ServeBridge(t, s, 10*time.Second)

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
			deadline := time.Now().Add(20 * time.Second)
			for stored(t, direct, queueURL) < n {
				if time.Now().After(deadline) {
					t.Fatal("the batch did not reach the queue in 20s")
				}
				time.Sleep(20 * time.Millisecond)
			}
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
			copies := map[string]int{}
			for _, m := range (&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, len(acked)) {
				copies[aws.ToString(m.MessageAttributes["ce-id"].StringValue)]++
			}
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

// contentRefuser answers the first SendMessageBatch of several entries with SQS's whole-call refusal
// for one entry's content, which the local server never sends for a batch whose
// entries are each valid: the sink must send the entries one by one, so that each
// gets its own verdict and none is stored twice.
type contentRefuser struct {
	proxy   *httputil.ReverseProxy
	refused atomic.Int64
}

func (c *contentRefuser) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessageBatch") &&
		bytes.Count(body, []byte(`"Id":`)) >= 2 && c.refused.CompareAndSwap(0, 1) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.sqs#InvalidMessageContents","message":"Invalid characters found."}`))
		return
	}
	c.proxy.ServeHTTP(w, r)
}

func TestWholeBatchRefusedIsSentEntryByEntry(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	target, _ := url.Parse(srv.Endpoint())
	cr := &contentRefuser{proxy: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(cr)
	defer front.Close()
	s := openSink(t, srv, queueURL, func(c *awssqs.Config) {
		c.Endpoint = front.URL
		c.Linger = 100 * time.Millisecond
	})
	defer s.Close()
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() { errs[i] = s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("split-%d", i))) })
	}
	wg.Wait()
	if cr.refused.Load() == 0 {
		t.Fatal("no batch was refused: the fault did not bite")
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("publish %d: %v, want success once sent on its own", i, err)
		}
	}
	got := map[string]int{}
	for _, m := range (&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, 10) {
		got[aws.ToString(m.MessageAttributes["ce-id"].StringValue)]++
	}
	for i := range 10 {
		if id := fmt.Sprintf("split-%d", i); got[id] != 1 {
			t.Errorf("%s on the queue %d times, want once", id, got[id])
		}
	}
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
	s := openSink(t, srv, queueURL, func(c *awssqs.Config) { c.Endpoint = front.URL })
	defer s.Close()
	sink := &countingSink{Sink: s, attempts: map[string]int{}}
	f := sinktest.ServeBridge(t, sink, 2*time.Second)

	start := time.Now()
	if st := f.Post("lost-answers-1"); st != 503 {
		t.Fatalf("POST = %d, want 503: no send was ever confirmed", st)
	}
	if d := time.Since(start); d > 2*time.Second+3*time.Second {
		t.Errorf("answered after %s, want within the publish timeout", d)
	}
	attempts := sink.attempts["lost-answers-1"]
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

// md5Corrupter changes one entry's MD5OfMessageBody in the first answer to a batch
// of several, as if SQS had stored a different body for that entry alone (what
// invalid UTF-8 did before it was refused up front).
type md5Corrupter struct {
	proxy *httputil.ReverseProxy
	done  atomic.Bool
}

func (m *md5Corrupter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SendMessageBatch") || bytes.Count(body, []byte(`"Id":`)) < 2 || m.done.Load() {
		m.proxy.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	m.proxy.ServeHTTP(rec, r)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err == nil {
		if ok, _ := out["Successful"].([]any); len(ok) > 0 {
			ok[0].(map[string]any)["MD5OfMessageBody"] = "00000000000000000000000000000000"
			m.done.Store(true)
		}
	}
	patched, _ := json.Marshal(out)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(patched)))
	w.Header().Del("X-Amz-Crc32")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(patched)
}

func TestMD5MismatchFailsOnlyItsEntry(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	queueURL := srv.CreateQueue(t, false, nil)
	target, _ := url.Parse(srv.Endpoint())
	mc := &md5Corrupter{proxy: httputil.NewSingleHostReverseProxy(target)}
	front := httptest.NewServer(mc)
	defer front.Close()
	s := openSink(t, srv, queueURL, func(c *awssqs.Config) {
		c.Endpoint = front.URL
		c.Linger = 100 * time.Millisecond
	})
	defer s.Close()
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range 10 {
		wg.Go(func() { errs[i] = s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("md5-%d", i))) })
	}
	wg.Wait()
	if !mc.done.Load() {
		t.Fatal("no answer was changed: the fault did not bite")
	}
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if errors.Is(err, sinks.ErrPermanent) || !strings.Contains(err.Error(), "different body") {
			t.Errorf("publish %d: %v, want a retryable error saying SQS stored a different body", i, err)
		}
	}
	if failed != 1 {
		t.Errorf("%d publishes failed, want only the one whose MD5 differed: %v", failed, errs)
	}
}
