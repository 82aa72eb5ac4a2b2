package natsjs_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

type testServer = natstest.Server

func startServer(t testing.TB) *testServer { return natstest.Start(t) }

var streamSeq atomic.Int64

// openEnv gives each test its own stream and subject prefix on ts.
func openEnv(t testing.TB, ts *testServer) sinktest.Env {
	t.Helper()
	return openEnvWith(t, ts, natsjs.Config{})
}

// openEnvWith is openEnv with the connection settings of cfg (TLS, credentials).
func openEnvWith(t testing.TB, ts *testServer, cfg natsjs.Config) sinktest.Env {
	t.Helper()
	n := streamSeq.Add(1)
	cfg.URL = ts.URL()
	cfg.Stream = fmt.Sprintf("TEST%d", n)
	cfg.SubjectPrefix = fmt.Sprintf("test%d", n)
	s, err := natsjs.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("natsjs.New: %v", err)
	}
	return sinktest.Env{
		Sink: s,
		Read: func(t *testing.T, atLeast int) []sinktest.Received {
			got := readStream(t, ts.URL(), cfg.Stream, atLeast, ts.ClientOptions()...)
			for i := range got {
				got[i].Route = strings.TrimPrefix(got[i].Headers["subject"], cfg.SubjectPrefix+".")
			}
			return got
		},
		Restart: func(t *testing.T) { ts.Restart(t) },
	}
}

// readStream reads the stream as a consumer would.
func readStream(t testing.TB, url, stream string, atLeast int, opts ...nats.Option) []sinktest.Received {
	t.Helper()
	var out []sinktest.Received
	for _, raw := range natstest.ReadStream(t, url, stream, atLeast, opts...) {
		r := sinktest.Received{ID: raw.Header.Get(jetstream.MsgIDHeader), Body: raw.Data, Headers: map[string]string{}}
		for k, v := range raw.Header {
			r.Headers[k] = v[0]
		}
		r.Headers["subject"] = raw.Subject
		out = append(out, r)
	}
	return out
}

func TestConformance(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	sinktest.Run(t, sinktest.Harness{
		Open: func(t *testing.T) sinktest.Env {
			// The restart case must not disturb the others: it gets its own server.
			if t.Name() == "TestConformance/BrokerRestart" {
				return openEnv(t, startServer(t))
			}
			return openEnv(t, ts)
		},
		Dedup:  true,
		Routes: true,
	})
}

func TestSubjectAndHeaders(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	env := openEnv(t, ts)
	defer env.Sink.Close()
	msg := sinktest.NewMessage("subj-1")
	msg.Event = "job.failed"
	if err := env.Sink.Publish(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := env.Read(t, 1)[0]
	sink := env.Sink.(*natsjs.Sink)
	if want := sink.Subject("job.failed"); got.Headers["subject"] != want {
		t.Errorf("subject = %q, want %q", got.Headers["subject"], want)
	}
	if got.Headers["Nats-Msg-Id"] != "subj-1" {
		t.Errorf("Nats-Msg-Id = %q", got.Headers["Nats-Msg-Id"])
	}
}

func TestInvalidSubjectIsPermanent(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	env := openEnv(t, ts)
	defer env.Sink.Close()
	for _, event := range []string{"job completed", "job.*", "job.>", "job..x", ".job", "job.", "a\tb", string(make([]byte, 2000))} {
		msg := sinktest.NewMessage("bad-subject")
		msg.Event = event
		err := env.Sink.Publish(t.Context(), msg)
		if !errors.Is(err, sinks.ErrInvalid) || !errors.Is(err, sinks.ErrPermanent) {
			t.Errorf("event %q: Publish = %v, want ErrInvalid (permanent)", event, err)
		}
	}
	// The connection survived: a valid event still goes through.
	if err := env.Sink.Publish(t.Context(), sinktest.NewMessage("good-after-bad")); err != nil {
		t.Fatalf("valid publish after invalid ones: %v", err)
	}
}

func TestTooLargeIsPermanent(t *testing.T) {
	t.Parallel()
	ts := startServer(t) // default max_payload: 1 MiB
	env := openEnv(t, ts)
	defer env.Sink.Close()
	msg := sinktest.NewMessage("big-1")
	msg.Body = make([]byte, 2<<20)
	err := env.Sink.Publish(t.Context(), msg)
	if !errors.Is(err, sinks.ErrTooLarge) {
		t.Fatalf("Publish of 2 MiB = %v, want ErrTooLarge", err)
	}
}

func TestUnreachableAtStart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = natsjs.New(t.Context(), natsjs.Config{URL: "nats://" + addr, ConnectTimeout: time.Second})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "URL" {
		t.Fatalf("New against a closed port = %v, want a ConfigError on URL", err)
	}
	// What the dial met, as the RabbitMQ sink says it, not nats.go's summary.
	if msg := err.Error(); !strings.Contains(msg, "connection refused") || strings.Contains(msg, "no servers available") {
		t.Errorf("New against a closed port = %q, want it to say connection refused", msg)
	}
}

func TestStreamNotCapturingPrefix(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err = natsjs.New(t.Context(), natsjs.Config{URL: ts.URL(), Stream: "OTHER", SubjectPrefix: "audiospliter"})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "Stream" {
		t.Fatalf("New with a stream that does not capture the prefix = %v, want a ConfigError on Stream", err)
	}
	// It says the stream exists, shows its subjects, and offers the fixes.
	msg := err.Error()
	for _, want := range []string{"stream OTHER exists", "[other.>]", "audiospliter.>", "nats stream edit OTHER", "another stream", "subject prefix"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "not found") {
		t.Errorf("error %q says \"not found\" about a stream that exists", msg)
	}
	if len(ce.Also) != 1 || ce.Also[0] != "SubjectPrefix" {
		t.Errorf("Also = %v, want the subject prefix as the other setting that mends it", ce.Also)
	}

	// A stream of another name already captures the subjects: the bridge cannot
	// create its own, and says which stream to use.
	_, err = natsjs.New(t.Context(), natsjs.Config{URL: ts.URL(), Stream: "MINE", SubjectPrefix: "other"})
	if !errors.As(err, &ce) || ce.Field != "Stream" || !strings.Contains(err.Error(), `stream "OTHER" already captures`) {
		t.Fatalf("New with the subjects taken by another stream = %v, want a ConfigError on Stream naming OTHER", err)
	}
	t.Log(err)
}

func TestEmbeddedKeepsMessagesAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := natsjs.Config{EmbeddedListen: testkit.FreeAddr(t), DataDir: dir}
	s, err := natsjs.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	msg := sinktest.NewMessage("embedded-1")
	if err := s.Publish(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	// Consumers reach the embedded server over TCP like any NATS server.
	got := readStream(t, "nats://"+cfg.EmbeddedListen, "AUDIOSPLITER", 1)
	sinktest.AssertCarries(t, got[0], msg)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = natsjs.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("reopen on the same store: %v", err)
	}
	defer s.Close()
	got = readStream(t, "nats://"+cfg.EmbeddedListen, "AUDIOSPLITER", 1)
	if len(got) != 1 || got[0].ID != msg.ID {
		t.Fatalf("after restart the stream holds %v, want %s", got, msg.ID)
	}
}

func TestEmbeddedPortTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = natsjs.New(t.Context(), natsjs.Config{EmbeddedListen: ln.Addr().String(), DataDir: t.TempDir()})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "EmbeddedListen" {
		t.Fatalf("New on a taken port = %v, want a ConfigError on EmbeddedListen", err)
	}
}

func TestStreamDeletedAtRuntimeIsCreatedAgain(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	env := openEnv(t, ts)
	defer env.Sink.Close()
	if err := env.Sink.Publish(t.Context(), sinktest.NewMessage("before-delete")); err != nil {
		t.Fatal(err)
	}
	stream := streamOf(t, env)
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	if err := env.Sink.Ready(t.Context()); err == nil {
		t.Error("Ready with the stream deleted = nil")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err = env.Sink.Publish(ctx, sinktest.NewMessage("after-delete-1"))
	if errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("publish with the stream deleted = %v: must stay retryable", err)
	}
	if err := env.Sink.Publish(ctx, sinktest.NewMessage("after-delete-2")); err != nil {
		t.Fatalf("publish after the sink created the stream again: %v", err)
	}
	if err := env.Sink.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the stream came back: %v", err)
	}
}

// A stream at its limits (here: made by an operator with DiscardNew and MaxMsgs)
// refuses the message; that must never count as confirmed.
func TestStreamAtItsLimitsIsNotConfirmed(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "FULL", Subjects: []string{"full.>"}, MaxMsgs: 3, Discard: jetstream.DiscardNew,
	}); err != nil {
		t.Fatal(err)
	}
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: ts.URL(), Stream: "FULL", SubjectPrefix: "full"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		if err := s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("fits-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := s.Publish(ctx, sinktest.NewMessage("one-too-many")); err == nil {
		t.Fatal("a message the full stream refused was reported as published")
	} else {
		t.Logf("refused: %v", err)
	}
	if got := readStream(t, ts.URL(), "FULL", 3); len(got) != 3 {
		t.Fatalf("stream holds %d", len(got))
	}
}

func streamOf(t *testing.T, env sinktest.Env) string {
	t.Helper()
	s := env.Sink.(*natsjs.Sink)
	return s.Stream()
}

// A server named rather than numbered: the sink's dialer resolves the name itself
// (nats.go leaves that to a custom dialer) and a publish goes through.
func TestServerByName(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(ts.URL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	n := streamSeq.Add(1)
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: "nats://localhost:" + port, Stream: fmt.Sprintf("NAMED%d", n), SubjectPrefix: fmt.Sprintf("named%d", n)})
	if err != nil {
		t.Fatalf("connecting by name: %v", err)
	}
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("by-name")); err != nil {
		t.Fatalf("publish through a server reached by name: %v", err)
	}
}
