package awssqs_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

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
