package bridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// What each step of a webhook costs, one benchmark per step, on the ~1 KiB body of
// the performance lab: where the HTTP path's own time goes (docs/performance.md).
//
//	go test -run '^$' -bench 'Step' -benchmem ./bridge/
func BenchmarkStep(b *testing.B) {
	body := labBody()
	sig := Sign("bench-secret-0123456789", body)
	br, err := New(Config{Secrets: []string{"bench-secret-0123456789"}, DedupTTL: 10 * time.Minute, Sink: sinktest.NewMemory(),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("dlv-%08d", i)
	}
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rb, err := readPieces(bytes.NewReader(body), int64(len(body)))
			if err != nil {
				b.Fatal(err)
			}
			rb.release()
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		parts := [][]byte{body}
		for b.Loop() {
			if err := br.verifier.verify(sig, parts...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, msg, _ := parseEnvelope(body, audiospliterEnvelope); msg != "" {
				b.Fatal(msg)
			}
		}
	})
	b.Run("dedup", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			id := ids[i%len(ids)]
			i++
			seen, f, leader := br.dedup.begin(id)
			if seen || !leader {
				continue // the ring of ids came round: already remembered
			}
			br.dedup.finish(id, f, answer{status: http.StatusOK}, true)
		}
	})
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		now := time.Now()
		for b.Loop() {
			_ = br.message("dlv-00000001", "job.completed", "job_8f3a2c1e", sig, body, now)
		}
	})
	b.Run("log", func(b *testing.B) {
		b.ReportAllocs()
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		ctx := context.Background()
		start := time.Now()
		for b.Loop() {
			var buf [8]slog.Attr
			attrs := append(buf[:0], slog.Int("status", 200), slog.String("duration", time.Since(start).String()),
				slog.String("delivery_id", "dlv-00000001"), slog.String("event", "job.completed"), slog.Int("attempts", 1))
			log.LogAttrs(ctx, slog.LevelInfo, "webhook", attrs...)
		}
	})
	b.Run("metrics", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			br.metrics.single.request(http.StatusOK, reasonConfirmed)
			br.metrics.observe(context.Background(), br.metrics.single.confirmed, time.Millisecond)
		}
	})
	b.Run("answer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = receivedBody("dlv-00000001", false)
		}
	})
}

// labBody is the ~1 KiB job.completed the performance lab sends.
func labBody() []byte {
	b, err := os.ReadFile("testdata/job.completed.json")
	if err != nil {
		panic(err)
	}
	b = bytes.TrimSpace(b)
	// Pad the sample's segments to about 1 KiB, as the lab's bodies are.
	for len(b) < 1000 {
		b = bytes.Replace(b, []byte(`"segments":[`), []byte(`"segments":[{"index":9,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/9.mp3","duration":12.5},`), 1)
	}
	return b
}
