package app_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
)

// docs/contract.md: a request is answered within BRIDGE_PUBLISH_TIMEOUT of its body being
// read. A slow upload (within the read timeout) followed by a broker that confirms
// late must still deliver the 200: the server's write deadline, counted from the
// headers, used to expire first, dropping the answer of a confirmed message (and
// the sender's retry made a needless copy).
func TestSlowUploadAndSlowConfirmStillAnswered(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t)
	proxy := testkit.StartProxy(t, fmt.Sprintf("127.0.0.1:%d", ns.Port))
	b := startBridge(t, func(c *config.Config) {
		c.Nats.URL = "nats://" + proxy.Addr()
		c.PublishTimeout = 3 * time.Second
	}, withLimits(app.Limits{ReadTimeout: 10 * time.Second, WriteMargin: 300 * time.Millisecond}))
	// The broker's confirm now takes about 2 × 0.9 s: one delay each way.
	proxy.SetLatency(900 * time.Millisecond)

	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s: %s\r\n%s: slow-1\r\n\r\n",
		len(sample), bridge.SignatureHeader, bridge.Sign(testSecret, sample), bridge.DeliveryHeader)
	// 2 s of upload: with the old deadline (3 s + 0.3 s from the headers) the
	// answer, due about 3.8 s after them, could not be written.
	const pieces = 5
	step := len(sample) / pieces
	for i := range pieces {
		end := (i + 1) * step
		if i == pieces-1 {
			end = len(sample)
		}
		time.Sleep(400 * time.Millisecond) // the slow sender's pace
		if _, err := c.Write(sample[i*step : end]); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("no answer %s after the headers: %v", took, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d after %s, want 200", resp.StatusCode, took)
	}
	t.Logf("answered 200 %s after the headers", took)
	if took < 3300*time.Millisecond {
		t.Errorf("answered after %s: the test needs the answer to come after the old deadline (3.3 s) to mean anything", took)
	}
	proxy.SetLatency(0)
	msgs := natstest.ReadStream(t, ns.URL(), "AUDIOSPLITER", 1)
	if len(msgs) != 1 || msgs[0].Header.Get("Nats-Msg-Id") != "slow-1" {
		t.Fatalf("stream holds %d messages, want slow-1", len(msgs))
	}
}
