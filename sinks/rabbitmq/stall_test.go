package rabbitmq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// bigMessage is a delivery whose body is about size bytes of valid JSON.
func bigMessage(id string, size int) sinks.Message {
	msg := sinktest.NewMessage(id)
	msg.Body = fmt.Appendf(nil, `{"event":"job.completed","jobId":"job_big","pad":"%s"}`, bytes.Repeat([]byte("x"), size))
	return msg
}

// A body larger than any the connection has carried goes alone on a channel of its
// own, opened again after the broker closed it for a body over max_message_size.
// Opening waits for the broker's answer, which amqp091-go waits for without a
// context: with the broker stalled, that publish too must end at its deadline, and
// the sink recovers once the stall clears.
func TestStalledBrokerProbeChannelReturnsInTime(t *testing.T) {
	// Not in parallel: it times a publish against its deadline.
	const limit = 65536
	n := rabbittest.StartNode(t, rabbittest.Options{Conf: []string{fmt.Sprintf("max_message_size = %d", limit)}})
	proxy := testkit.StartProxy(t, n.Addr)
	top := rabbittest.NewTopology(t, n.URL)
	s := openSink(t, fmt.Sprintf("amqp://guest:guest@%s/", proxy.Addr()), top, "classic")
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("small")); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), bigMessage("over-the-limit", limit+1000)); !errors.Is(err, sinks.ErrTooLarge) {
		t.Fatalf("body over max_message_size = %v, want ErrTooLarge", err)
	}

	proxy.SetStalled(true)
	const deadline = time.Second
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	start := time.Now()
	err := s.Publish(ctx, bigMessage("new-largest", limit/2))
	took := time.Since(start)
	cancel()
	t.Logf("a new largest body during the stall: %v after %s", err, took.Round(time.Millisecond))
	if err == nil || errors.Is(err, sinks.ErrPermanent) || took > deadline+1500*time.Millisecond {
		t.Errorf("a new largest body during the stall: %v after %s, want a retryable error within %s", err, took.Round(time.Millisecond), deadline)
	}

	proxy.SetStalled(false)
	if !testkit.Poll(30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		err = s.Publish(ctx, bigMessage(fmt.Sprintf("after-stall-%d", time.Now().UnixNano()), limit/2))
		return err == nil
	}) {
		t.Fatalf("no publish succeeded within 30 s after the stall cleared: %v", err)
	}
}
