package natsjs_test

import (
	"bytes"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Three ways to put the same ~1 KiB message with the same headers into a JetStream
// stream (file storage), one at a time and from 64 publishers, side by side:
//
//	go test -run '^$' -bench 'NATS' -benchtime 20000x ./sinks/natsjs/
//
// The server runs in the benchmark's process (nats-server/v2), as the bridge's
// embedded default does.

// concurrencies are the loads every benchmark here runs at: one request at a time
// (latency) and 64 at once (throughput).
var concurrencies = []int{1, 64}

func each(b *testing.B, bench func(b *testing.B, c int)) {
	for _, c := range concurrencies {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) { bench(b, c) })
	}
}

var benchBody = []byte(fmt.Sprintf(`{"event":"job.completed","jobId":"job_bench","data":{"segments":[],"pad":"%s"}}`,
	bytes.Repeat([]byte("x"), 1024-80)))

func newBenchSink(b *testing.B) (*natsjs.Sink, *testServer) {
	ts := startServer(b)
	env := openEnv(b, ts)
	b.Cleanup(func() { env.Sink.Close() })
	return env.Sink.(*natsjs.Sink), ts
}

// BenchmarkNATSDirect is the ceiling: jetstream.PublishMsg with a message id, the
// same headers, nothing else.
func BenchmarkNATSDirect(b *testing.B) { each(b, benchDirect) }

func benchDirect(b *testing.B, concurrency int) {
	sink, ts := newBenchSink(b) // creates the stream and its subjects
	nc, err := nats.Connect(ts.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	headers := nats.Header{}
	for _, h := range sinktest.NewMessage("direct").Headers {
		headers.Set(h.Name, h.Value)
	}
	subject := sink.Subject("job.completed")
	b.ReportAllocs()
	sinktest.Parallel(b, concurrency, func(i int64) error {
		m := &nats.Msg{Subject: subject, Data: benchBody, Header: maps.Clone(headers)}
		_, err := js.PublishMsg(b.Context(), m, jetstream.WithMsgID(fmt.Sprintf("direct-%d", i)))
		return err
	})
}

func BenchmarkNATSSink(b *testing.B) { each(b, benchSink) }

func benchSink(b *testing.B, concurrency int) {
	sink, _ := newBenchSink(b)
	sinktest.BenchPublish(b, sink, benchBody, concurrency)
}

// BenchmarkNATSBridgeHTTP is the whole bridge over loopback HTTP in front of the
// sink.
func BenchmarkNATSBridgeHTTP(b *testing.B) { each(b, benchBridgeHTTP) }

func benchBridgeHTTP(b *testing.B, concurrency int) {
	sink, _ := newBenchSink(b)
	bridgetest.BenchHTTP(b, sink, benchBody, concurrency)
}

// BenchmarkNATSEmbeddedSync prices the embedded server's durability setting: the sink
// on the embedded JetStream (store in the benchmark's temporary directory) with an
// fsync before every PubAck (BRIDGE_NATS_EMBEDDED_SYNC=always, the default) against
// a periodic sync every second:
//
//	go test -run '^$' -bench 'EmbeddedSync' -benchtime 4s -count 2 ./sinks/natsjs/
func BenchmarkNATSEmbeddedSync(b *testing.B) {
	for _, sync := range []struct {
		name     string
		interval time.Duration
	}{{"always", 0}, {"1s", time.Second}} {
		b.Run("sync="+sync.name, func(b *testing.B) {
			each(b, func(b *testing.B, c int) {
				s, err := natsjs.New(b.Context(), natsjs.Config{
					EmbeddedListen: testkit.FreeAddr(b), DataDir: b.TempDir(), EmbeddedSyncInterval: sync.interval,
				})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				sinktest.BenchPublish(b, s, benchBody, c)
			})
		})
	}
}
