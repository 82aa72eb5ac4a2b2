package sinktest

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
