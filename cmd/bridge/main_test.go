package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/schemas"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

const testSecret = "whsec-test-0123456789abcdef"

var sample = func() []byte {
	b, err := os.ReadFile("../../bridge/testdata/job.completed.json")
	if err != nil {
		panic(err)
	}
	return bytes.TrimSpace(b)
}()

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is the bridge started through run, as `go run ./cmd/bridge` starts it.
type running struct {
	addr   string
	stderr *lockedBuffer
	cancel context.CancelFunc
	exit   chan int
}

// setEnv clears every BRIDGE_* variable of the caller's environment, then sets env.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "BRIDGE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func startBridge(t *testing.T, env map[string]string) *running {
	t.Helper()
	base := map[string]string{
		"BRIDGE_WEBHOOK_SECRET": testSecret,
		"BRIDGE_LISTEN_ADDR":    "127.0.0.1:0",
		"BRIDGE_LOG_LEVEL":      "debug",
	}
	for k, v := range env {
		base[k] = v
	}
	setEnv(t, base)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stderr: &lockedBuffer{}, cancel: cancel, exit: make(chan int, 1)}
	addrs := make(chan string, 1)
	go func() { r.exit <- run(ctx, r.stderr, func(a string) { addrs <- a }) }()
	select {
	case r.addr = <-addrs:
	case code := <-r.exit:
		t.Fatalf("bridge exited with %d at start:\n%s", code, r.stderr)
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not start in 20s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels like SIGTERM and returns the exit status.
func (r *running) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.exit:
		r.exit <- code
		return code
	case <-time.After(40 * time.Second):
		t.Fatal("bridge did not stop")
		return -1
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r *running) post(t *testing.T, body []byte, delivery string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+"/webhooks", bytes.NewReader(body))
	req.Header.Set("X-AudioSpliter-Signature", bridge.Sign(testSecret, body))
	req.Header.Set("X-AudioSpliter-Delivery", delivery)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func (r *running) get(t *testing.T, path string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.addr+path, nil)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func freeAddr(t *testing.T) string { return sinktest.FreeAddr(t) }

// streamMsgs reads every message of the stream as a consumer sees it.
func streamMsgs(t *testing.T, url, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.ReadStream(t, url, stream, 0)
}

func TestEndToEndEmbedded(t *testing.T) {
	natsAddr := freeAddr(t)
	dataDir := t.TempDir()
	env := map[string]string{
		"BRIDGE_NATS_EMBEDDED_LISTEN": natsAddr,
		"BRIDGE_DATA_DIR":             dataDir,
	}
	b := startBridge(t, env)

	if r := b.get(t, "/readyz"); r.status != 200 {
		t.Fatalf("/readyz = %d %s", r.status, r.body)
	}
	r := b.post(t, sample, "e2e-1")
	if r.status != 200 || r.body != `{"received":true,"deliveryId":"e2e-1"}` {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	r = b.post(t, sample, "e2e-1")
	if r.status != 200 || r.body != `{"received":true,"deliveryId":"e2e-1","duplicate":true}` {
		t.Fatalf("repeated POST = %d %s", r.status, r.body)
	}

	msgs := streamMsgs(t, "nats://"+natsAddr, "AUDIOSPLITER")
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !bytes.Equal(m.Data, sample) {
		t.Errorf("body on the stream differs from the request body")
	}
	if m.Subject != "audiospliter.job.completed" {
		t.Errorf("subject = %q", m.Subject)
	}
	want := map[string]string{
		"Nats-Msg-Id":            "e2e-1",
		"ce-specversion":         "1.0",
		"ce-id":                  "e2e-1",
		"ce-type":                "com.audiospliter.job.completed",
		"ce-source":              "audiospliter",
		"content-type":           "application/json",
		"audiospliter-delivery":  "e2e-1",
		"audiospliter-event":     "job.completed",
		"audiospliter-signature": bridge.Sign(testSecret, sample),
		"audiospliter-job-id":    "job_8f3a2c1e",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Header.Get("ce-time")); err != nil {
		t.Errorf("ce-time %q: %v", m.Header.Get("ce-time"), err)
	}
	flat := map[string]string{}
	for k, v := range m.Header {
		flat[k] = v[0]
	}
	assertSchema(t, flat)

	if code := b.stop(t); code != 0 {
		t.Fatalf("exit status %d after shutdown, want 0", code)
	}
	logs := b.stderr.String()
	for _, leak := range []string{testSecret, "job_8f3a2c1e", "cdn.audiospliter.example", bridge.Sign(testSecret, sample)} {
		if strings.Contains(logs, leak) {
			t.Errorf("logs contain %q:\n%s", leak, logs)
		}
	}

	// Started again on the same data: the message is still there, and the stream's
	// own dedup absorbs a retry the new process has not seen.
	b2 := startBridge(t, env)
	if r := b2.post(t, sample, "e2e-1"); r.status != 200 {
		t.Fatalf("POST after restart = %d %s", r.status, r.body)
	}
	if msgs := streamMsgs(t, "nats://"+natsAddr, "AUDIOSPLITER"); len(msgs) != 1 || msgs[0].Header.Get("Nats-Msg-Id") != "e2e-1" {
		t.Fatalf("after restart the stream holds %d messages, want the one e2e-1", len(msgs))
	}
}

func TestBrokerAwayAndBack(t *testing.T) {
	ns := natstest.Start(t)

	b := startBridge(t, map[string]string{
		"BRIDGE_NATS_URL":        ns.URL(),
		"BRIDGE_PUBLISH_TIMEOUT": "1s",
	})
	if r := b.post(t, sample, "before"); r.status != 200 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}

	ns.Stop()
	waitStatus(t, b, "/readyz", 503)
	start := time.Now()
	r := b.post(t, sample, "during")
	took := time.Since(start)
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("POST with the broker away = %d (Retry-After %q) %s, want 503 with Retry-After", r.status, r.header.Get("Retry-After"), r.body)
	}
	if took > 3*time.Second {
		t.Errorf("answered after %s; the publish timeout is 1s", took)
	}
	// The log says why in one line, the broker's cause first: not the deadline that
	// merely ended the retries.
	line := webhookLine(t, b.stderr.String(), "during")
	errText, _ := line["err"].(string)
	if line["reason"] != "not_confirmed" || errText == "" {
		t.Errorf("log line %v: want reason not_confirmed and an err", line)
	}
	if strings.ContainsAny(errText, "\r\n") {
		t.Errorf("err spans several lines: %q", errText)
	}
	if strings.HasPrefix(errText, "context") {
		t.Errorf("err starts with the deadline, not the broker's cause: %q", errText)
	}
	t.Logf("err: %s", errText)

	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, b, "/readyz", 200)
	if r := b.post(t, sample, "during"); r.status != 200 {
		t.Fatalf("POST after the broker came back = %d %s", r.status, r.body)
	}
	ids := map[string]bool{}
	for _, m := range streamMsgs(t, ns.URL(), "AUDIOSPLITER") {
		ids[m.Header.Get("Nats-Msg-Id")] = true
	}
	if !ids["before"] || !ids["during"] {
		t.Fatalf("stream holds %v, want before and during", ids)
	}
}

// webhookLine returns the last "webhook" log line of delivery id, decoded.
func webhookLine(t *testing.T, logs, id string) map[string]any {
	t.Helper()
	var found map[string]any
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "webhook" && m["delivery_id"] == id {
			found = m
		}
	}
	if found == nil {
		t.Fatalf("no webhook log line for %s:\n%s", id, logs)
	}
	return found
}

func waitStatus(t *testing.T, b *running, path string, status int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := b.get(t, path)
		if r.status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed %d %s, want %d", path, r.status, r.body, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Bad configuration stops the process at start with status 2 and one line naming
// the variable.
func TestBadConfiguration(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	closed := freeAddr(t)
	secretsFile, commentsFile := filepath.Join(t.TempDir(), "secrets"), filepath.Join(t.TempDir(), "comments")
	if err := os.WriteFile(secretsFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(commentsFile, []byte("# the secret goes below\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      map[string]string
		variable string
	}{
		{"no secret", map[string]string{}, "BRIDGE_WEBHOOK_SECRET"},
		{"empty secret", map[string]string{"BRIDGE_WEBHOOK_SECRET": ""}, "BRIDGE_WEBHOOK_SECRET"},
		{"empty secret in a list", map[string]string{"BRIDGE_WEBHOOK_SECRET": "a-long-enough-secret-1,,b"}, "BRIDGE_WEBHOOK_SECRET"},
		{"secret and secret file", map[string]string{"BRIDGE_WEBHOOK_SECRET_FILE": secretsFile}, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"missing secret file", map[string]string{"BRIDGE_WEBHOOK_SECRET": "", "BRIDGE_WEBHOOK_SECRET_FILE": "/nonexistent/secrets"}, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"secret file without a secret", map[string]string{"BRIDGE_WEBHOOK_SECRET": "", "BRIDGE_WEBHOOK_SECRET_FILE": commentsFile}, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"unknown sink", map[string]string{"BRIDGE_SINK": "kafka"}, "BRIDGE_SINK"},
		{"bad duration", map[string]string{"BRIDGE_PUBLISH_TIMEOUT": "10 seconds"}, "BRIDGE_PUBLISH_TIMEOUT"},
		{"zero timeout", map[string]string{"BRIDGE_PUBLISH_TIMEOUT": "0s"}, "BRIDGE_PUBLISH_TIMEOUT"},
		{"bad dedup ttl", map[string]string{"BRIDGE_DEDUP_TTL": "-1m"}, "BRIDGE_DEDUP_TTL"},
		{"dedup ttl of centuries", map[string]string{"BRIDGE_DEDUP_TTL": "2000000h"}, "BRIDGE_DEDUP_TTL"},
		{"bad number", map[string]string{"BRIDGE_MAX_BODY_BYTES": "1MB"}, "BRIDGE_MAX_BODY_BYTES"},
		{"bad in-flight", map[string]string{"BRIDGE_MAX_IN_FLIGHT": "0"}, "BRIDGE_MAX_IN_FLIGHT"},
		{"bad log level", map[string]string{"BRIDGE_LOG_LEVEL": "loud"}, "BRIDGE_LOG_LEVEL"},
		{"reserved path", map[string]string{"BRIDGE_WEBHOOK_PATH": "/metrics"}, "BRIDGE_WEBHOOK_PATH"},
		{"relative path", map[string]string{"BRIDGE_WEBHOOK_PATH": "hooks"}, "BRIDGE_WEBHOOK_PATH"},
		{"tls half set", map[string]string{"BRIDGE_TLS_CERT_FILE": "/nonexistent.pem"}, "BRIDGE_TLS_CERT_FILE"},
		{"tls files missing", map[string]string{"BRIDGE_TLS_CERT_FILE": "/nonexistent.pem", "BRIDGE_TLS_KEY_FILE": "/nonexistent.key"}, "BRIDGE_TLS_CERT_FILE"},
		{"unreachable broker", map[string]string{"BRIDGE_NATS_URL": "nats://" + closed}, "BRIDGE_NATS_URL"},
		{"embedded port taken", map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": taken.Addr().String()}, "BRIDGE_NATS_EMBEDDED_LISTEN"},
		{"unreachable rabbitmq", map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": "amqp://guest:secretpw@" + closed + "/"}, "BRIDGE_RABBITMQ_URL"},
		{"bad queue type", map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_QUEUE_TYPE": "stream"}, "BRIDGE_RABBITMQ_QUEUE_TYPE"},
		{"empty exchange", map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_EXCHANGE": ""}, "BRIDGE_RABBITMQ_EXCHANGE"},
		{"sqs without queue url", map[string]string{"BRIDGE_SINK": "sqs"}, "BRIDGE_SQS_QUEUE_URL"},
		{"sqs endpoint down", map[string]string{"BRIDGE_SINK": "sqs", "BRIDGE_SQS_ENDPOINT": "http://" + closed, "BRIDGE_SQS_QUEUE_URL": "http://" + closed + "/000000000000/q",
			"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}, "BRIDGE_SQS_ENDPOINT"},
		{"sqs without credentials", map[string]string{"BRIDGE_SINK": "sqs", "BRIDGE_SQS_ENDPOINT": "http://" + closed, "BRIDGE_SQS_QUEUE_URL": "http://" + closed + "/000000000000/q",
			"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}, "AWS_ACCESS_KEY_ID"},
		{"listen address taken", map[string]string{"BRIDGE_LISTEN_ADDR": taken.Addr().String(), "BRIDGE_NATS_EMBEDDED_LISTEN": freeAddr(t)}, "BRIDGE_LISTEN_ADDR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{
				"BRIDGE_WEBHOOK_SECRET": testSecret,
				"BRIDGE_DATA_DIR":       t.TempDir(),
			}
			if _, ok := c.env["BRIDGE_NATS_EMBEDDED_LISTEN"]; !ok {
				env["BRIDGE_NATS_EMBEDDED_LISTEN"] = freeAddr(t)
			}
			for k, v := range c.env {
				env[k] = v
			}
			setEnv(t, env)
			if c.name == "no secret" {
				os.Unsetenv("BRIDGE_WEBHOOK_SECRET")
			}
			var stderr lockedBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := run(ctx, &stderr, func(string) { t.Error("bridge started listening") })
			if code != 2 {
				t.Fatalf("exit status %d, want 2; stderr:\n%s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			var entry struct{ Level, Msg string }
			if err := json.Unmarshal([]byte(last), &entry); err != nil || entry.Level != "ERROR" {
				t.Fatalf("last line is not a JSON error: %q", last)
			}
			if !strings.Contains(entry.Msg, c.variable+":") {
				t.Errorf("error %q does not name %s", entry.Msg, c.variable)
			}
			for _, secret := range []string{testSecret, "secretpw"} {
				if strings.Contains(stderr.String(), secret) {
					t.Errorf("stderr contains the secret %q", secret)
				}
			}
			t.Log(entry.Msg)
		})
	}
}

func TestShortSecretWarns(t *testing.T) {
	b := startBridge(t, map[string]string{
		"BRIDGE_WEBHOOK_SECRET":       "short," + testSecret,
		"BRIDGE_NATS_EMBEDDED_LISTEN": freeAddr(t),
		"BRIDGE_DATA_DIR":             t.TempDir(),
	})
	logs := b.stderr.String()
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "shorter than 16 bytes") {
		t.Errorf("no warning for a short secret:\n%s", logs)
	}
	if strings.Contains(logs, "short,") {
		t.Error("the secret list reached the log")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	b := startBridge(t, map[string]string{
		"BRIDGE_NATS_EMBEDDED_LISTEN": freeAddr(t),
		"BRIDGE_DATA_DIR":             t.TempDir(),
	})
	var out lockedBuffer
	t.Setenv("BRIDGE_LISTEN_ADDR", b.addr)
	if code := healthcheck(&out); code != 0 {
		t.Fatalf("healthcheck of a ready bridge = %d: %s", code, out.String())
	}
	b.stop(t)
	if code := healthcheck(&out); code == 0 {
		t.Fatal("healthcheck of a stopped bridge = 0")
	}
}

// assertSchema checks headers the bridge put on a broker against the published
// schema (schemas/message-attributes.schema.json).
func assertSchema(t *testing.T, headers map[string]string) {
	t.Helper()
	set, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if err := set.ValidateHeaders(headers); err != nil {
		t.Errorf("the bridge's headers do not match the published schema: %v", err)
	}
}

// SIGTERM while the bridge is still connecting to its broker at start (one that
// accepts the connection and says nothing) stops it at once, as a stop that was
// asked for: exit 0, not "bad configuration" with exit 2.
func TestStopWhileConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	setEnv(t, map[string]string{
		"BRIDGE_WEBHOOK_SECRET": testSecret, "BRIDGE_LISTEN_ADDR": "127.0.0.1:0",
		"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": "amqp://guest:guest@" + ln.Addr().String() + "/",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, &stderr, func(string) {}) }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case code := <-exit:
		if code != 0 || strings.Contains(stderr.String(), "bad configuration") {
			t.Errorf("stopped while connecting: exit %d after %s:\n%s", code, time.Since(start), stderr.String())
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("still connecting 3 s after the stop:\n%s", stderr.String())
	}
}
