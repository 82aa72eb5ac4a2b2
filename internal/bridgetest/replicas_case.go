package bridgetest

import (
	"bytes"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Three replicas of the bridge on one broker, each with its own sink and dedup
// cache, started at the same moment (each makes sure the destination exists while
// the others do too): 300 deliveries spread round robin, then 100 delivery ids each
// sent to two replicas at once, as a sender's retry that a load balancer routes
// elsewhere while the first attempt is in flight. Every request is answered 200 and
// nothing is lost. A broker with dedup keeps one message per delivery id; one
// without may keep two copies of an id sent to two replicas, with the same id and
// body, and never a second copy of an id sent to one replica.
func replicasOfTheBridge(t *testing.T, h Harness) {
	b := h.Broker(t, false)
	d := b.Dest(t, true)
	bridges := StartReplicas(t, 3, func() (sinks.Sink, error) { return d.Open(t, b.Addr) })
	sent := SendToReplicas(t, bridges, 300, 100)

	var found []string
	copies := map[string]int{}
	first := map[string][]byte{}
	for _, m := range d.Read(t, len(sent.IDs)) {
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
	t.Logf("3 replicas: %d deliveries (%d of them sent to two replicas at once), %d messages on the broker, %d distinct, lost %d, extra copies %d (of pairs: %d)",
		len(sent.IDs), len(sent.Pairs), len(found), r.Found, len(r.Lost), r.Duplicates, pairCopies)
	if len(r.Lost) > 0 || len(r.Unexpected) > 0 {
		t.Errorf("lost %v, unexpected %v", r.Lost, r.Unexpected)
	}
	if h.Dedup && r.Duplicates != 0 {
		t.Errorf("%d extra copies on a broker with dedup, want one message per delivery id", r.Duplicates)
	}
	for id, n := range copies {
		if n > 2 {
			t.Errorf("%s is on the broker %d times; two replicas publish it at most twice", id, n)
		}
	}
	if extra := r.Duplicates - pairCopies; extra != 0 {
		t.Errorf("%d extra copies of deliveries sent to one replica only, want 0", extra)
	}
}
