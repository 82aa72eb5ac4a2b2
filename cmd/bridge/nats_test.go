package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// startFails runs the bridge with env (on top of a secret and a private data
// directory) and returns its one error line, failing unless it exited 2 at start.
func startFails(t *testing.T, env map[string]string) string {
	t.Helper()
	all := map[string]string{"BRIDGE_WEBHOOK_SECRET": testSecret, "BRIDGE_DATA_DIR": t.TempDir(), "BRIDGE_LISTEN_ADDR": "127.0.0.1:0"}
	if _, ok := env["BRIDGE_NATS_EMBEDDED_LISTEN"]; !ok {
		all["BRIDGE_NATS_EMBEDDED_LISTEN"] = freeAddr(t)
	}
	for k, v := range env {
		all[k] = v
	}
	setEnv(t, all)
	var stderr lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := run(ctx, &stderr, func(string) { t.Error("bridge started listening") }); code != 2 {
		t.Fatalf("exit status %d, want 2; stderr:\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var entry struct{ Level, Msg string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &entry); err != nil || entry.Level != "ERROR" {
		t.Fatalf("last line is not a JSON error: %q", lines[len(lines)-1])
	}
	t.Log(entry.Msg)
	return entry.Msg
}

func TestNATSEmbeddedBadConfiguration(t *testing.T) {
	_, port, _ := net.SplitHostPort(freeAddr(t))
	for _, c := range []struct {
		name     string
		env      map[string]string
		variable string
	}{
		{"sync not a duration", map[string]string{"BRIDGE_NATS_EMBEDDED_SYNC": "sometimes"}, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"sync zero", map[string]string{"BRIDGE_NATS_EMBEDDED_SYNC": "0s"}, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"sync negative", map[string]string{"BRIDGE_NATS_EMBEDDED_SYNC": "-1s"}, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"all interfaces without token", map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": "0.0.0.0:" + port}, "BRIDGE_NATS_EMBEDDED_TOKEN"},
		{"empty host without token", map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": ":" + port}, "BRIDGE_NATS_EMBEDDED_TOKEN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if msg := startFails(t, c.env); !strings.HasPrefix(msg, "bad configuration: "+c.variable+":") {
				t.Errorf("error %q does not name %s", msg, c.variable)
			}
		})
	}
}

// The clash names both ways out: another address for the embedded server, or the
// server already running there.
func TestNATSEmbeddedPortTakenNamesBothWaysOut(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	msg := startFails(t, map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": taken.Addr().String()})
	if !strings.HasPrefix(msg, "bad configuration: BRIDGE_NATS_EMBEDDED_LISTEN:") || !strings.Contains(msg, "BRIDGE_NATS_URL") {
		t.Errorf("error %q should name BRIDGE_NATS_EMBEDDED_LISTEN and BRIDGE_NATS_URL", msg)
	}
}

// With a token the whole bridge works, consumers need the token, and the token
// appears in no log line.
func TestNATSEmbeddedToken(t *testing.T) {
	const token = "tok-3b1d8e5f0a"
	natsAddr := freeAddr(t)
	b := startBridge(t, map[string]string{
		"BRIDGE_NATS_EMBEDDED_LISTEN": natsAddr,
		"BRIDGE_NATS_EMBEDDED_TOKEN":  token,
		"BRIDGE_DATA_DIR":             t.TempDir(),
	})
	if r := b.post(t, sample, "tok-1"); r.status != 200 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	if nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(0)); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("consumer without the token: connect = %v, want an authorization violation", err)
	}
	if msgs := streamMsgs(t, "nats://"+token+"@"+natsAddr, "AUDIOSPLITER"); len(msgs) != 1 {
		t.Fatalf("stream holds %d messages, want 1", len(msgs))
	}
	b.stop(t)
	if strings.Contains(b.stderr.String(), token) {
		t.Errorf("the token reached the log:\n%s", b.stderr.String())
	}
}
