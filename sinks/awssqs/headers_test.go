package awssqs_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// setJobID makes msg's jobId, and its audiospliter-job-id attribute, n bytes long.
func setJobID(msg sinks.Message, n int) sinks.Message {
	msg.JobID = strings.Repeat("j", n)
	for i, h := range msg.Headers {
		if h.Name == sinks.HeaderJobID {
			msg.Headers[i].Value = msg.JobID
		}
	}
	return msg
}

// attributesSize is what msg's attributes count toward its size on SQS: each one's
// name, data type and value.
func attributesSize(msg sinks.Message) int {
	n := 0
	for _, h := range msg.Headers {
		if h.Value != "" && h.Name != sinks.HeaderTraceParent && h.Name != sinks.HeaderTraceState {
			n += len(h.Name) + len("String") + len(h.Value)
		}
	}
	return n
}

// Attribute values count toward the queue's MaximumMessageSize. A message over it
// because of a jobId far larger than any sender needs is the attributes' fault:
// ErrInvalid (400) before any call, not ErrTooLarge (413), which tells the sender
// its body is too large; the messages batched with it are stored. A body that does
// not fit with ordinary attributes stays ErrTooLarge, and a message of exactly the
// limit is sent.
func TestAttributesCountAgainstMaximumMessageSize(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	const limit = 4096
	url := srv.CreateQueue(t, false, map[string]string{"MaximumMessageSize": fmt.Sprint(limit)})
	counter := &countingTransport{}
	s := openSink(t, srv, url, func(c *awssqs.Config) {
		c.HTTPClient = counter
		c.Linger = 50 * time.Millisecond // long enough for the publishes below to share batches
	})
	defer s.Close()

	before := counter.n.Load()
	err := s.Publish(t.Context(), setJobID(sinktest.NewMessage("long-job"), 8000))
	if !errors.Is(err, sinks.ErrInvalid) || !strings.Contains(err.Error(), sinks.HeaderJobID) {
		t.Errorf("an 8000-byte jobId under a 4096-byte limit: %v, want ErrInvalid naming %s", err, sinks.HeaderJobID)
	}
	big := sinktest.NewMessage("big-body")
	big.Body = []byte(`{"event":"job.completed","pad":"` + strings.Repeat("x", 5000) + `"}`)
	if err := s.Publish(t.Context(), big); !errors.Is(err, sinks.ErrTooLarge) {
		t.Errorf("a 5000-byte body under a 4096-byte limit: %v, want ErrTooLarge", err)
	}
	if n := counter.n.Load() - before; n != 0 {
		t.Errorf("%d API calls for messages refused before sending", n)
	}

	// Concurrent publishes share batches with one whose jobId is too long.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			msg := sinktest.NewMessage(fmt.Sprintf("batched-%d", i))
			if i == 7 {
				msg = setJobID(msg, 8000)
			}
			err := s.Publish(t.Context(), msg)
			switch {
			case i == 7 && !errors.Is(err, sinks.ErrInvalid):
				t.Errorf("the long jobId among batch-mates: %v, want ErrInvalid", err)
			case i != 7 && err != nil:
				t.Errorf("batch-mate %d: %v", i, err)
			}
		})
	}
	wg.Wait()

	edge := setJobID(sinktest.NewMessage("edge"), 1)
	edge.Body = []byte(`{"event":"job.completed"}`)
	edge = setJobID(edge, limit-len(edge.Body)-attributesSize(edge)+1)
	if err := s.Publish(t.Context(), edge); err != nil {
		t.Fatalf("body and attributes of exactly MaximumMessageSize: %v", err)
	}
	over := setJobID(sinktest.NewMessage("edge-over"), 1)
	over.Body = edge.Body
	over = setJobID(over, limit-len(over.Body)-attributesSize(over)+2)
	if err := s.Publish(t.Context(), over); !errors.Is(err, sinks.ErrInvalid) {
		t.Fatalf("one byte over MaximumMessageSize by the jobId: %v, want ErrInvalid", err)
	}
	n := countOnQueue((&sqstest.Reader{Server: srv, URL: url}).Read(t, 20))
	for _, id := range []string{"edge", "batched-0", "batched-19"} {
		if n[id] != 1 {
			t.Errorf("%s is %d times on the queue, want once", id, n[id])
		}
	}
	for _, id := range []string{"long-job", "big-body", "batched-7", "edge-over"} {
		if n[id] != 0 {
			t.Errorf("%s is on the queue", id)
		}
	}
}
