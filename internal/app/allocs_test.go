//go:build !race

package app_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// Time is noise on a shared machine; allocations are not. The budget is what one
// webhook allocates through the whole bridge as the command runs it (admission,
// ingress, dedup, log line at the default level, metrics, the answer) in front of
// the in-memory sink, measured over a keep-alive connection whose client allocates
// nothing. A change that allocates more fails here and must raise the budget on
// purpose, with its reason in the commit. (Not under -race: the race detector and
// its sync.Pool make allocation counts meaningless.)
const webhookAllocBudget = 54

func TestAllocsPerWebhook(t *testing.T) {
	cfg := testConfig(t, func(c *config.Config) { c.LogLevel = "info" })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan string, 1)
	exit := make(chan error, 1)
	go func() {
		exit <- app.Run(ctx, app.Options{
			Config: cfg, Sink: sinktest.NewMemory(),
			Logger:   slog.New(slog.NewJSONHandler(discard{}, &slog.HandlerOptions{Level: cfg.Level()})),
			OnListen: func(a string) { addr <- a },
		})
	}()
	var a string
	select {
	case a = <-addr:
	case err := <-exit:
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sig := bridge.Sign(testSecret, sample)
	// Requests differ only in their delivery id, written into a fixed-width slot.
	head := fmt.Sprintf("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s: %s\r\n%s: ",
		len(sample), bridge.SignatureHeader, sig, bridge.DeliveryHeader)
	req := []byte(head + "alloc-00000000\r\n\r\n" + string(sample))
	idAt := len(head) + len("alloc-")
	r := bufio.NewReaderSize(conn, 4096)
	n := 0
	send := func() {
		n++
		copy(req[idAt:], fmt.Appendf(nil, "%08d", n)) // before AllocsPerRun's count: see below
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		readAnswer(t, r)
	}
	for range 200 { // warm up: pools, maps, the connection
		send()
	}
	ids := make([][]byte, 2001)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "%08d", 1_000_000+i)
	}
	k := 0
	allocs := testing.AllocsPerRun(2000, func() {
		copy(req[idAt:], ids[k])
		k++
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		readAnswer(t, r)
	})
	t.Logf("%.1f allocations per webhook (budget %d)", allocs, webhookAllocBudget)
	if allocs > webhookAllocBudget {
		t.Errorf("%.1f allocations per webhook, over the budget of %d", allocs, webhookAllocBudget)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// readAnswer reads one 200 answer, allocating nothing on a reused reader.
func readAnswer(t *testing.T, r *bufio.Reader) {
	t.Helper()
	length := -1
	for first := true; ; first = false {
		line, err := r.ReadSlice('\n')
		if err != nil {
			t.Fatal(err)
		}
		if first && !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
			t.Fatalf("answer: %q", line)
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
		if len(line) == 2 {
			break
		}
	}
	if _, err := r.Discard(length); err != nil {
		t.Fatal(err)
	}
	_ = http.StatusOK
	_ = time.Second
}
