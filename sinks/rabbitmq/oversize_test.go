package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// A node whose max_message_size is small: bodies over it are refused by closing the
// channel they came on. That request alone must fail, with ErrTooLarge; small
// publishes in flight at the same time on the same connection must all be
// confirmed, none nacked.
func TestOversizeBodyFailsAloneWithTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 65536
	n := rabbittest.StartNode(t, rabbittest.Options{Conf: []string{fmt.Sprintf("max_message_size = %d", limit)}})
	top := rabbittest.NewTopology(t, n.URL)
	s := openSink(t, n.URL, top, "classic")
	defer s.Close()

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var small []string
	var smallFailed atomic.Int32
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				id := fmt.Sprintf("small-%d-%d", w, i)
				pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := s.Publish(pctx, sinktest.NewMessage(id))
				cancel()
				if err != nil {
					smallFailed.Add(1)
					t.Errorf("small publish %s beside an oversize one: %v", id, err)
					continue
				}
				mu.Lock()
				small = append(small, id)
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // the small publishers under way first
	var big sync.WaitGroup
	for i := range 6 {
		big.Go(func() {
			err := s.Publish(t.Context(), bigMessage(fmt.Sprintf("big-%d", i), limit+1000*(i+1)))
			if !errors.Is(err, sinks.ErrTooLarge) {
				t.Errorf("publish of a body over max_message_size = %v, want ErrTooLarge", err)
			}
		})
		time.Sleep(50 * time.Millisecond) // the big bodies' pace, among the small ones
	}
	big.Wait()
	time.Sleep(200 * time.Millisecond) // the small publishers go on after the big ones
	stop()
	wg.Wait()

	// At the limit exactly is accepted.
	atLimit := bigMessage("at-limit", 0)
	atLimit.Body = append(atLimit.Body[:0], fmt.Appendf(nil, `{"event":"job.completed","pad":"%0*d"}`, limit-34, 0)...)
	if len(atLimit.Body) != limit {
		t.Fatalf("test body of %d bytes, want %d", len(atLimit.Body), limit)
	}
	if err := s.Publish(t.Context(), atLimit); err != nil {
		t.Errorf("a body of exactly max_message_size: %v", err)
	}
	if err := s.Ready(t.Context()); err != nil {
		t.Errorf("Ready after the refusals: %v", err)
	}
	t.Logf("small publishes confirmed beside 6 refused ones: %d, failed: %d", len(small), smallFailed.Load())
	if len(small) < 50 {
		t.Errorf("only %d small publishes in the test: nothing was in flight beside the big ones", len(small))
	}
	got := map[string]bool{}
	for _, d := range (&rabbittest.Reader{URL: n.URL, Queue: top.Queue}).Read(t, len(small)+1) {
		got[d.MessageId] = true
	}
	for _, id := range append(small, "at-limit") {
		if !got[id] {
			t.Errorf("%s was confirmed but is not on the queue", id)
		}
	}
}

// A channel closed under a publish of a new largest size for a reason other than the
// size (here the exchange deleted at runtime) makes the sink start over and declare
// again at once, as a channel of the pool does, rather than after the second of
// nacks that makes the sink give up on a connection (nacks.go).
func TestExchangeDeletedUnderANewSize(t *testing.T) {
	// Not in parallel: it counts publish attempts 100 ms apart against a time bound.
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s := openSink(t, url, top, "classic")
	defer s.Close()
	if err := s.Publish(t.Context(), sinktest.NewMessage("small-first")); err != nil {
		t.Fatal(err)
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if err := ch.ExchangeDelete(top.Exchange, false, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for attempt := 1; ; attempt++ {
		err := s.Publish(t.Context(), bigMessage("bigger-after-delete", 200_000))
		if err == nil {
			t.Logf("published after %d attempts", attempt)
			if attempt > 10 {
				t.Errorf("%d attempts 100 ms apart: the sink waited for the nacks to pile up", attempt)
			}
			break
		}
		if errors.Is(err, sinks.ErrPermanent) || time.Now().After(deadline) {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		time.Sleep(100 * time.Millisecond) // the sender's retry pace: the attempts 100 ms apart are counted above
	}
	got := (&rabbittest.Reader{URL: url, Queue: top.Queue}).Read(t, 2)
	if len(got) != 2 {
		t.Fatalf("queue holds %d messages, want 2", len(got))
	}
}
