package app_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// A jobId of 600 KB fits the body limit but no broker's headers: on RabbitMQ it
// would not fit the frame that carries them (the broker closes the connection every
// publish shares), on NATS JetStream it is over the 64 KiB of headers a stream
// stores, on SQS the attribute takes the queue's size. On every sink that request
// alone is answered 400 (broker_invalid) at once, and the 40 sent beside it get 200.
func TestOversizedHeaderFailsAloneOnEverySink(t *testing.T) {
	t.Parallel()
	rabbitURL := rabbittest.SharedURL(t)
	srv := sqstest.Start(t)
	body := []byte(`{"event":"job.completed","jobId":"` + strings.Repeat("j", 600_000) + `"}`)
	for _, sink := range []struct {
		name string
		edit func(*config.Config)
	}{
		{"rabbitmq", func(c *config.Config) {
			exchange, queue := apptest.RabbitNames(t, rabbitURL)
			c.Sink, c.Rabbitmq.URL, c.Rabbitmq.Exchange, c.Rabbitmq.Queue = "rabbitmq", rabbitURL, exchange, queue
		}},
		{"nats", nil},
		{"sqs", func(c *config.Config) {
			c.Sink, c.Sqs.Endpoint, c.Sqs.QueueURL = "sqs", srv.Endpoint(), srv.CreateQueue(t, false, nil)
		}},
	} {
		t.Run(sink.name, func(t *testing.T) {
			b := startBridge(t, sink.edit)
			var wg sync.WaitGroup
			statuses := make([]int, 40)
			for i := range statuses {
				wg.Go(func() { statuses[i] = b.post(t, sample, fmt.Sprintf("beside-%d", i)).Status })
			}
			for i := range 5 { // the sender's retries
				if r := b.post(t, body, "long-job"); r.Status != 400 {
					t.Errorf("attempt %d with a 600 KB jobId: %d %s, want 400", i, r.Status, r.Body)
				}
			}
			wg.Wait()
			for i, s := range statuses {
				if s != 200 {
					t.Errorf("delivery beside it %d: %d, want 200", i, s)
				}
			}
			if line := webhookLine(t, b.stderr.String(), "long-job"); line["reason"] != "broker_invalid" {
				t.Errorf("log line %v, want reason broker_invalid", line)
			}
			if strings.Contains(b.stderr.String(), "reconnecting") {
				t.Errorf("the broker connection was lost:\n%s", b.stderr.String())
			}
		})
	}
}
