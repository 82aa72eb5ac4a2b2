package bridgetest

import (
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// BenchHTTP measures the whole bridge in front of sink: b.N signed POSTs of body
// over loopback HTTP/1.1 keep-alive connections from the lean load client
// (internal/loadgen) at the given concurrency, verified, parsed, published and
// confirmed. It reports msgs/s and p50/p99 and fails on any answer but 200.
func BenchHTTP(b *testing.B, sink sinks.Sink, body []byte, concurrency int) {
	b.Helper()
	br, err := bridge.New(bridge.Config{
		Secrets: []string{Secret}, DedupTTL: time.Minute, MaxInFlight: 4096,
		CETypePrefix: bridge.DefaultCETypePrefix, Sink: sink, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(br)
	defer srv.Close()
	b.ReportAllocs()
	b.ResetTimer()
	res, err := loadgen.Run(b.Context(), loadgen.Target{URL: srv.URL + "/webhooks", Secret: Secret, Body: body},
		loadgen.Options{Concurrency: concurrency, Requests: b.N})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	res.Report(b, b.Error)
}
