package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// The tests here run the bridge as app.Run with a Config literal and Options: no
// environment, no signal, no package variable, so they run in parallel. What goes
// through the environment, the command line and signals is tested on the built
// binary in test/.

const testSecret = apptest.Secret

var sample = apptest.Sample()

// testConfig is the configuration of a test's bridge: the test secret, a free port,
// debug logs, an embedded NATS server on a free port with a private data directory,
// then edit's changes; validated.
func testConfig(t *testing.T, edit func(*config.Config)) *config.Config {
	t.Helper()
	c := config.Default()
	c.WebhookSecret = testSecret
	c.ListenAddr = "127.0.0.1:0"
	c.LogLevel = "debug"
	c.Nats.EmbeddedListen = testkit.FreeAddr(t)
	c.DataDir = t.TempDir()
	if edit != nil {
		edit(c)
	}
	if err := c.Validate(nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// running is a bridge started with app.Run.
type running struct {
	addr   string
	stderr *testkit.LockedBuffer
	cancel context.CancelFunc // what SIGTERM does
	exit   chan error
}

// startBridge runs the bridge with testConfig(edit) and options edited by opts, and
// waits until it listens. It is stopped when t ends.
func startBridge(t *testing.T, edit func(*config.Config), opts ...func(*app.Options)) *running {
	t.Helper()
	cfg := testConfig(t, edit)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stderr: &testkit.LockedBuffer{}, cancel: cancel, exit: make(chan error, 1)}
	addrs := make(chan string, 1)
	o := app.Options{
		Config:   cfg,
		Logger:   slog.New(slog.NewJSONHandler(r.stderr, &slog.HandlerOptions{Level: cfg.Level()})),
		OnListen: func(a string) { addrs <- a },
	}
	for _, f := range opts {
		f(&o)
	}
	go func() { r.exit <- app.Run(ctx, o) }()
	select {
	case r.addr = <-addrs:
	case err := <-r.exit:
		t.Fatalf("bridge stopped at start: %v\n%s", err, r.stderr)
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not start in 20s")
	}
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// startFails runs the bridge with testConfig(edit) and returns the error Run
// returned at start, failing t unless it is a *config.Error.
func startFails(t *testing.T, edit func(*config.Config), opts ...func(*app.Options)) *config.Error {
	t.Helper()
	var stderr testkit.LockedBuffer
	o := app.Options{
		Config:   testConfig(t, edit),
		Logger:   slog.New(slog.NewJSONHandler(&stderr, nil)),
		OnListen: func(string) { t.Error("bridge started listening") },
	}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := app.Run(ctx, o)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Run = %v, want a *config.Error; log:\n%s", err, stderr.String())
	}
	t.Log(err)
	return ce
}

// withLimits gives the bridge shorter server limits.
func withLimits(l app.Limits) func(*app.Options) {
	return func(o *app.Options) { o.Limits = l }
}

// stop cancels like SIGTERM and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.exit:
		r.exit <- err
		return err
	case <-time.After(40 * time.Second):
		t.Fatal("bridge did not stop")
		return nil
	}
}

func (r *running) post(t *testing.T, body []byte, delivery string) apptest.Reply {
	t.Helper()
	return apptest.Post(t, r.addr, body, delivery)
}

func (r *running) get(t *testing.T, path string) apptest.Reply {
	t.Helper()
	return apptest.Get(t, r.addr, path)
}

// port is the port the bridge listens on, as `bridge healthcheck` takes it.
func (r *running) port() string {
	return r.addr[strings.LastIndexByte(r.addr, ':')+1:]
}

// healthcheck is what `bridge healthcheck` does against this bridge: nil when
// /readyz answers 200 within 3 s.
func (r *running) healthcheck(useTLS bool) error {
	return app.CheckReady(context.Background(), r.port(), useTLS)
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
	var r apptest.Reply
	if !testkit.Poll(15*time.Second, func() bool { r = b.get(t, path); return r.Status == status }) {
		t.Fatalf("%s stayed %d %s for 15 s, want %d", path, r.Status, r.Body, status)
	}
}
