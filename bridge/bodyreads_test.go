package bridge_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
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

// A body that arrives in many pieces (pooled chunks) reaches the sink byte for
// byte, with and without Content-Length; so does one that fits the first piece.
func TestBodiesInPiecesArriveWhole(t *testing.T) {
	h := newHarness(t, func(c *bridge.Config) { c.MaxBodyBytes = 1 << 20 })
	sent := map[string][]byte{}
	for i, size := range []int{40, 511, 512, 513, 16<<10 + 512, 100_000, 1 << 20} {
		pad := strings.Repeat("x", size-len(`{"event":"e","p":""}`))
		body := []byte(`{"event":"e","p":"` + pad + `"}`)
		for _, chunked := range []bool{false, true} {
			id := fmt.Sprintf("piece-%d-%v", i, chunked)
			sent[id] = body
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.srv.URL+"/webhooks", io.MultiReader(bytes.NewReader(body)))
			if !chunked {
				req.ContentLength = int64(len(body))
			}
			req.Header.Set(bridge.SignatureHeader, bridge.Sign(secret, body))
			req.Header.Set(bridge.DeliveryHeader, id)
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%d bytes (chunked %v): %d", size, chunked, resp.StatusCode)
			}
		}
	}
	for _, m := range h.sink.Messages() {
		if !bytes.Equal(m.Body, sent[m.ID]) {
			t.Fatalf("%s: %d bytes reached the sink, %d were sent, or they differ", m.ID, len(m.Body), len(sent[m.ID]))
		}
	}
	if n := len(h.sink.Messages()); n != 14 {
		t.Fatalf("sink holds %d messages, want 14", n)
	}
}
