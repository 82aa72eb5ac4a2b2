// Package wire watches the TCP connection under a broker client for writes the
// broker does not take. Neither amqp091-go nor nats.go looks at a publish's context
// while it writes: when the broker stops reading its socket (an alarm, a frozen
// process, a network that silently drops), the writer blocks in the kernel holding
// the client's locks, and every publish behind it waits too, past any deadline. A
// Conn records when the write in progress last moved data, so a publish that
// outlives its context, or Close, can tell a stall from a slow confirm or a slow
// link, and cut the connection; the writer then fails, the client gives the
// connection up, and reconnects.
package wire

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a net.Conn whose writes are watched.
type Conn struct {
	net.Conn
	log    *slog.Logger
	broker string // for the log: "rabbitmq", "nats"

	moved atomic.Int64 // when (now()) the Write in progress began or last handed the kernel a piece; 0: none

	mu            sync.Mutex
	writeDeadline time.Time // the client's own (handshake, close); zero: none
	aborted       bool
	stopWatch     func() bool
}

// New watches conn; broker names the client in the log line of a cut.
func New(conn net.Conn, log *slog.Logger, broker string) *Conn {
	setLowat(conn)
	return &Conn{Conn: conn, log: log, broker: broker}
}

// StallLimit bounds how long a write may take no data, for writes no publish waits
// for (a heartbeat, a ping, a close): a broker that takes nothing for two heartbeat
// intervals is gone or frozen.
const StallLimit = 20 * time.Second

// Stalled is how long a write must have moved no data before it counts as a stall:
// well above a TCP retransmission (200 ms at least on Linux), the pauses of a slow
// link and a loaded machine's scheduling. Publishes do not wait for it: they end at
// their deadlines, and a stall only decides when the connection is given up.
const Stalled = time.Second

// piece is the most one write hands the kernel at a time. A write blocks until the
// kernel's buffer has room for all of it, and only its end shows that data moved:
// in pieces, a large write on a slow but working link moves often enough not to
// look stalled. Most messages fit in one piece, and so does a TLS record (16 KiB
// and its overhead).
const piece = 17 << 10

// epoch makes now() monotonic: a step of the wall clock must not make a write look
// stalled or fresh.
var epoch = time.Now()

// now is the time since epoch, never 0.
func now() int64 { return int64(time.Since(epoch)) + 1 }

func (w *Conn) Write(b []byte) (n int, err error) {
	w.moved.Store(now())
	defer w.moved.Store(0)
	for len(b) > 0 {
		p := b[:min(len(b), piece)]
		// Under mu: a deadline the client sets meanwhile (closing) is not overwritten.
		w.mu.Lock()
		deadline := time.Now().Add(StallLimit)
		if !w.writeDeadline.IsZero() && w.writeDeadline.Before(deadline) {
			deadline = w.writeDeadline
		}
		err := w.Conn.SetWriteDeadline(deadline)
		w.mu.Unlock()
		if err != nil {
			return n, err
		}
		m, err := w.Conn.Write(p)
		n += m
		if err != nil {
			return n, err
		}
		w.moved.Store(now())
		b = b[m:]
	}
	return n, nil
}

func (w *Conn) SetDeadline(t time.Time) error {
	w.mu.Lock()
	w.writeDeadline = t
	w.mu.Unlock()
	return w.Conn.SetDeadline(t)
}

func (w *Conn) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	w.writeDeadline = t
	w.mu.Unlock()
	return w.Conn.SetWriteDeadline(t)
}

// StuckFor is how long the write in progress has moved no data (0 when no write is
// in progress).
func (w *Conn) StuckFor() time.Duration {
	moved := w.moved.Load()
	if moved == 0 {
		return 0
	}
	return time.Duration(now() - moved)
}

// Abort closes the socket under the client: a blocked write fails at once.
func (w *Conn) Abort(reason string) {
	w.mu.Lock()
	first := !w.aborted
	w.aborted = true
	w.mu.Unlock()
	if first {
		w.log.Warn(w.broker+": dropping the connection: "+reason, "write_blocked_for", w.StuckFor().Round(time.Millisecond).String())
		_ = w.Conn.Close()
	}
}

// AbortIfStalled runs once a publish's context has ended while the client still
// holds it (returned not yet closed). If a write has moved no data for Stalled, the
// broker is not taking writes, and the connection is cut rather than letting the
// publish outlive its deadline. A publish merely queued behind a write that moves
// returns by itself; one behind a blocked write is freed by the cut.
func (w *Conn) AbortIfStalled(returned <-chan struct{}) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if w.StuckFor() > Stalled {
			select {
			case <-returned:
			default:
				w.Abort("a publish outlived its deadline while the broker was not reading")
			}
			return
		}
		select {
		case <-returned:
			return
		case <-tick.C:
		}
	}
}

// Watch closes the socket when ctx ends, until Unwatch: connecting gives up at once
// when the sink closes.
func (w *Conn) Watch(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopWatch = context.AfterFunc(ctx, func() { _ = w.Conn.Close() })
}

// Unwatch ends Watch.
func (w *Conn) Unwatch() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopWatch != nil {
		w.stopWatch()
		w.stopWatch = nil
	}
}

func (w *Conn) Close() error {
	w.Unwatch()
	return w.Conn.Close()
}
