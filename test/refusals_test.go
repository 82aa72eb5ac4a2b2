package test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
)

// The set-up, as an operator meets it: a NATS user allowed audiospliter.>
// and BRIDGE_NATS_SUBJECT_PREFIX=other. A webhook is answered 502 broker_refused at
// once, with the server's words in that request's own log line; /readyz turns 503;
// and once the operator grants the permission (a configuration reload) the bridge
// is ready again and publishes.
func TestNATSPermissionRefusedIs502AtOnce(t *testing.T) {
	t.Parallel()
	users := func(publish ...string) []*server.User {
		return []*server.User{natstest.User("bridge", "bridge-pw-7f3a", append(publish, "$JS.API.>"), []string{"_INBOX.>"})}
	}
	ns := natstest.StartSecure(t, natstest.Secure{Users: users("audiospliter.>")})
	b := startBridge(t, map[string]string{
		"BRIDGE_NATS_URL":            strings.Replace(ns.URL(), "://", "://bridge:bridge-pw-7f3a@", 1),
		"BRIDGE_NATS_SUBJECT_PREFIX": "other",
	})
	start := time.Now()
	r := b.post(t, sample, "refused-1")
	took := time.Since(start)
	if r.Status != 502 {
		t.Fatalf("POST without publish permission = %d %s, want 502", r.Status, r.Body)
	}
	if took > 2*time.Second {
		t.Errorf("answered after %s: the refusal was waited out like a timeout", took)
	}
	line := requestLine(t, b, "refused-1")
	if line["reason"] != "broker_refused" || !strings.Contains(line["err"].(string), `Permissions Violation for Publish to "other.job.completed"`) {
		t.Errorf("the request's log line %v: want reason broker_refused and the server's words", line)
	}
	if rr := apptest.Get(t, b.addr, "/readyz"); rr.Status != 503 {
		t.Errorf("/readyz after the refusal = %d %s, want 503", rr.Status, rr.Body)
	}
	if err := ns.SetUsers(users("audiospliter.>", "other.>")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return apptest.Get(t, b.addr, "/readyz").Status == 200 },
		"/readyz did not come back once the permission was granted")
	if r := b.post(t, sample, "allowed-1"); r.Status != 200 {
		t.Errorf("POST with the permission granted = %d %s", r.Status, r.Body)
	}
	b.stop(t)
	if strings.Contains(b.stderr.String(), "bridge-pw-7f3a") {
		t.Error("the password reached the log")
	}
}

// requestLine is the "webhook" log line of a delivery, waiting for it: the bridge
// writes it after the answer, and the pipe carries it later still.
func requestLine(t *testing.T, b *child, id string) map[string]any {
	t.Helper()
	var found map[string]any
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, l := range logLines(t, b.stderr.String()) {
			if l["msg"] == "webhook" && l["delivery_id"] == id {
				found = l
				return true
			}
		}
		return false
	}, "no log line for delivery %s:\n%s", id, b.stderr)
	return found
}

// NATS start-up errors as clear as RabbitMQ's: a closed port says connection
// refused; a certificate that does not verify against the system roots, with the
// URL in a file, names the CA file, not the URL file; a stream that exists with
// other subjects says so and how to fix it.
func TestNATSStartupErrorsNameTheCause(t *testing.T) {
	t.Parallel()
	ca := certs.NewCA(t, "private CA")
	pair := ca.Server(t)
	tlsServer := natstest.StartSecure(t, natstest.Secure{Cert: &pair})
	urlFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(urlFile, []byte(tlsServer.URL()), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := natstest.Start(t)
	createStream(t, plain.URL(), "AUDIOSPLITER", "orders.>")
	for _, c := range []struct {
		name, variable string
		env            map[string]string
		says           []string
		never          string
	}{
		{"closed port", "BRIDGE_NATS_URL", map[string]string{"BRIDGE_NATS_URL": "nats://" + closedAddr(t)},
			[]string{"connection refused"}, "no servers available"},
		{"no CA for a private certificate, URL in a file", "BRIDGE_NATS_TLS_CA_FILE", map[string]string{"BRIDGE_NATS_URL_FILE": urlFile},
			[]string{"system's CA certificates"}, "BRIDGE_NATS_URL_FILE"},
		{"a stream with other subjects", "BRIDGE_NATS_STREAM", map[string]string{"BRIDGE_NATS_URL": plain.URL()},
			[]string{"stream AUDIOSPLITER exists", "[orders.>]", "nats stream edit AUDIOSPLITER", "BRIDGE_NATS_SUBJECT_PREFIX"}, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			msg := startFails(t, c.env)
			if !strings.HasPrefix(msg, "bad configuration: "+c.variable+":") {
				t.Errorf("%q does not begin with %s", msg, c.variable)
			}
			for _, s := range c.says {
				if !strings.Contains(msg, s) {
					t.Errorf("%q does not say %q", msg, s)
				}
			}
			if strings.Contains(msg, c.never) {
				t.Errorf("%q says %q", msg, c.never)
			}
		})
	}
}

// createStream makes a stream as an operator would, before the bridge starts.
func createStream(t *testing.T, url, name string, subjects ...string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: subjects}); err != nil {
		t.Fatal(err)
	}
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
