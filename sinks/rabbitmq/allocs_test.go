//go:build !race

package rabbitmq_test

import (
	"fmt"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// publishAllocBudget is what one publish allocates in this process: the sink and
// amqp091-go's framing of the message and reading of its confirm (the broker runs
// in a process of its own). Time is noise on a shared machine, allocations are not:
// a change that allocates more fails here and must raise the budget on purpose,
// saying why. (Not under -race, which changes the counts.)
const publishAllocBudget = 113

func TestAllocsPerPublish(t *testing.T) {
	url := rabbittest.SharedURL(t)
	s := openSink(t, url, rabbittest.NewTopology(t, url), "classic")
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
	for range 200 { // warm up: the channels, amqp091-go's buffers, the sink's goroutines
		publish()
	}
	allocs := testing.AllocsPerRun(2000, publish)
	t.Logf("%.1f allocations per publish (budget %d)", allocs, publishAllocBudget)
	if allocs > publishAllocBudget {
		t.Errorf("%.1f allocations per publish, over the budget of %d", allocs, publishAllocBudget)
	}
}
