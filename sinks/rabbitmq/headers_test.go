package rabbitmq_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// withJobID is a message whose jobId (and so its audiospliter-job-id header) is n
// bytes long.
func withJobID(id string, n int) sinks.Message { return setJobID(sinktest.NewMessage(id), n) }

// setJobID makes msg's jobId n bytes long.
func setJobID(msg sinks.Message, n int) sinks.Message {
	msg.JobID = strings.Repeat("j", n)
	for i, h := range msg.Headers {
		if h.Name == sinks.HeaderJobID {
			msg.Headers[i].Value = msg.JobID
		}
	}
	return msg
}

// frameMax is what the broker at url negotiates with amqp091-go's defaults, as the
// sink's connection does.
func frameMax(t *testing.T, url string) int {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.Config.FrameSize
}

// A jobId of 200 KB does not fit the AMQP frame that carries the headers. Sent as
// it is, RabbitMQ closes the whole connection (FRAME_ERROR) and every publish that
// shares it fails. The sink refuses it before writing anything, with ErrInvalid (the
// bridge's 400), while concurrent publishes all succeed on a connection that stays
// up. The check is exact: a header frame of exactly frame_max goes through.
func TestHeadersOverFrameMaxFailAlone(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	var logs testkit.LockedBuffer
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, Exchange: top.Exchange, Queue: top.Queue, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("ordinary-%d-%d", w, i))); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond) // a steady load, not a CPU hog
			}
		})
	}
	// What a sender's retries do: the same oversized delivery again and again.
	for i := range 20 {
		err := s.Publish(t.Context(), withJobID(fmt.Sprintf("huge-%d", i), 200_000))
		if !errors.Is(err, sinks.ErrInvalid) {
			t.Errorf("publish with a 200 KB jobId: %v, want ErrInvalid", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("20 publishes with a 200 KB jobId among %d ordinary ones, %d of which failed", ok.Load()+failed.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d ordinary publishes failed (first: %v)", failed.Load(), firstErr.Load())
	}
	if ok.Load() == 0 {
		t.Error("no ordinary publish succeeded")
	}
	if strings.Contains(logs.String(), "reconnecting") {
		t.Errorf("the shared connection was lost:\n%s", logs.String())
	}

	// At the edge: a content header frame of exactly frame_max is carried.
	limit := frameMax(t, url)
	edge := withJobID("edge", 0)
	edge = setJobID(edge, limit-rabbitmq.HeaderFrameSize(edge))
	if got := rabbitmq.HeaderFrameSize(edge); got != limit {
		t.Fatalf("header frame of %d bytes, want %d", got, limit)
	}
	if err := s.Publish(t.Context(), edge); err != nil {
		t.Fatalf("a header frame of exactly frame_max (%d): %v", limit, err)
	}
	over := withJobID("edge-over", 0)
	over = setJobID(over, limit-rabbitmq.HeaderFrameSize(over)+1)
	if err := s.Publish(t.Context(), over); !errors.Is(err, sinks.ErrInvalid) {
		t.Fatalf("a header frame one byte over frame_max: %v, want ErrInvalid", err)
	}
	if err := s.Publish(t.Context(), sinktest.NewMessage("after-the-edge")); err != nil {
		t.Fatalf("an ordinary publish after the edge: %v", err)
	}
	r := &rabbittest.Reader{URL: url, Queue: top.Queue}
	var found bool
	for _, d := range r.Read(t, int(ok.Load())+2) {
		if d.MessageId == "edge" {
			found = d.Headers[sinks.HeaderJobID] == edge.JobID
		}
		if d.MessageId == "edge-over" || strings.HasPrefix(d.MessageId, "huge-") {
			t.Errorf("message %s reached the queue", d.MessageId)
		}
	}
	if !found {
		t.Error("the message at the edge of frame_max is not on the queue with its jobId")
	}
	if strings.Contains(logs.String(), "reconnecting") {
		t.Errorf("the shared connection was lost:\n%s", logs.String())
	}
}

// AMQP short strings hold 255 bytes: a longer message id would fail inside
// amqp091-go after the publish's first frame is buffered, closing the connection.
func TestShortStringPropertiesRefusedBeforeWriting(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	var logs testkit.LockedBuffer
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, Exchange: top.Exchange, Queue: top.Queue, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msg := sinktest.NewMessage(strings.Repeat("i", 256))
	if err := s.Publish(t.Context(), msg); !errors.Is(err, sinks.ErrInvalid) || !strings.Contains(err.Error(), "message_id") {
		t.Fatalf("a 256-byte message id: %v, want ErrInvalid naming message_id", err)
	}
	if err := s.Publish(t.Context(), sinktest.NewMessage("after-long-id")); err != nil {
		t.Fatalf("the next publish: %v", err)
	}
	if strings.Contains(logs.String(), "reconnecting") {
		t.Errorf("the shared connection was lost:\n%s", logs.String())
	}
}
