package bridge_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
)

// stalledPost opens a connection that sends a POST's headers announcing size bytes
// and then only prefix of the body.
func stalledPost(t *testing.T, h *harness, id string, size int, prefix string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s: %s\r\n%s: %s\r\n\r\n%s",
		size, bridge.SignatureHeader, strings.Repeat("0", 64), bridge.DeliveryHeader, id, prefix)
	return c
}

// answered reads the response on c within d; nil when none came.
func answered(c net.Conn, d time.Duration) *http.Response {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	return resp
}

// Past MaxBodyReads the body read silent the longest is cut, not the newcomer and
// not a read whose bytes keep arriving; a signed request still gets through.
func TestStalledBodyReadsAreCutOldestFirst(t *testing.T) {
	h := newHarness(t, func(c *bridge.Config) { c.MaxBodyReads = 2 })
	metric := func() string { return h.do(t, http.MethodGet, "/metrics", nil, nil).raw }
	oldest := stalledPost(t, h, "s1", 4000, "")
	waitFor(t, func() bool { return strings.Contains(metric(), "audiospliter_bridge_body_reads 1") })
	flowing := stalledPost(t, h, "s2", 4000, "")
	waitFor(t, func() bool { return strings.Contains(metric(), "audiospliter_bridge_body_reads 2") })
	// The second one sends a little: it is now the most recently active.
	_, _ = flowing.Write([]byte(`{"event":`))
	time.Sleep(50 * time.Millisecond)
	newest := stalledPost(t, h, "s3", 4000, "")

	resp := answered(oldest, 3*time.Second)
	if resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("the oldest silent read: %v, want 503 with Retry-After", resp)
	}
	if !closedWithin(oldest, 3*time.Second) {
		t.Error("the cut connection stayed open")
	}
	if answered(flowing, 300*time.Millisecond) != nil || answered(newest, 10*time.Millisecond) != nil {
		t.Error("a read other than the oldest silent one was cut")
	}
	h.post(t, sample, "sign", "ok-1").wantReceived(t, "ok-1", false)
	if !strings.Contains(metric(), "audiospliter_bridge_body_reads_cut_total 2") {
		t.Errorf("cut counter:\n%s", grep(metric(), "body_reads"))
	}
	found := false
	for _, l := range h.webhookLines(t) {
		if l["reason"] == "stalled_body" && l["status"] == float64(503) {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line with reason stalled_body:\n%s", h.logs.String())
	}
}

func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}
