package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
)

// streamMsgs reads every message of the stream as a consumer sees it.
func streamMsgs(t *testing.T, url, stream string, opts ...nats.Option) []*jetstream.RawStreamMsg {
	t.Helper()
	return natstest.ReadStream(t, url, stream, 0, opts...)
}

func TestEndToEndEmbedded(t *testing.T) {
	t.Parallel()
	natsAddr := testkit.FreeAddr(t)
	dataDir := t.TempDir()
	embedded := func(c *config.Config) { c.Nats.EmbeddedListen, c.DataDir = natsAddr, dataDir }
	b := startBridge(t, embedded)

	if r := b.get(t, "/readyz"); r.Status != 200 {
		t.Fatalf("/readyz = %d %s", r.Status, r.Body)
	}
	r := b.post(t, sample, "e2e-1")
	if r.Status != 200 || r.Body != `{"received":true,"deliveryId":"e2e-1"}` {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	r = b.post(t, sample, "e2e-1")
	if r.Status != 200 || r.Body != `{"received":true,"deliveryId":"e2e-1","duplicate":true}` {
		t.Fatalf("repeated POST = %d %s", r.Status, r.Body)
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
	apptest.AssertSchema(t, flat)

	if err := b.stop(t); err != nil {
		t.Fatalf("Run returned %v after shutdown, want nil (exit status 0)", err)
	}
	logs := b.stderr.String()
	for _, leak := range []string{testSecret, "job_8f3a2c1e", "cdn.audiospliter.example", bridge.Sign(testSecret, sample)} {
		if strings.Contains(logs, leak) {
			t.Errorf("logs contain %q:\n%s", leak, logs)
		}
	}

	// Started again on the same data: the message is still there, and the stream's
	// own dedup absorbs a retry the new process has not seen.
	b2 := startBridge(t, embedded)
	if r := b2.post(t, sample, "e2e-1"); r.Status != 200 {
		t.Fatalf("POST after restart = %d %s", r.Status, r.Body)
	}
	if msgs := streamMsgs(t, "nats://"+natsAddr, "AUDIOSPLITER"); len(msgs) != 1 || msgs[0].Header.Get("Nats-Msg-Id") != "e2e-1" {
		t.Fatalf("after restart the stream holds %d messages, want the one e2e-1", len(msgs))
	}
}

func TestBrokerAwayAndBack(t *testing.T) {
	t.Parallel()
	ns := natstest.Start(t)

	b := startBridge(t, func(c *config.Config) {
		c.Nats.URL = ns.URL()
		c.PublishTimeout = time.Second
	})
	if r := b.post(t, sample, "before"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}

	ns.Stop()
	waitStatus(t, b, "/readyz", 503)
	start := time.Now()
	r := b.post(t, sample, "during")
	took := time.Since(start)
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("POST with the broker away = %d (Retry-After %q) %s, want 503 with Retry-After", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if took > 3*time.Second {
		t.Errorf("answered after %s; the publish timeout is 1s", took)
	}
	// The log says why in one line, the broker's cause first: not the deadline that
	// merely ended the retries.
	line := webhookLine(t, b.stderr.String(), "during")
	errText, _ := line["err"].(string)
	// A broker away has its own reason, apart from a slow one (not_confirmed).
	if line["reason"] != "broker_unavailable" || errText == "" {
		t.Errorf("log line %v: want reason broker_unavailable and an err", line)
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
	if r := b.post(t, sample, "during"); r.Status != 200 {
		t.Fatalf("POST after the broker came back = %d %s", r.Status, r.Body)
	}
	ids := map[string]bool{}
	for _, m := range streamMsgs(t, ns.URL(), "AUDIOSPLITER") {
		ids[m.Header.Get("Nats-Msg-Id")] = true
	}
	if !ids["before"] || !ids["during"] {
		t.Fatalf("stream holds %v, want before and during", ids)
	}
}

// What fails at start because of the configuration is a *config.Error naming the
// variable (the command exits 2 on it; test/ runs every case through the binary):
// a listen address in use, a broker that cannot be reached, the embedded server's
// address in use, an HTTPS pair that cannot be read, a bad OTEL_* variable.
func TestStartFailuresNameTheVariable(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	closed := testkit.FreeAddr(t)
	otel := func(vars map[string]string) func(*app.Options) {
		return func(o *app.Options) {
			o.OTel = func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
		}
	}
	cases := []struct {
		name     string
		edit     func(*config.Config)
		opts     []func(*app.Options)
		variable string
	}{
		{"listen address taken", func(c *config.Config) { c.ListenAddr = taken.Addr().String() }, nil, "BRIDGE_LISTEN_ADDR"},
		{"unreachable broker", func(c *config.Config) { c.Nats.URL = "nats://" + closed }, nil, "BRIDGE_NATS_URL"},
		{"embedded port taken", func(c *config.Config) { c.Nats.EmbeddedListen = taken.Addr().String() }, nil, "BRIDGE_NATS_EMBEDDED_LISTEN"},
		{"unreachable rabbitmq", func(c *config.Config) {
			c.Sink, c.Rabbitmq.URL = "rabbitmq", "amqp://guest:secretpw@"+closed+"/"
		}, nil, "BRIDGE_RABBITMQ_URL"},
		{"tls files missing", func(c *config.Config) { c.TLSCertFile, c.TLSKeyFile = "/nonexistent.pem", "/nonexistent.key" }, nil, "BRIDGE_TLS_CERT_FILE"},
		{"otel exporter", nil, []func(*app.Options){otel(map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"})}, "OTEL_TRACES_EXPORTER"},
		{"otel endpoint", nil, []func(*app.Options){otel(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"})}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if err := startFails(t, c.edit, c.opts...); err.Variable != c.variable {
				t.Errorf("error %q names %q, want %s", err, err.Variable, c.variable)
			} else if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// Run refuses a configuration that was not validated, rather than run without
// secrets.
func TestRunWantsAValidatedConfig(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.WebhookSecret = testSecret
	err := app.Run(context.Background(), app.Options{Config: c, OnListen: func(string) { t.Error("bridge started listening") }})
	var ce *config.Error
	if err == nil || errors.As(err, &ce) {
		t.Fatalf("Run with an unvalidated Config = %v, want an error that is not bad configuration", err)
	}
}

func TestShortSecretWarns(t *testing.T) {
	t.Parallel()
	b := startBridge(t, func(c *config.Config) { c.WebhookSecret = "short," + testSecret })
	logs := b.stderr.String()
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "shorter than 16 bytes") {
		t.Errorf("no warning for a short secret:\n%s", logs)
	}
	if strings.Contains(logs, "short,") {
		t.Error("the secret list reached the log")
	}
}

// What `bridge healthcheck` asks: ready while the bridge serves, not once stopped.
func TestCheckReady(t *testing.T) {
	t.Parallel()
	b := startBridge(t, nil)
	if err := b.healthcheck(false); err != nil {
		t.Fatalf("healthcheck of a ready bridge: %v", err)
	}
	_ = b.stop(t)
	if err := b.healthcheck(false); err == nil {
		t.Fatal("healthcheck of a stopped bridge succeeded")
	}
}

// A listener given in Options is where the bridge serves; Run closes it.
func TestListenerFromOptions(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := startBridge(t, func(c *config.Config) { c.ListenAddr = "unused:1" }, func(o *app.Options) { o.Listener = ln })
	if b.addr != ln.Addr().String() {
		t.Fatalf("bridge listens on %s, want the given listener's %s", b.addr, ln.Addr())
	}
	if r := b.post(t, sample, "given-listener"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); err == nil {
		t.Error("the listener is still open after Run returned")
	}
}

// ctx ending while the bridge is still connecting to its broker at start (one that
// accepts the connection and says nothing) stops it at once, as a stop that was
// asked for: nil (exit 0), not bad configuration (exit 2).
func TestStopWhileConnecting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	cfg := testConfig(t, func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL = "rabbitmq", "amqp://guest:guest@"+ln.Addr().String()+"/"
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testkit.LockedBuffer
	exit := make(chan error, 1)
	go func() {
		exit <- app.Run(ctx, app.Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(&stderr, nil)), OnListen: func(string) {}})
	}()
	select {
	case <-accepted: // connecting
	case err := <-exit:
		t.Fatalf("Run returned before connecting: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge did not connect to the broker within 10 s")
	}
	time.Sleep(300 * time.Millisecond) // the fault's timing: the stop comes while the bridge waits on the broker
	start := time.Now()
	cancel()
	select {
	case err := <-exit:
		if err != nil || !strings.Contains(stderr.String(), "stopped while connecting") {
			t.Errorf("stopped while connecting: Run = %v after %s:\n%s", err, time.Since(start), stderr.String())
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("still connecting 3 s after the stop:\n%s", stderr.String())
	}
}
