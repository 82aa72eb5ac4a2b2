package test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
)

// The reproduction: BRIDGE_SHUTDOWN_TIMEOUT=3s, the NATS server down, a
// webhook waiting for a confirm, SIGTERM. The sender gets 503 with Retry-After (not
// a closed connection), the log has a line for that delivery, the process exits
// within the timeout + 1 s, and its last line says it has stopped.
func TestShutdownAnswersWaitingRequestsWhileTheBrokerIsDown(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t)
	b := startBridge(t, map[string]string{
		"BRIDGE_NATS_URL":         ns.URL(),
		"BRIDGE_SHUTDOWN_TIMEOUT": "3s",
		"BRIDGE_PUBLISH_TIMEOUT":  "30s", // longer than the shutdown: the shutdown must cut it
	})
	if r := b.post(t, sample, "before-outage"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	ns.Stop()

	type result struct {
		status     int
		retryAfter string
		body       string
		err        error
	}
	answered := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, "http://"+b.addr+"/webhooks", bytes.NewReader(sample))
		req.Header.Set(bridge.SignatureHeader, bridge.Sign(apptest.Secret, sample))
		req.Header.Set(bridge.DeliveryHeader, "during-outage")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- result{resp.StatusCode, resp.Header.Get("Retry-After"), string(body), err}
	}()
	testkit.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(apptest.Get(t, b.addr, "/metrics").Body, "audiospliter_bridge_publishes_in_flight 1")
	}, "the webhook is not waiting for the broker")

	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case <-b.exited:
		code = b.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM:\n%s", b.stderr)
	}
	took := time.Since(start)
	t.Logf("exit %d after %s", code, took)
	if took > 4*time.Second {
		t.Errorf("exited %s after SIGTERM, want within BRIDGE_SHUTDOWN_TIMEOUT (3s) + 1 s", took)
	}
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	r := <-answered
	if r.err != nil {
		t.Fatalf("the waiting webhook got no answer: %v", r.err)
	}
	if r.status != 503 || r.retryAfter == "" || !strings.Contains(r.body, "shutting down") {
		t.Errorf("the waiting webhook got %d (Retry-After %q) %s, want 503 with Retry-After", r.status, r.retryAfter, r.body)
	}
	lines := logLines(t, b.stderr.String())
	var logged bool
	for _, l := range lines {
		if l["msg"] == "webhook" && l["delivery_id"] == "during-outage" {
			logged = l["status"] == float64(503) && l["reason"] == "shutting_down"
		}
	}
	if !logged {
		t.Errorf("no log line with reason shutting_down for the unanswered delivery:\n%s", b.stderr)
	}
	if last := lines[len(lines)-1]; last["msg"] != "stopped" {
		t.Errorf("last log line %v, want \"stopped\"", last)
	}
}
