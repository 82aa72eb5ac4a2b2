package awssqs_test

import (
	"bytes"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Three replicas of the bridge on one queue, each with its own client and dedup
// cache, and a delivery id sent to two replicas at once. On a FIFO queue SQS's
// deduplication keeps one message per delivery id (the bridge sends the id as
// MessageDeduplicationId); a standard queue has none, so a pair may be stored
// twice, both copies carrying the same ids, and nothing else is.
func TestReplicasOfTheBridge(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	for _, fifo := range []bool{true, false} {
		name := map[bool]string{true: "fifo", false: "standard"}[fifo]
		t.Run(name, func(t *testing.T) {
			url := srv.CreateQueue(t, fifo, nil)
			bridges := sinktest.StartReplicas(t, 3, func() (sinks.Sink, error) {
				return awssqs.New(t.Context(), awssqs.Config{QueueURL: url, Endpoint: srv.Endpoint()})
			})
			sent := sinktest.SendToReplicas(t, bridges, 300, 100)

			var found []string
			copies := map[string]int{}
			first := map[string][]byte{}
			for _, m := range received((&sqstest.Reader{Server: srv, URL: url}).Read(t, len(sent.IDs))) {
				found = append(found, m.ID)
				copies[m.ID]++
				if body, ok := first[m.ID]; !ok {
					first[m.ID] = m.Body
				} else if !bytes.Equal(body, m.Body) {
					t.Errorf("two copies of %s differ:\n%s\n%s", m.ID, body, m.Body)
				}
			}
			r := loadgen.Compare(sent.IDs, found)
			pairCopies := 0
			for _, id := range sent.Pairs {
				pairCopies += copies[id] - 1
			}
			t.Logf("3 replicas, %s queue: %d deliveries (%d of them sent to two replicas at once), %d messages, %d distinct, lost %d, extra copies %d (of pairs: %d)",
				name, len(sent.IDs), len(sent.Pairs), len(found), r.Found, len(r.Lost), r.Duplicates, pairCopies)
			if len(r.Lost) > 0 || len(r.Unexpected) > 0 {
				t.Errorf("lost %v, unexpected %v", r.Lost, r.Unexpected)
			}
			if fifo && r.Duplicates != 0 {
				t.Errorf("%d extra copies on a FIFO queue, want one message per delivery id", r.Duplicates)
			}
			for id, n := range copies {
				if n > 2 {
					t.Errorf("%s is on the queue %d times; two replicas send it at most twice", id, n)
				}
			}
			if extra := r.Duplicates - pairCopies; extra != 0 {
				t.Errorf("%d extra copies of deliveries sent to one replica only, want 0", extra)
			}
		})
	}
}
