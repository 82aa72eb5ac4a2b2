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

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

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
