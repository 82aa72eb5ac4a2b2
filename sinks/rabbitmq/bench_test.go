package rabbitmq_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The three benchmarks below publish ~1 KiB persistent, confirmed messages to the
// same local broker, one at a time and from 64 goroutines, so their msgs/s and
// latencies compare:
//
//	go test -run '^$' -bench 'Direct|SinkPublish|BridgeHTTP' -benchtime 20000x ./sinks/rabbitmq/
//
// BenchmarkDirectPublisher is the ceiling: amqp091-go alone with deferred confirms on
// the same number of channels the sink uses.

var benchBody = func() []byte {
	pad := bytes.Repeat([]byte("x"), 1024-120)
	return []byte(fmt.Sprintf(`{"event":"job.completed","jobId":"job_bench","data":{"segments":[],"pad":"%s"}}`, pad))
}()

// concurrencies are the loads every benchmark here runs at: one request at a time
// (latency) and 64 at once (throughput).

var concurrencies = []int{1, 64}

// each runs bench once per concurrency as a sub-benchmark c=N.
func each(b *testing.B, bench func(b *testing.B, c int)) {
	for _, c := range concurrencies {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) { bench(b, c) })
	}
}

func benchTopology(b *testing.B, url string) rabbittest.Topology {
	b.Helper()
	top := rabbittest.NewTopology(b, url)
	b.Cleanup(func() {
		if conn, err := amqp.Dial(url); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueuePurge(top.Queue, false)
			}
			conn.Close()
		}
	})
	return top
}

func BenchmarkDirectPublisher(b *testing.B) { each(b, benchDirect) }

func benchDirect(b *testing.B, concurrency int) {
	url := rabbittest.SharedURL(b)
	top := benchTopology(b, url)
	s := openSink(b, url, top, "classic") // declares the same topology
	s.Close()
	conn, err := amqp.Dial(url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	chans := make([]*amqp.Channel, 4)
	for i := range chans {
		ch, err := conn.Channel()
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			b.Fatal(err)
		}
		chans[i] = ch
	}
	// The same headers the bridge sends, so both put the same bytes on the wire.
	headers := amqp.Table{}
	for _, h := range sinktest.NewMessage("direct-0000").Headers {
		headers[h.Name] = h.Value
	}
	b.ReportAllocs()
	sinktest.Parallel(b, concurrency, func(i int64) error {
		dc, err := chans[i%4].PublishWithDeferredConfirm(top.Exchange, "job.completed", true, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Type: "job.completed",
			AppId: "audiospliter-bridge", Timestamp: time.Now(), Headers: headers,
			MessageId: fmt.Sprintf("direct-%d", i), Body: benchBody,
		})
		if err != nil {
			return err
		}
		if !dc.Wait() {
			return fmt.Errorf("nack")
		}
		return nil
	})
}

func BenchmarkSinkPublish(b *testing.B) { each(b, benchSink) }

func benchSink(b *testing.B, concurrency int) {
	url := rabbittest.SharedURL(b)
	s := openSink(b, url, benchTopology(b, url), "classic")
	defer s.Close()
	sinktest.BenchPublish(b, s, benchBody, concurrency)
}

// BenchmarkBridgeHTTP is the whole bridge over loopback HTTP in front of the sink.
func BenchmarkBridgeHTTP(b *testing.B) { each(b, benchBridgeHTTP) }

func benchBridgeHTTP(b *testing.B, concurrency int) {
	url := rabbittest.SharedURL(b)
	s := openSink(b, url, benchTopology(b, url), "classic")
	defer s.Close()
	bridgetest.BenchHTTP(b, s, benchBody, concurrency)
}
