package natsjs_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// setJobID makes msg's jobId, and its audiospliter-job-id header, n bytes long.
func setJobID(msg sinks.Message, n int) sinks.Message {
	msg.JobID = strings.Repeat("j", n)
	for i, h := range msg.Headers {
		if h.Name == sinks.HeaderJobID {
			msg.Headers[i].Value = msg.JobID
		}
	}
	return msg
}

// The header block counts against the server's max_payload with the body. A message
// over it because of a jobId far larger than any sender needs is the headers'
// fault: ErrInvalid (400), not ErrTooLarge (413), which tells the sender its body
// is too large. A body that does not fit with ordinary headers stays ErrTooLarge.
// Concurrent publishes are not disturbed, and the edge is exact: a message of
// exactly max_payload goes through.
func TestHeadersCountAgainstMaxPayload(t *testing.T) {
	t.Parallel()
	ts := startServer(t) // default max_payload: 1 MiB
	env := openEnv(t, ts)
	defer env.Sink.Close()
	s := env.Sink.(*natsjs.Sink)
	const maxPayload = 1 << 20

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if err := s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("ordinary-%d-%d", i, j))); err != nil {
					t.Errorf("ordinary publish: %v", err)
				}
			}
		})
	}
	for i := range 10 {
		msg := setJobID(sinktest.NewMessage(fmt.Sprintf("huge-job-%d", i)), 600_000)
		msg.Body = make([]byte, 500_000)
		err := s.Publish(t.Context(), msg)
		if !errors.Is(err, sinks.ErrInvalid) || !strings.Contains(err.Error(), sinks.HeaderJobID) {
			t.Errorf("500 KB body with a 600 KB jobId: %v, want ErrInvalid naming %s", err, sinks.HeaderJobID)
		}
	}
	wg.Wait()

	big := sinktest.NewMessage("big-body")
	big.Body = make([]byte, maxPayload-100)
	if err := s.Publish(t.Context(), big); !errors.Is(err, sinks.ErrTooLarge) {
		t.Errorf("a body 100 bytes under max_payload with ordinary headers: %v, want ErrTooLarge", err)
	}

	// At the edge, with a jobId under JetStream's own bound on headers.
	edge := setJobID(sinktest.NewMessage("edge"), 0)
	edge.Body = make([]byte, maxPayload-60_000)
	edge = setJobID(edge, maxPayload-len(edge.Body)-s.HeaderBlockSize(edge))
	if err := s.Publish(t.Context(), edge); err != nil {
		t.Fatalf("body and headers of exactly max_payload: %v", err)
	}
	over := setJobID(sinktest.NewMessage("edge-over"), 0)
	over.Body = edge.Body
	over = setJobID(over, maxPayload-len(over.Body)-s.HeaderBlockSize(over)+1)
	if err := s.Publish(t.Context(), over); !errors.Is(err, sinks.ErrInvalid) {
		t.Fatalf("one byte over max_payload by the jobId: %v, want ErrInvalid", err)
	}
	wantOn(t, env, "edge", edge.JobID, 161, "edge-over", "big-body")
}

// JetStream stores a header block of at most 65535 bytes, whatever max_payload
// allows: a longer one is refused by the server with an API error the sink used to
// retry until the publish timeout. It is the headers' fault (ErrInvalid), found
// before anything is written, and a block of exactly 65535 bytes is stored.
func TestHeaderBlockOverJetStreamLimit(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	env := openEnv(t, ts)
	defer env.Sink.Close()
	s := env.Sink.(*natsjs.Sink)
	const limit = 1<<16 - 1
	edge := setJobID(sinktest.NewMessage("edge"), 0)
	edge = setJobID(edge, limit-s.HeaderBlockSize(edge))
	if err := s.Publish(t.Context(), edge); err != nil {
		t.Fatalf("a header block of exactly %d bytes: %v", limit, err)
	}
	over := setJobID(sinktest.NewMessage("edge-over"), 0)
	over = setJobID(over, limit-s.HeaderBlockSize(over)+1)
	if err := s.Publish(t.Context(), over); !errors.Is(err, sinks.ErrInvalid) {
		t.Fatalf("a header block of %d bytes: %v, want ErrInvalid", limit+1, err)
	}
	wantOn(t, env, "edge", edge.JobID, 1, "edge-over")
}

// wantOn reads at least n messages from env and checks that id is there with jobID
// and none of absent is.
func wantOn(t *testing.T, env sinktest.Env, id, jobID string, n int, absent ...string) {
	t.Helper()
	var found bool
	for _, m := range env.Read(t, n) {
		if m.ID == id {
			found = m.Headers[sinks.HeaderJobID] == jobID
		}
		for _, a := range absent {
			if m.ID == a {
				t.Errorf("%s is on the stream", m.ID)
			}
		}
	}
	if !found {
		t.Errorf("%s is not on the stream with its jobId", id)
	}
}

// An existing stream's max_msg_size is a limit too, checked the same way: the
// server would refuse either message, but only the large body is a 413.
func TestHeadersCountAgainstStreamMaxMsgSize(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "SMALL", Subjects: []string{"small.>"}, MaxMsgSize: 8192}); err != nil {
		t.Fatal(err)
	}
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: ts.URL(), Stream: "SMALL", SubjectPrefix: "small"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Publish(t.Context(), setJobID(sinktest.NewMessage("long-job"), 10_000)); !errors.Is(err, sinks.ErrInvalid) {
		t.Errorf("a 10 KB jobId on a stream of 8 KiB messages: %v, want ErrInvalid", err)
	}
	big := sinktest.NewMessage("big-body")
	big.Body = make([]byte, 10_000)
	if err := s.Publish(t.Context(), big); !errors.Is(err, sinks.ErrTooLarge) {
		t.Errorf("a 10 KB body on a stream of 8 KiB messages: %v, want ErrTooLarge", err)
	}
	if err := s.Publish(t.Context(), sinktest.NewMessage("fits")); err != nil {
		t.Errorf("an ordinary message: %v", err)
	}
}
