//go:build !race

package natsjs_test

import (
	"fmt"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// publishAllocBudget is what one publish allocates in this process: the sink,
// nats.go's request and its reading of the PubAck, and the test server's own work
// for the message (it runs in this process). Time is noise on a shared machine,
// allocations are not: a change that allocates more fails here and must raise the
// budget on purpose, saying why. (Not under -race, which changes the counts.)
// 36, then 39: a cancellable context per publish, so that a permission violation,
// which the server reports apart from the request, ends the publish at once.
const publishAllocBudget = 39

func TestAllocsPerPublish(t *testing.T) {
	ts := startServer(t)
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: ts.URL(), Stream: "ALLOCS", SubjectPrefix: "allocs"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	msgs := make([]sinks.Message, 2300)
	for i := range msgs {
		msgs[i] = sinktest.NewMessage(fmt.Sprintf("alloc-%05d", i))
	}
	k := 0
	publish := func() {
		if err := s.Publish(t.Context(), msgs[k]); err != nil {
			t.Fatal(err)
		}
		k++
	}
	for range 200 { // warm up: the stream, nats.go's buffers, the sink's goroutines
		publish()
	}
	allocs := testing.AllocsPerRun(2000, publish)
	t.Logf("%.1f allocations per publish (budget %d)", allocs, publishAllocBudget)
	if allocs > publishAllocBudget {
		t.Errorf("%.1f allocations per publish, over the budget of %d", allocs, publishAllocBudget)
	}
}
