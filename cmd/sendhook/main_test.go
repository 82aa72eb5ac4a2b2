package main

import (
	"bytes"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

const secret = "whsec-sendhook-test-0123456789"

func serve(t *testing.T) (*httptest.Server, *sinktest.Memory) {
	t.Helper()
	sink := sinktest.NewMemory()
	b, err := bridge.New(bridge.Config{Secrets: []string{secret}, DedupTTL: time.Minute, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return srv, sink
}

func sendhook(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return sendhookEnv(t, nil, args...)
}

// sendhookEnv runs sendhook with exactly the variables env.
func sendhookEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestOneShot(t *testing.T) {
	t.Parallel()
	srv, sink := serve(t)
	url := srv.URL + "/webhooks"
	code, out, _ := sendhook(t, "-url", url, "-secret", secret, "-id", "one-1")
	if code != 0 || out != `200 {"received":true,"deliveryId":"one-1"}`+"\n" {
		t.Fatalf("exit %d, output %q", code, out)
	}
	if m := sink.Messages(); len(m) != 1 || string(m[0].Body) != sample {
		t.Fatalf("the built-in sample did not arrive as sent: %v", m)
	}
	code, out, _ = sendhook(t, "-url", url, "-secret", "not-the-secret", "-id", "one-2")
	if code != 1 || !strings.HasPrefix(out, "401 ") {
		t.Fatalf("wrong secret: exit %d, output %q", code, out)
	}

	payload := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(payload, []byte(`{"event":"job.failed","jobId":"j9"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ = sendhookEnv(t, map[string]string{"BRIDGE_WEBHOOK_SECRET": secret + ",older-secret"}, "-url", url, "-file", payload, "-id", "one-3"); code != 0 {
		t.Fatalf("file payload, secret from BRIDGE_WEBHOOK_SECRET: exit %d %q", code, out)
	}
	if m := sink.Messages(); m[len(m)-1].Event != "job.failed" {
		t.Fatalf("last event %q", m[len(m)-1].Event)
	}
}

func TestLoadWritesAcked(t *testing.T) {
	t.Parallel()
	srv, sink := serve(t)
	acked := filepath.Join(t.TempDir(), "acked.txt")
	code, out, errOut := sendhook(t, "-url", srv.URL+"/webhooks", "-secret", secret, "-n", "300", "-c", "8", "-acked", acked)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{"requests: 300 ", "requests/s:", "latency: p50", "p99", "max", "status: 200×300"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	raw, err := os.ReadFile(acked)
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(raw))
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if len(ids) != 300 || len(seen) != 300 {
		t.Fatalf("acked file: %d lines, %d distinct, want 300 unique ids", len(ids), len(seen))
	}
	for _, m := range sink.Messages() {
		delete(seen, m.ID)
	}
	if len(seen) != 0 {
		t.Fatalf("%d acked ids are not in the sink", len(seen))
	}
}

func TestLoadIsBoundedByDuration(t *testing.T) {
	// Not in parallel: it times the load against its duration.
	srv, _ := serve(t)
	start := time.Now()
	code, out, _ := sendhook(t, "-url", srv.URL+"/webhooks", "-secret", secret, "-duration", "300ms", "-c", "4")
	if code != 0 || time.Since(start) > 5*time.Second || !strings.Contains(out, "status: 200×") {
		t.Fatalf("exit %d after %s: %s", code, time.Since(start), out)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	if code, _, errOut := sendhook(t); code != 2 || !strings.Contains(errOut, "no secret") {
		t.Errorf("no secret: exit %d %q", code, errOut)
	}
	if code, _, _ := sendhook(t, "-secret", "s", "-file", "/nonexistent"); code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
	if code, _, _ := sendhook(t, "-bogus"); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
}

func TestHelpListsSubcommandsAndExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-secret", "s", "-help"}} {
		code, out, errOut := sendhook(t, args...)
		if code != 0 || !strings.Contains(out, "sendhook check") || !strings.Contains(out, "-cacert") || errOut != "" {
			t.Errorf("sendhook %v: exit %d, stdout %q, stderr %q; want exit 0 and the usage with the check subcommand on stdout", args, code, out, errOut)
		}
	}
	code, out, _ := sendhook(t, "check", "-h")
	if code != 0 || !strings.Contains(out, "-drain") || !strings.Contains(out, "WARNING") || !strings.Contains(out, "without changing it") {
		t.Errorf("sendhook check -h: exit %d, %q; want exit 0, the -drain warning and the NATS read-only note", code, out)
	}
	if code, _, errOut := sendhook(t, "-secret", "s", "stray"); code != 2 || !strings.Contains(errOut, "stray") {
		t.Errorf("stray argument: exit %d %q", code, errOut)
	}
}

// A bridge serving HTTPS with a certificate from a private CA: without -cacert
// the certificate does not verify; with the CA's file, one send and a load work.
func TestCACert(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewMemory()
	b, err := bridge.New(bridge.Config{Secrets: []string{secret}, DedupTTL: time.Minute, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(b)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/webhooks"

	code, out, errOut := sendhook(t, "-url", url, "-secret", secret, "-id", "tls-0")
	if code != 1 || !strings.Contains(errOut, "certificate") {
		t.Fatalf("without -cacert: exit %d, %q %q; want a certificate error", code, out, errOut)
	}
	code, out, errOut = sendhook(t, "-url", url, "-secret", secret, "-id", "tls-1", "-cacert", ca)
	if code != 0 || !strings.HasPrefix(out, "200 ") {
		t.Fatalf("with -cacert: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = sendhook(t, "-url", url, "-secret", secret, "-n", "40", "-c", "4", "-cacert", ca)
	if code != 0 || !strings.Contains(out, "status: 200×40") {
		t.Fatalf("load with -cacert: exit %d, %q %q", code, out, errOut)
	}
	if n := len(sink.Messages()); n != 41 {
		t.Errorf("%d messages in the sink, want 41", n)
	}
	if code, _, errOut := sendhook(t, "-url", url, "-secret", secret, "-cacert", "/nonexistent.pem"); code != 2 || !strings.Contains(errOut, "-cacert") {
		t.Errorf("unreadable -cacert: exit %d %q", code, errOut)
	}
}
