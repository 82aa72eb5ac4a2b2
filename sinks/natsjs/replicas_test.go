package natsjs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/bridge/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Three replicas of the bridge on one JetStream server, each with its own sink and
// dedup cache, started at the same moment (each makes sure the stream exists): a
// load spread round robin, and the same delivery id sent to two replicas at once, as
// a sender's retry that a load balancer routes elsewhere while the first attempt is
// still in flight. JetStream's dedup window, not anything the replicas share, keeps
// one message per delivery id.
func TestReplicasOfTheBridge(t *testing.T) {
	ts := startServer(t)
	cfg := natsjs.Config{URL: ts.URL(), Stream: "REPLICAS", SubjectPrefix: "replicas"}
	bridges := make([]*sinktest.Bridged, 3)
	var wg sync.WaitGroup
	for i := range bridges {
		wg.Go(func() {
			s, err := natsjs.New(t.Context(), cfg)
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			bridges[i] = sinktest.ServeBridge(t, s, 5*time.Second)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	const roundRobin, pairs = 300, 100
	prefix := fmt.Sprintf("repl-%d", time.Now().UnixNano())
	send := func(b *sinktest.Bridged, id string) int {
		r, err := loadgen.Send(context.Background(), b.Target(), id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			return 0
		}
		return r.Status
	}
	var ids []string
	for i := range roundRobin {
		ids = append(ids, fmt.Sprintf("%s-rr-%d", prefix, i))
	}
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				if status := send(bridges[i%3], ids[i]); status != 200 {
					t.Errorf("%s on replica %d: %d", ids[i], i%3, status)
				}
			}
		})
	}
	for i := range roundRobin {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	for i := range pairs {
		id := fmt.Sprintf("%s-pair-%d", prefix, i)
		ids = append(ids, id)
		a, b := bridges[i%3], bridges[(i+1)%3]
		start := make(chan struct{})
		var statuses [2]int
		for j, br := range []*sinktest.Bridged{a, b} {
			wg.Go(func() {
				<-start
				statuses[j] = send(br, id)
			})
		}
		close(start)
		wg.Wait()
		if statuses != [2]int{200, 200} {
			t.Errorf("%s sent to two replicas at once: %v, want 200 from both", id, statuses)
		}
	}

	var found []string
	for _, m := range natstest.ReadStream(t, ts.URL(), cfg.Stream, len(ids)) {
		found = append(found, m.Header.Get(jetstream.MsgIDHeader))
	}
	r := loadgen.Compare(ids, found)
	t.Logf("3 replicas: %d deliveries (%d of them sent to two replicas at once), %d messages in the stream, %d distinct, lost %d, duplicates %d",
		len(ids), pairs, len(found), r.Found, len(r.Lost), r.Duplicates)
	if len(r.Lost) > 0 || r.Duplicates > 0 || len(r.Unexpected) > 0 {
		t.Errorf("lost %v, duplicates %d, unexpected %v: want one message per delivery id", r.Lost, r.Duplicates, r.Unexpected)
	}
}
