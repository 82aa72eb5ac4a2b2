package rabbitmq_test

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// freezer is a TCP proxy in front of a broker that, once frozen, lets each new
// connection through the AMQP handshake (connection.start to connection.open-ok) and
// then stops forwarding either way, keeping the connection open: a broker that
// freezes after the handshake. It knows AMQP only enough to see the client's first
// frame on a channel other than 0 (channel.open, which opens every declaration):
// that frame and everything after it go nowhere.
type freezer struct {
	ln     net.Listener
	target string
	frozen atomic.Bool  // for connections accepted from now on
	froze  atomic.Int64 // connections that have reached the freeze
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	f.wg.Go(f.accept)
	t.Cleanup(func() {
		ln.Close()
		f.cut()
		f.wg.Wait()
	})
	return f
}

func (f *freezer) addr() string { return f.ln.Addr().String() }

// cut closes every connection, as a network failure would.
func (f *freezer) cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func (f *freezer) accept() {
	for {
		client, err := f.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", f.target)
		if err != nil {
			client.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, client, server)
		f.mu.Unlock()
		var stop atomic.Bool
		freeze := f.frozen.Load()
		f.wg.Go(func() { f.clientToServer(client, server, freeze, &stop) })
		f.wg.Go(func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && !stop.Load() {
					if _, err := client.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					client.Close()
					return
				}
			}
		})
	}
}

// clientToServer forwards the client's frames, up to its first frame on a channel
// other than 0 when freeze is set: from then on stop is set and nothing is
// forwarded, in either direction, though both connections stay open.
func (f *freezer) clientToServer(client, server net.Conn, freeze bool, stop *atomic.Bool) {
	defer server.Close()
	header := make([]byte, 8) // "AMQP" 0 0 9 1
	if _, err := io.ReadFull(client, header); err != nil {
		return
	}
	if _, err := server.Write(header); err != nil {
		return
	}
	frame := make([]byte, 7)
	for {
		if _, err := io.ReadFull(client, frame); err != nil {
			return
		}
		channel, size := binary.BigEndian.Uint16(frame[1:3]), binary.BigEndian.Uint32(frame[3:7])
		rest := make([]byte, size+1) // payload and frame end
		if _, err := io.ReadFull(client, rest); err != nil {
			return
		}
		if freeze && channel != 0 && !stop.Load() {
			stop.Store(true)
			f.froze.Add(1)
		}
		if stop.Load() {
			continue // read and dropped: the client's writes never block
		}
		if _, err := server.Write(append(frame, rest...)); err != nil {
			return
		}
		frame = frame[:7:7]
	}
}

// A broker that freezes after the handshake answers none of the declarations that
// follow, which amqp091-go waits for without a context. Start-up still fails within
// its limit (3 × ConnectTimeout for the declarations and channels after the dial)
// instead of waiting for the library's heartbeat, and a sink that meets such a
// broker while reconnecting closes at once.
//
// Not parallel: it measures how long start-up and Close take against their bounds.
func TestBrokerFrozenAfterHandshake(t *testing.T) {
	url := rabbittest.SharedURL(t)
	top := rabbittest.NewTopology(t, url)
	f := startFreezer(t, "127.0.0.1:5672")
	sinkURL := "amqp://guest:guest@" + f.addr() + "/"
	const connectTimeout = time.Second

	t.Run("start-up", func(t *testing.T) {
		f.frozen.Store(true)
		defer f.frozen.Store(false)
		start := time.Now()
		_, err := rabbitmq.New(t.Context(), rabbitmq.Config{
			URL: sinkURL, Exchange: top.Exchange, Queue: top.Queue, ConnectTimeout: connectTimeout, Logger: testkit.Logger(t),
		})
		took := time.Since(start)
		t.Logf("start-up against a frozen broker: %v after %s", err, took.Round(time.Millisecond))
		if err == nil {
			t.Fatal("start-up succeeded against a broker that answers no declaration")
		}
		// The limit is 3 × ConnectTimeout; the heartbeat would take 30 s and more.
		if limit := 3*connectTimeout + 1500*time.Millisecond; took > limit {
			t.Errorf("start-up failed after %s, past its limit (%s)", took.Round(time.Millisecond), limit)
		}
	})

	t.Run("close while reconnecting", func(t *testing.T) {
		var logs testkit.LockedBuffer
		s, err := rabbitmq.New(t.Context(), rabbitmq.Config{
			URL: sinkURL, Exchange: top.Exchange, Queue: top.Queue, ConnectTimeout: connectTimeout, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Publish(t.Context(), sinktest.NewMessage("before-freeze")); err != nil {
			t.Fatal(err)
		}
		froze := f.froze.Load()
		f.frozen.Store(true)
		f.cut()
		// The supervisor reconnects: the handshake passes, the declarations hang.
		testkit.Eventually(t, 10*time.Second, func() bool { return f.froze.Load() > froze },
			"the sink did not reconnect through the handshake")
		start := time.Now()
		done := make(chan struct{})
		go func() { s.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("Close still waiting %s after it was called during a frozen reconnect; log:\n%s", time.Since(start).Round(time.Millisecond), logs.String())
		}
		t.Logf("Close during a frozen reconnect took %s", time.Since(start).Round(time.Millisecond))
	})
}
