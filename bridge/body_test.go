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
	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
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

// Past MaxBodyReads a request takes the slot of the read begun the earliest once
// that has lasted a second (it is cut: 503, Retry-After, connection closed, reason
// stalled_body), and is refused at once before that (503, Retry-After, connection
// closed, reason body_reads_full); a signed request still gets through.
func TestBodyReadsPastTheBound(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newHarness(t, func(c *bridge.Config) { c.MaxBodyReads, c.Clock = 1, clk })
	metric := func() string { return h.do(t, http.MethodGet, "/metrics", nil, nil).raw }
	wantRefused := func(name string, c net.Conn) {
		t.Helper()
		resp := answered(c, 10*time.Second) //nolint:bodyclose // answered closes it
		if resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !resp.Close {
			t.Errorf("%s: %v, want 503 with Retry-After: 1 and Connection: close", name, resp)
		}
		if !closedWithin(c, 10*time.Second) {
			t.Errorf("%s: the connection stayed open", name)
		}
	}

	oldest := stalledPost(t, h, "s1", 4000, `{"event":`) // reads from t0
	testkit.Eventually(t, 5*time.Second, func() bool { return strings.Contains(metric(), "audiospliter_bridge_body_reads 1") },
		"the stalled request did not start reading its body")
	clk.Advance(admit.Grace - time.Millisecond)
	wantRefused("a request while the only read is younger than a second", stalledPost(t, h, "s2", 4000, ""))

	clk.Advance(time.Millisecond) // the oldest has read for a second: the signed one takes its slot
	h.post(t, sample, "sign", "ok-1").wantReceived(t, "ok-1", false)
	wantRefused("the oldest read", oldest)

	m := metric()
	for _, want := range []string{"audiospliter_bridge_body_reads 0", "audiospliter_bridge_body_reads_cut_total 1", "audiospliter_bridge_body_reads_refused_total 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(m, "body_reads"))
		}
	}
	reasons := map[string]int{}
	for _, l := range h.webhookLines(t) {
		if l["status"] == float64(503) {
			reasons[l["reason"].(string)]++
		}
	}
	if reasons["stalled_body"] != 1 || reasons["body_reads_full"] != 1 || len(reasons) != 2 {
		t.Errorf("503 log lines by reason: %v, want stalled_body 1, body_reads_full 1", reasons)
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
	t.Parallel()
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
