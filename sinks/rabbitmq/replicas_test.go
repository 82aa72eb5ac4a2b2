package rabbitmq_test

import (
	"bytes"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Three replicas of the bridge on one RabbitMQ broker, each with its own connection
// and dedup cache, started at the same moment (each declares the same exchange and
// quorum queue). RabbitMQ has no dedup: a delivery id sent to two replicas at once
// may be queued twice, and then both copies carry the same message_id and body, so a
// consumer that remembers ids skips the second. Nothing is lost and nothing sent to
// one replica is queued twice.
func TestReplicasOfTheBridge(t *testing.T) {
	url := rabbittest.SharedURL(t)
	top := newTopology(t, url)
	cfg := rabbitmq.Config{URL: url, Exchange: top.exchange, Queue: top.queue, QueueType: "quorum"}
	bridges := sinktest.StartReplicas(t, 3, func() (sinks.Sink, error) { return rabbitmq.New(t.Context(), cfg) })
	sent := sinktest.SendToReplicas(t, bridges, 300, 100)

	got := (&queueReader{url: url, queue: top.queue}).read(t, len(sent.IDs))
	var found []string
	first := map[string][]byte{}
	copies := map[string]int{}
	for _, d := range got {
		found = append(found, d.MessageId)
		copies[d.MessageId]++
		if body, ok := first[d.MessageId]; !ok {
			first[d.MessageId] = d.Body
		} else if !bytes.Equal(body, d.Body) {
			t.Errorf("two copies of %s differ:\n%s\n%s", d.MessageId, body, d.Body)
		}
	}
	r := loadgen.Compare(sent.IDs, found)
	pairCopies := 0
	for _, id := range sent.Pairs {
		pairCopies += copies[id] - 1
	}
	t.Logf("3 replicas: %d deliveries (%d of them sent to two replicas at once), %d messages on the queue, %d distinct, lost %d, extra copies %d (all of pairs: %d)",
		len(sent.IDs), len(sent.Pairs), len(found), r.Found, len(r.Lost), r.Duplicates, pairCopies)
	if len(r.Lost) > 0 || len(r.Unexpected) > 0 {
		t.Errorf("lost %v, unexpected %v", r.Lost, r.Unexpected)
	}
	for id, n := range copies {
		if n > 2 {
			t.Errorf("%s is on the queue %d times; two replicas publish it at most twice", id, n)
		}
	}
	if extra := r.Duplicates - pairCopies; extra != 0 {
		t.Errorf("%d extra copies of deliveries sent to one replica only, want 0", extra)
	}
}
