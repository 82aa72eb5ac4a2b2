package awssqs_test

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// A queue deleted at runtime is a refusal that holds: a publish is refused at once
// (502 for the sender, not a wait to the publish timeout), saying what is wrong, and
// Ready says so; the queue created again, both are back. The endpoint gone is
// unavailable, not refused.
func TestQueueDeletedAtRuntimeIsRefused(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, false, nil)
	s := openSink(t, srv, url, nil)
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("before")); err != nil {
		t.Fatal(err)
	}
	srv.DeleteQueue(t, url)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Publish(ctx, sinktest.NewMessage("deleted"))
	if !errors.Is(err, sinks.ErrRefused) || !errors.Is(err, sinks.ErrPermanent) || !strings.Contains(err.Error(), "queue does not exist") {
		t.Fatalf("Publish to a deleted queue = %v, want ErrRefused saying the queue does not exist", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the refusal took %s", took)
	}
	if err := s.Ready(t.Context()); !errors.Is(err, sinks.ErrRefused) {
		t.Errorf("Ready with the queue deleted = %v, want ErrRefused", err)
	}

	srv.CreateNamedQueue(t, path.Base(url), nil)
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("Ready with the queue back = %v", err)
	}
	if err := s.Publish(t.Context(), sinktest.NewMessage("after")); err != nil {
		t.Errorf("Publish with the queue back = %v", err)
	}

	srv.Stop()
	if err := s.Ready(t.Context()); !errors.Is(err, sinks.ErrUnavailable) {
		t.Errorf("Ready with the endpoint gone = %v, want ErrUnavailable", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := s.Publish(ctx, sinktest.NewMessage("endpoint-gone")); !errors.Is(err, sinks.ErrUnavailable) || errors.Is(err, sinks.ErrPermanent) {
		t.Errorf("Publish with the endpoint gone = %v, want ErrUnavailable (retryable)", err)
	}
}
