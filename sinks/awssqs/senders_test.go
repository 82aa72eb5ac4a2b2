package awssqs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Senders with queues of their own: a standard default queue, a FIFO queue for
// billing, and partner sharing the default. Each queue is read at start (FIFO or
// not on its own), concurrent publishes to both land each on its own queue with
// no entry of one in a batch of the other, and a FIFO queue deduplicates a retry
// by message id ("<sender>:<delivery id>") while keeping two senders apart.
func TestSenderQueues(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	def := srv.CreateQueue(t, false, nil)
	billing := srv.CreateQueue(t, true, nil)
	s := openSink(t, srv, def, func(c *awssqs.Config) {
		c.SenderQueues = map[string]string{"billing": billing, "partner": def}
	})
	defer s.Close()
	if s.FIFO() {
		t.Fatal("the default queue is standard")
	}

	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		for _, sender := range []string{"billing", "partner"} {
			wg.Go(func() {
				if err := s.Publish(t.Context(), sinktest.NewSenderMessage(sender, fmt.Sprintf("d-%02d", i))); err != nil {
					t.Errorf("%s d-%02d: %v", sender, i, err)
				}
			})
		}
	}
	wg.Wait()
	// A retry of one billing delivery, and the same delivery id from another sender
	// to the same FIFO queue: one more message, not two.
	retry := sinktest.NewSenderMessage("billing", "d-00")
	if err := s.Publish(t.Context(), retry); err != nil {
		t.Fatal(err)
	}
	other := sinktest.NewSenderMessage("audit", "d-00")
	s2 := openSink(t, srv, billing, nil) // audit's messages, on the FIFO queue as its default
	defer s2.Close()
	if err := s2.Publish(t.Context(), other); err != nil {
		t.Fatal(err)
	}

	byQueue := map[string][]sinktest.Received{
		billing: sqstest.Received((&sqstest.Reader{Server: srv, URL: billing}).Read(t, n+1)),
		def:     sqstest.Received((&sqstest.Reader{Server: srv, URL: def}).Read(t, n)),
	}
	for url, want := range map[string]string{billing: "billing", def: "partner"} {
		got := byQueue[url]
		count := map[string]int{}
		for _, r := range got {
			count[r.Headers[sinks.HeaderSource]]++
		}
		if url == billing {
			if count["billing"] != n || count["audit"] != 1 || len(got) != n+1 {
				t.Errorf("billing's FIFO queue holds %v, want %d of billing (the retry dropped) and audit's one", count, n)
			}
			continue
		}
		if count[want] != n || len(got) != n {
			t.Errorf("queue of %s holds %v, want %d of its own", want, count, n)
		}
	}
	if _, dest := s.Describe(retry); !strings.HasSuffix(billing, "/"+dest) {
		t.Errorf("Describe(billing's message) = %s, want the billing queue", dest)
	}
}

// A message id longer than 128 characters (a sender's name, ':' and a delivery id
// of 128) is a MessageDeduplicationId of "h-" and the 64 hex digits of its SHA-256;
// the message keeps its delivery id in ce-id.
func TestLongMessageIDIsHashedForFIFO(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, true, nil)
	s := openSink(t, srv, url, nil)
	defer s.Close()
	delivery := strings.Repeat("d", 128)
	msg := sinktest.NewSenderMessage("billing", delivery)
	if err := s.Publish(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	got := (&sqstest.Reader{Server: srv, URL: url}).Read(t, 1)
	if len(got) != 1 {
		t.Fatalf("read %d messages", len(got))
	}
	sum := sha256.Sum256([]byte("billing:" + delivery))
	want := "h-" + hex.EncodeToString(sum[:])
	if d := got[0].Attributes[string(types.MessageSystemAttributeNameMessageDeduplicationId)]; d != want {
		t.Errorf("MessageDeduplicationId = %q, want %q", d, want)
	}
	if id := *got[0].MessageAttributes[sinks.HeaderID].StringValue; id != delivery {
		t.Errorf("ce-id = %q, want the delivery id as received", id)
	}
}

// audiospliter-sender is an attribute while the message has fewer than ten others,
// and left out (ce-source names the sender) when it would be the eleventh.
func TestSenderAttributeWithinTen(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, false, nil)
	s := openSink(t, srv, url, nil)
	defer s.Close()
	nine := sinktest.NewSenderMessage("billing", "nine") // no jobId: nine and the sender
	ten := sinktest.NewSenderMessage("billing", "ten")
	ten.JobID = "job_1"
	ten.Headers = append(ten.Headers, sinks.Header{Name: sinks.HeaderJobID, Value: "job_1"})
	for _, m := range []sinks.Message{nine, ten} {
		if err := s.Publish(t.Context(), m); err != nil {
			t.Fatalf("%s: %v", m.ID, err)
		}
	}
	got := (&sqstest.Reader{Server: srv, URL: url}).Read(t, 2)
	for _, m := range got {
		id := *m.MessageAttributes[sinks.HeaderID].StringValue
		_, has := m.MessageAttributes[sinks.HeaderSender]
		if n := len(m.MessageAttributes); n != 10 {
			t.Errorf("%s: %d attributes, want 10", id, n)
		}
		if src := *m.MessageAttributes[sinks.HeaderSource].StringValue; src != "billing" {
			t.Errorf("%s: ce-source = %q", id, src)
		}
		if has != (id == "nine") {
			t.Errorf("%s: audiospliter-sender present = %v", id, has)
		}
	}
	if len(got) != 2 {
		t.Fatalf("read %d messages", len(got))
	}
}

// A sender's queue that does not exist stops the start, naming the sender.
func TestSenderQueueMissingAtStart(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	def := srv.CreateQueue(t, false, nil)
	_, err := awssqs.New(t.Context(), awssqs.Config{
		QueueURL: def, Endpoint: srv.Endpoint(),
		SenderQueues: map[string]string{"billing": def[:strings.LastIndexByte(def, '/')+1] + "no-such-queue"},
	})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "SenderQueues" || !strings.Contains(err.Error(), `sender "billing"`) {
		t.Fatalf("New = %v, want a ConfigError on SenderQueues naming the sender", err)
	}
}
