package sinktest

import (
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Parallel runs op b.N times in all from exactly concurrency goroutines (not
// GOMAXPROCS multiples, as b.RunParallel would) and reports msgs/s and the p50 and
// p99 latency of one op, so that benchmarks of different sinks and baselines
// compare at the same concurrency.
func Parallel(b *testing.B, concurrency int, op func(i int64) error) {
	b.Helper()
	var (
		next atomic.Int64
		mu   sync.Mutex
		all  []time.Duration
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchBridgeHTTP measures the whole bridge in front of sink: b.N signed POSTs of
// body over loopback HTTP/1.1 keep-alive connections from the lean load client
// (internal/loadgen) at the given concurrency, verified, parsed, published and
// confirmed. It reports msgs/s and p50/p99 and fails on any answer but 200.
func BenchBridgeHTTP(b *testing.B, sink sinks.Sink, body []byte, concurrency int) {
	b.Helper()
	br, err := bridge.New(bridge.Config{
		Secrets: []string{faultSecret}, DedupTTL: time.Minute, MaxInFlight: 4096,
		CETypePrefix: bridge.DefaultCETypePrefix, Sink: sink, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(br)
	defer srv.Close()
	b.ReportAllocs()
	b.ResetTimer()
	res, err := loadgen.Run(b.Context(), loadgen.Target{URL: srv.URL + "/webhooks", Secret: faultSecret, Body: body},
		loadgen.Options{Concurrency: concurrency, Requests: b.N})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	res.Report(b, b.Error)
}

// BenchPublish measures sink.Publish alone: b.N messages shaped as the bridge builds
// them, with body and unique ids, from concurrency goroutines.
func BenchPublish(b *testing.B, sink sinks.Sink, body []byte, concurrency int) {
	b.Helper()
	msg := NewMessage("bench")
	if body != nil {
		msg.Body = body
	}
	b.ReportAllocs()
	Parallel(b, concurrency, func(i int64) error {
		m := msg
		m.ID = "bench-" + strconv.FormatInt(i, 10)
		return sink.Publish(b.Context(), m)
	})
}
