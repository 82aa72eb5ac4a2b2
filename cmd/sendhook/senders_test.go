package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// serveSenders serves a bridge with bridgetest's five senders (one per scheme)
// in front of an in-memory sink.
func serveSenders(t *testing.T) (*httptest.Server, *sinktest.Memory, []bridgetest.Sender) {
	t.Helper()
	five := bridgetest.FiveSenders()
	sink := sinktest.NewMemory()
	cfg := bridge.Config{DedupTTL: time.Minute, Sink: sink}
	for i := range five {
		cfg.Senders = append(cfg.Senders, five[i].Bridge())
	}
	b, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return srv, sink, five
}

// sendhook speaks every scheme from its flags: each sender's delivery is 200 on
// its path, and signed with the wrong secret 401.
func TestSendEveryScheme(t *testing.T) {
	t.Parallel()
	srv, sink, five := serveSenders(t)
	hmacFlags := []string{"-hmac-header", "X-Partner-Signature", "-hmac-algorithm", "sha512", "-hmac-encoding", "base64",
		"-hmac-prefix", "sha512=", "-hmac-delivery-header", "X-Partner-Delivery", "-hmac-event-field", "kind"}
	for _, s := range five {
		args := []string{"-url", srv.URL + s.Path, "-scheme", s.Scheme, "-secret", s.Secret, "-id", "one-" + s.Name}
		if s.Scheme == "hmac" {
			args = append(args, hmacFlags...)
		}
		if s.Scheme == "github" {
			args = append(args, "-event", "pull_request")
		}
		code, out, errOut := sendhook(t, args...)
		if code != 0 || out != `200 {"received":true,"deliveryId":"one-`+s.Name+`"}`+"\n" {
			t.Errorf("%s: exit %d, output %q %s", s.Name, code, out, errOut)
		}
		wrong := "whsec_d3Jvbmctc2VjcmV0LTAxMjM0NTY3ODk="
		args[5] = wrong
		if code, out, _ := sendhook(t, args...); code != 1 || !strings.HasPrefix(out, "401 ") {
			t.Errorf("%s with another secret: exit %d, output %q", s.Name, code, out)
		}
	}
	got := map[string]string{}
	for _, m := range sink.Messages() {
		got[m.ID] = m.Event
	}
	for s, event := range map[string]string{"audiospliter": "job.completed", "svix": "invoice.paid", "github": "pull_request",
		"billing": "invoice.paid", "partner": "order.created"} {
		if got[s+":one-"+s] != event {
			t.Errorf("%s: message %v, want event %s", s, got, event)
		}
	}
	// A scheme's option on another scheme, or an unknown scheme, is a usage error.
	if code, _, errOut := sendhook(t, "-url", srv.URL, "-scheme", "paypal", "-secret", "x"); code != 2 || !strings.Contains(errOut, "paypal") {
		t.Errorf("unknown scheme: exit %d %s", code, errOut)
	}
	if code, _, errOut := sendhook(t, "-url", srv.URL, "-scheme", "github", "-secret", "x", "-hmac-header", "X"); code != 2 || !strings.Contains(errOut, "hmac") {
		t.Errorf("hmac options on github: exit %d %s", code, errOut)
	}
}

// With -senders-file and -sender, sendhook signs as that sender (its scheme, its
// options, its secret_file's first secret, to its path), and a load writes the
// message ids the bridge makes, <sender>:<id>, to -acked.
func TestLoadAsASenderOfTheFile(t *testing.T) {
	t.Parallel()
	srv, sink, five := serveSenders(t)
	path := bridgetest.WriteSendersFile(t, t.TempDir(), five)
	acked := filepath.Join(t.TempDir(), "acked.txt")
	code, out, errOut := sendhook(t, "-url", srv.URL, "-senders-file", path, "-sender", "partner", "-n", "200", "-c", "4", "-acked", acked)
	if code != 0 || !strings.Contains(out, "status: 200×200") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	lines, err := readLines(acked)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, m := range sink.Messages() {
		held[m.ID] = true
	}
	if len(lines) != 200 {
		t.Fatalf("%d ids in -acked, want 200", len(lines))
	}
	for _, id := range lines {
		if !strings.HasPrefix(id, "partner:") || !held[id] {
			t.Fatalf("acked %q: not a partner message id the sink holds", id)
		}
	}
	if code, _, errOut := sendhook(t, "-url", srv.URL, "-senders-file", path, "-sender", "nobody"); code != 2 || !strings.Contains(errOut, "nobody") {
		t.Errorf("an unknown sender: exit %d %s", code, errOut)
	}
}

// startSendersApp runs the bridge (app.Run) with the five senders and the sink edit
// sets; it returns its address.
func startSendersApp(t *testing.T, five []bridgetest.Sender, edit func(*config.Config)) string {
	t.Helper()
	c := config.Default()
	c.SendersFile = bridgetest.WriteSendersFile(t, t.TempDir(), five)
	c.ListenAddr = "127.0.0.1:0"
	c.Nats.EmbeddedListen = testkit.FreeAddr(t)
	c.DataDir = t.TempDir()
	if edit != nil {
		edit(c)
	}
	if err := c.Validate(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{Config: c, Logger: slog.New(slog.DiscardHandler), OnListen: func(a string) { addr <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the bridge stopped with %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("bridge did not stop")
		}
	})
	select {
	case a := <-addr:
		return a
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("bridge stopped at start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("bridge did not start")
	}
	return ""
}

// The loss checker finds <sender>:<id> message ids: on NATS as Nats-Msg-Id, on SQS
// from ce-source and ce-id (-senders, the default when BRIDGE_SENDERS_FILE is set).
// Two senders' loads, checked together, lose nothing; an id the broker lacks is
// reported lost.
func checkSenderLoads(t *testing.T, addr, sendersFile string, checkArgs []string, env map[string]string) {
	t.Helper()
	var all []string
	for _, name := range []string{"billing", "svix"} {
		acked := filepath.Join(t.TempDir(), name+".txt")
		code, out, errOut := sendhook(t, "-url", "http://"+addr, "-senders-file", sendersFile, "-sender", name, "-n", "50", "-c", "4", "-acked", acked)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s %s", name, code, out, errOut)
		}
		lines, _ := readLines(acked)
		all = append(all, lines...)
	}
	file := ackedFile(t, append(all, "billing:never-sent"))
	code, out, errOut := sendhookEnv(t, env, append([]string{"check", "-acked", file}, checkArgs...)...)
	if code != 1 || !strings.Contains(out, "acked: 101  found: 100 distinct  lost: 1 ") || !strings.Contains(out, "lost: billing:never-sent") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
}

func TestCheckFindsSenderMessageIDsNATS(t *testing.T) {
	t.Parallel()
	five := bridgetest.FiveSenders()
	natsAddr := testkit.FreeAddr(t)
	addr := startSendersApp(t, five, func(c *config.Config) { c.Nats.EmbeddedListen = natsAddr })
	checkSenderLoads(t, addr, bridgetest.WriteSendersFile(t, t.TempDir(), five), []string{"-sink", "nats", "-nats-url", "nats://" + natsAddr}, nil)
}

func TestCheckFindsSenderMessageIDsSQS(t *testing.T) {
	// Not in parallel: sqstest.Env sets the process's AWS variables.
	sqstest.Env(t)
	five := bridgetest.FiveSenders()
	srv := sqstest.Start(t)
	queue := srv.CreateQueue(t, false, nil)
	addr := startSendersApp(t, five, func(c *config.Config) { c.Sink, c.Sqs.Endpoint, c.Sqs.QueueURL = "sqs", srv.Endpoint(), queue })
	checkSenderLoads(t, addr, bridgetest.WriteSendersFile(t, t.TempDir(), five), []string{"-drain", "-quiet", "500ms"}, map[string]string{
		"BRIDGE_SINK": "sqs", "BRIDGE_SQS_QUEUE_URL": queue, "BRIDGE_SQS_ENDPOINT": srv.Endpoint(), "BRIDGE_SENDERS_FILE": "senders.yaml",
	})
}
