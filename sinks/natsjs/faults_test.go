package natsjs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Fault tests: a bridge under a load of signed deliveries in front of JetStream
// while the server, the stream or the network fails. Each checks that every
// delivery answered 200 is in the stream, that no answer took longer than the
// publish timeout plus a margin, and that the bridge recovered without a restart.

// With the server away a publish fails at once (no reconnect buffer), retryable,
// and its error says what is wrong in one line, not "outbound buffer limit exceeded"
// alone.
func TestPublishWhileServerDownSaysSo(t *testing.T) {
	t.Parallel()
	ts := startServer(t)
	env := openEnv(t, ts)
	defer env.Sink.Close()
	ts.Stop()
	sink := env.Sink.(*natsjs.Sink)
	testkit.Eventually(t, 5*time.Second, func() bool { return sink.Ready(t.Context()) != nil }, "still ready with the server stopped")
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := sink.Publish(ctx, sinktest.NewMessage("while-down"))
	if err == nil || errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("Publish with the server down = %v, want a retryable error", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "natsjs: publish: no NATS server reachable") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line that starts with the cause", msg)
	}
	if msg := err.Error(); strings.Contains(msg, "outbound buffer") {
		t.Errorf("error %q: an outage is not a full buffer", msg)
	}
	// The bridge answers it broker_unavailable, and readiness says so too.
	if !errors.Is(err, sinks.ErrUnavailable) {
		t.Errorf("Publish with the server down = %v, want ErrUnavailable", err)
	}
	if err := sink.Ready(t.Context()); !errors.Is(err, sinks.ErrUnavailable) {
		t.Errorf("Ready with the server down = %v, want ErrUnavailable", err)
	}
}
