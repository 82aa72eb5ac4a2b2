package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A server that goes away in the middle of a run: the run ends, says so, and
// does not pass for a complete one.
func TestRunReportsAServerThatWentAway(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	var once sync.Once
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 20 {
			once.Do(func() { go srv.Close() }) // the listener and every connection
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Target{URL: srv.URL + "/webhooks", Secret: "s", Body: []byte(`{}`)},
		Options{Concurrency: 2, Duration: time.Minute, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != 2 || res.StopErr == nil {
		t.Fatalf("Stopped = %d (%v), want both connections stopped with a reason", res.Stopped, res.StopErr)
	}
	if !strings.Contains(res.String(), "stopped early: 2 connection(s) could not reconnect") {
		t.Fatalf("report does not say the run stopped early:\n%s", res)
	}
}

// A run that ends by itself stops nothing.
func TestRunCompleteStopsNothing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Target{URL: srv.URL + "/webhooks", Secret: "s", Body: []byte(`{}`)},
		Options{Concurrency: 2, Requests: 50})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stopped != 0 || res.Statuses[200] != 50 || strings.Contains(res.String(), "stopped early") {
		t.Fatalf("Stopped = %d, statuses %v:\n%s", res.Stopped, res.Statuses, res)
	}
}
