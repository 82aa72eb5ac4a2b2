package bridgetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// StartReplicas starts n bridges, each in front of its own sink from open, all at
// the same moment: replicas behind a load balancer start together, and each makes
// sure the broker's stream, exchange or queue exists while the others do too.
func StartReplicas(t testing.TB, n int, open func() (sinks.Sink, error)) []*Bridge {
	t.Helper()
	bridges := make([]*Bridge, n)
	var wg sync.WaitGroup
	for i := range bridges {
		wg.Go(func() {
			s, err := open()
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			bridges[i] = Serve(t, s, 5*time.Second)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return bridges
}

// Replicated is what SendToReplicas sent: every delivery id, and those of them that
// went to two replicas at once.
type Replicated struct {
	IDs, Pairs []string
}

// SendToReplicas spreads roundRobin deliveries over the replicas (16 at a time), then
// sends each of pairs delivery ids to two replicas at the same moment, as a sender's
// retry that a load balancer routes elsewhere while the first attempt is still in
// flight. Each replica has its own dedup cache, so both publish: what the broker
// keeps of the pair is the broker's dedup, the thing a replica test checks. Every
// request must be answered 200.
func SendToReplicas(t testing.TB, bridges []*Bridge, roundRobin, pairs int) Replicated {
	t.Helper()
	prefix := fmt.Sprintf("repl-%d", time.Now().UnixNano())
	var sent Replicated
	for i := range roundRobin {
		sent.IDs = append(sent.IDs, fmt.Sprintf("%s-rr-%d", prefix, i))
	}
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				if status := bridges[i%len(bridges)].Post(sent.IDs[i]); status != 200 {
					t.Errorf("%s on replica %d: %d", sent.IDs[i], i%len(bridges), status)
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
		sent.IDs = append(sent.IDs, id)
		sent.Pairs = append(sent.Pairs, id)
		two := []*Bridge{bridges[i%len(bridges)], bridges[(i+1)%len(bridges)]}
		start := make(chan struct{})
		var statuses [2]int
		for j, b := range two {
			wg.Go(func() {
				<-start
				statuses[j] = b.Post(id)
			})
		}
		close(start)
		wg.Wait()
		if statuses != [2]int{200, 200} {
			t.Errorf("%s sent to two replicas at once: %v, want 200 from both", id, statuses)
		}
	}
	return sent
}
