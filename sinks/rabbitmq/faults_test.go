package rabbitmq_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

const faultSecret = "whsec-fault-test-0123456789"

// bridgeOn serves a bridge publishing to the given broker, as the binary would.
type bridgeOn struct {
	srv  *httptest.Server
	sink *rabbitmq.Sink
	top  topology
	url  string
}

func newBridgeOn(t *testing.T, url string, timeout time.Duration) *bridgeOn {
	t.Helper()
	top := newTopology(t, url)
	s := openSink(t, url, top, "classic")
	b, err := bridge.New(bridge.Config{
		Secrets:        []string{faultSecret},
		PublishTimeout: timeout,
		DedupTTL:       time.Minute,
		CETypePrefix:   bridge.DefaultCETypePrefix,
		Sink:           s,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return &bridgeOn{srv: srv, sink: s, top: top, url: url}
}

func (b *bridgeOn) post(client *http.Client, id string) (int, error) {
	body := []byte(fmt.Sprintf(`{"event":"job.completed","jobId":"job_%s","data":{"segments":[]}}`, id))
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/webhooks", bytes.NewReader(body))
	req.Header.Set(bridge.SignatureHeader, bridge.Sign(faultSecret, body))
	req.Header.Set(bridge.DeliveryHeader, id)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (b *bridgeOn) ready(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(b.srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// loadResult is what a load run saw: the ids answered 200, and every status.
type loadResult struct {
	acked    []string
	statuses map[int]int
	slowest  time.Duration
}

// runLoad posts unique delivery ids from workers until stop is closed (or max
// requests), bounded so the test always ends.
func (b *bridgeOn) runLoad(prefix string, workers, limit int, stop <-chan struct{}) loadResult {
	var (
		mu  sync.Mutex
		res = loadResult{statuses: map[int]int{}}
		n   atomic.Int64
		wg  sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if n.Add(1) > int64(limit) {
					return
				}
				id := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				start := time.Now()
				status, err := b.post(client, id)
				took := time.Since(start)
				mu.Lock()
				if err != nil {
					status = -1
				}
				res.statuses[status]++
				if status == 200 {
					res.acked = append(res.acked, id)
				}
				res.slowest = max(res.slowest, took)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res
}

// assertNoLoss drains the queue and checks every id answered 200 is on it.
func (b *bridgeOn) assertNoLoss(t *testing.T, res loadResult) {
	t.Helper()
	got := (&queueReader{url: b.url, queue: b.top.queue}).read(t, len(res.acked))
	onQueue := map[string]int{}
	for _, d := range got {
		onQueue[d.MessageId]++
	}
	lost, dups := 0, 0
	for _, id := range res.acked {
		if onQueue[id] == 0 {
			lost++
			if lost <= 5 {
				t.Errorf("delivery %s was answered 200 but is not on the queue", id)
			}
		}
	}
	for _, c := range onQueue {
		if c > 1 {
			dups += c - 1
		}
	}
	t.Logf("answered 200: %d, on the queue: %d distinct, lost: %d, duplicates: %d, statuses: %v, slowest answer: %s",
		len(res.acked), len(onQueue), lost, dups, res.statuses, res.slowest)
	if len(res.acked) == 0 {
		t.Fatal("no request succeeded: the load did not run")
	}
}

// waitRecovered waits for /readyz and then proves a fresh webhook goes through.
func (b *bridgeOn) waitRecovered(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for b.ready(t) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not return to 200 within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, err := b.post(http.DefaultClient, fmt.Sprintf("after-%d", time.Now().UnixNano())); err != nil || status != 200 {
		t.Fatalf("webhook after recovery: %d %v", status, err)
	}
}

func TestFaultConnectionsClosedByBroker(t *testing.T) {
	n := rabbittest.PrivateNode(t)
	b := newBridgeOn(t, n.URL, 5*time.Second)
	stop := make(chan struct{})
	done := make(chan loadResult)
	go func() { done <- b.runLoad("closed", 16, 20000, stop) }()
	for range 3 {
		time.Sleep(700 * time.Millisecond)
		n.Ctl(t, "close_all_connections", "fault test")
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	res := <-done
	b.assertNoLoss(t, res)
	if res.slowest > 5*time.Second+2*time.Second {
		t.Errorf("slowest answer %s: over the publish timeout plus margin", res.slowest)
	}
	b.waitRecovered(t)
}

func TestFaultNodeStoppedAndStarted(t *testing.T) {
	n := rabbittest.PrivateNode(t)
	b := newBridgeOn(t, n.URL, 2*time.Second)
	stop := make(chan struct{})
	done := make(chan loadResult)
	go func() { done <- b.runLoad("restart", 16, 20000, stop) }()
	time.Sleep(700 * time.Millisecond)
	n.Ctl(t, "stop_app")
	time.Sleep(300 * time.Millisecond)
	if got := b.ready(t); got != 503 {
		t.Errorf("/readyz with the broker stopped = %d, want 503", got)
	}
	time.Sleep(time.Second)
	n.Ctl(t, "start_app")
	if err := n.WaitAMQP(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	close(stop)
	res := <-done
	b.assertNoLoss(t, res)
	if res.statuses[503] == 0 {
		t.Error("no request saw 503 while the broker was stopped: the fault did not bite")
	}
	if res.slowest > 2*time.Second+2*time.Second {
		t.Errorf("slowest answer %s: over the publish timeout plus margin", res.slowest)
	}
	b.waitRecovered(t)
}

// A memory alarm makes RabbitMQ block publishing connections. Webhooks must get 503
// at the publish timeout rather than hang, /readyz must say so, and service resumes
// when the alarm clears.
func TestFaultBlockedConnection(t *testing.T) {
	n := rabbittest.PrivateNode(t)
	b := newBridgeOn(t, n.URL, time.Second)
	t.Cleanup(func() { n.Ctl(t, "set_vm_memory_high_watermark", "0.4") })
	if status, _ := b.post(http.DefaultClient, "before-alarm"); status != 200 {
		t.Fatalf("before the alarm: %d", status)
	}
	n.Ctl(t, "set_vm_memory_high_watermark", "0")
	var statuses []int
	for i := range 3 {
		start := time.Now()
		status, err := b.post(http.DefaultClient, fmt.Sprintf("during-alarm-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("answer took %s with the connection blocked; the publish timeout is 1s", took)
		}
		statuses = append(statuses, status)
	}
	for _, s := range statuses {
		if s != 503 {
			t.Errorf("statuses during the alarm = %v, want 503s", statuses)
			break
		}
	}
	if got := b.ready(t); got != 503 {
		t.Errorf("/readyz with the connection blocked = %d, want 503", got)
	}
	n.Ctl(t, "set_vm_memory_high_watermark", "0.4")
	b.waitRecovered(t)
}
