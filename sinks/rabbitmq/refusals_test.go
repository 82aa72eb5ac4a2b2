package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// A user that may declare the topology and bind the queue, but not write to the
// exchange (rabbitmqctl on a private node). A publish is refused at once with the
// broker's words (not retried to the publish timeout); Ready says refused, probing
// at most once a second without storing anything; once the operator grants write
// permission, the sink is ready again and publishes. Then the user is deleted: the
// reconnect is refused, and publishes and Ready say so until the user is back.
func TestPermissionRefusedAtOnceAndReadinessFollows(t *testing.T) {
	t.Parallel()
	node := rabbittest.StartNode(t, rabbittest.Options{})
	node.Ctl(t, "add_user", "bridge", "bridge-pw")
	// configure: declare both; write: the queue only (to bind it); read: the exchange (to bind).
	node.Ctl(t, "set_permissions", "-p", "/", "bridge", ".*", `^audiospliter\.events$`, ".*")
	url := strings.Replace(node.URL, "guest:guest", "bridge:bridge-pw", 1)
	s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, Exchange: "audiospliter", Queue: "audiospliter.events"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready before any publish: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Publish(ctx, sinktest.NewMessage("refused-1"))
	if !errors.Is(err, sinks.ErrRefused) || !errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("Publish without write permission = %v, want ErrRefused (permanent)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the refusal took %s", took)
	}
	if !strings.Contains(err.Error(), "ACCESS_REFUSED") || strings.Contains(err.Error(), "bridge-pw") {
		t.Errorf("error %q: want the broker's words, and no password", err)
	}
	// A second publish, retried as the bridge does while the sink reconnects after
	// the closed channel, is refused the same way.
	var second error
	testkit.Eventually(t, 5*time.Second, func() bool {
		second = s.Publish(ctx, sinktest.NewMessage("refused-2"))
		return errors.Is(second, sinks.ErrPermanent)
	}, "the second publish was not refused for good: %v", second)
	if !errors.Is(second, sinks.ErrRefused) {
		t.Errorf("second Publish = %v, want ErrRefused", second)
	}
	if err := s.Ready(t.Context()); !errors.Is(err, sinks.ErrRefused) {
		t.Fatalf("Ready after the refusal = %v, want ErrRefused", err)
	}
	// Once the sink has reconnected after the closed channel, a probe tells.
	var probe error
	testkit.Eventually(t, 10*time.Second, func() bool {
		probe = s.Probe(t.Context(), "job.completed")
		return errors.Is(probe, sinks.ErrRefused)
	}, "Probe without write permission = %v, want ErrRefused", probe)

	node.Ctl(t, "set_permissions", "-p", "/", "bridge", ".*", ".*", ".*")
	testkit.Eventually(t, 10*time.Second, func() bool { return s.Ready(t.Context()) == nil },
		"Ready did not come back with the permission: %v", s.Ready(t.Context()))
	if err := s.Probe(t.Context(), "job.completed"); err != nil {
		t.Errorf("Probe with write permission = %v", err)
	}
	if err := s.Publish(t.Context(), sinktest.NewMessage("allowed-1")); err != nil {
		t.Fatalf("Publish with write permission: %v", err)
	}
	got := (&rabbittest.Reader{URL: node.URL, Queue: "audiospliter.events"}).Read(t, 1)
	if len(got) != 1 || got[0].MessageId != "allowed-1" {
		t.Errorf("the queue holds %d messages, want only the one published: the probes must store nothing", len(got))
	}

	// The user deleted: RabbitMQ closes its connections, and every reconnect is
	// refused until it is back.
	node.Ctl(t, "delete_user", "bridge")
	testkit.Eventually(t, 10*time.Second, func() bool { return errors.Is(s.Ready(t.Context()), sinks.ErrRefused) },
		"Ready with the user deleted: %v, want ErrRefused", s.Ready(t.Context()))
	if err := s.Publish(t.Context(), sinktest.NewMessage("no-user")); !errors.Is(err, sinks.ErrRefused) {
		t.Errorf("Publish with the user deleted = %v, want ErrRefused", err)
	}
	node.Ctl(t, "add_user", "bridge", "bridge-pw")
	node.Ctl(t, "set_permissions", "-p", "/", "bridge", ".*", ".*", ".*")
	testkit.Eventually(t, 20*time.Second, func() bool { return s.Ready(t.Context()) == nil },
		"Ready did not come back with the user: %v", s.Ready(t.Context()))
}

// A probe of an exchange that does not exist is a refusal (404), and stores
// nothing where the user may publish.
func TestProbeOfMissingExchange(t *testing.T) {
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	s := openSink(t, url, top, "classic")
	defer s.Close()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if err := ch.ExchangeDelete(top.Exchange, false, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(t.Context(), "job.completed"); !errors.Is(err, sinks.ErrRefused) || !strings.Contains(err.Error(), "no exchange") {
		t.Errorf("Probe of a deleted exchange = %v, want ErrRefused saying so", err)
	}
}

// A refusal closes the channel under every publish on it, but it is only the
// refused one's: with a topic permission that allows job.* only, one delivery
// with another routing key is refused (502), and the allowed ones that shared its
// channel are not (they were 194 of 195 refused with one channel). They may fail
// otherwise the first time, while the sink reconnects (a sender retries those);
// the sender's retries of the forbidden one are then refused without a publish,
// so they disturb nothing (they reset the connection each time).
func TestTopicRefusalIsTheRefusedPublishOnly(t *testing.T) {
	t.Parallel()
	node := rabbittest.StartNode(t, rabbittest.Options{})
	node.Ctl(t, "add_user", "bridge", "bridge-pw")
	node.Ctl(t, "set_permissions", "-p", "/", "bridge", ".*", ".*", ".*")
	node.Ctl(t, "set_topic_permissions", "-p", "/", "bridge", "audiospliter", `^job\.`, ".*")
	url := strings.Replace(node.URL, "guest:guest", "bridge:bridge-pw", 1)
	for _, channels := range []int{1, 0} { // 0: the default pool, as the bridge runs
		s, err := rabbitmq.New(t.Context(), rabbitmq.Config{URL: url, Exchange: "audiospliter", Queue: "audiospliter.events", Channels: channels})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		var mu sync.Mutex
		refused, ok, other := 0, 0, 0
		for round := range 3 {
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					defer cancel()
					if i == 20 {
						msg := sinktest.NewMessage(fmt.Sprintf("bad-%d-%d", channels, round))
						msg.Event = "admin.purge"
						if err := s.Publish(ctx, msg); !errors.Is(err, sinks.ErrRefused) {
							t.Errorf("the forbidden routing key: %v, want ErrRefused", err)
						}
						return
					}
					err := s.Publish(ctx, sinktest.NewMessage(fmt.Sprintf("ok-%d-%d-%d", channels, round, i)))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						ok++
					case errors.Is(err, sinks.ErrRefused):
						refused++
						t.Errorf("an allowed routing key was refused: %v", err)
					default:
						other++
						if round > 0 {
							t.Errorf("round %d: an allowed publish failed beside a refusal already known: %v", round, err)
						}
					}
				})
			}
			wg.Wait()
			testkit.Eventually(t, 10*time.Second, func() bool {
				return s.Publish(t.Context(), sinktest.NewMessage(fmt.Sprintf("after-%d-%d", channels, round))) == nil
			}, "the sink does not publish again after the refusal")
		}
		s.Close()
		t.Logf("channels=%d: allowed publishes %d confirmed, %d refused, %d failed otherwise", channels, ok, refused, other)
	}
}
