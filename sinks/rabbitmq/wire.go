package rabbitmq

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// wire is the TCP connection under an AMQP connection, watched for writes the broker
// does not take. amqp091-go checks a publish's context only before writing and sets
// no write deadline: when the broker stops reading its socket (an alarm, a network
// that silently drops), the writer blocks in the kernel holding the channel and
// connection locks, and every publish behind it waits too, past any deadline. The
// wire records when the write in progress began, so a publish that outlives its
// context, or Close, can tell a stall from a slow confirm and cut the connection;
// the writer then fails, the library shuts the connection down, and the supervisor
// reconnects.
type wire struct {
	net.Conn
	log *slog.Logger

	writingSince atomic.Int64 // unix nanoseconds when the Write in progress began; 0: none

	mu            sync.Mutex
	writeDeadline time.Time // the library's own (handshake, CloseDeadline); zero: none
	aborted       bool
	stopWatch     func() bool
}

// writeStallLimit bounds a write no publish waits for (a heartbeat, a close frame):
// a broker that takes nothing for two heartbeat intervals is gone or frozen.
const writeStallLimit = 20 * time.Second

func (w *wire) Write(b []byte) (int, error) {
	now := time.Now()
	w.writingSince.Store(now.UnixNano())
	defer w.writingSince.Store(0)
	deadline := now.Add(writeStallLimit)
	w.mu.Lock()
	if !w.writeDeadline.IsZero() && w.writeDeadline.Before(deadline) {
		deadline = w.writeDeadline
	}
	w.mu.Unlock()
	if err := w.Conn.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	return w.Conn.Write(b)
}

func (w *wire) SetDeadline(t time.Time) error {
	w.mu.Lock()
	w.writeDeadline = t
	w.mu.Unlock()
	return w.Conn.SetDeadline(t)
}

func (w *wire) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	w.writeDeadline = t
	w.mu.Unlock()
	return w.Conn.SetWriteDeadline(t)
}

// stuckFor is how long the write in progress has been blocked (0 when none is).
func (w *wire) stuckFor() time.Duration {
	since := w.writingSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// abort closes the socket under the library: a blocked write fails at once.
func (w *wire) abort(reason string) {
	w.mu.Lock()
	first := !w.aborted
	w.aborted = true
	w.mu.Unlock()
	if first {
		w.log.Warn("rabbitmq: dropping the connection: "+reason, "write_blocked_for", w.stuckFor().Round(time.Millisecond).String())
		_ = w.Conn.Close()
	}
}

// stalledWrite is how long a write must have been blocked before it counts as a
// stall: far above what a healthy write of one frame takes, short enough to keep a
// publish near its deadline.
const stalledWrite = 100 * time.Millisecond

// abortIfStalled runs once a publish's context has ended while the library still
// holds it in the write path (returned not yet closed). If a write is blocked, the
// broker is not taking writes, and the connection is cut rather than letting the
// publish outlive its deadline. A publish merely queued behind a healthy write
// returns by itself within moments; one behind a blocked write is freed by the cut.
func (w *wire) abortIfStalled(returned <-chan struct{}) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if w.stuckFor() > stalledWrite {
			select {
			case <-returned:
			default:
				w.abort("a publish outlived its deadline while the broker was not reading")
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

// watch closes the socket when ctx ends, until unwatch: connecting gives up at
// once when the sink closes.
func (w *wire) watch(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopWatch = context.AfterFunc(ctx, func() { _ = w.Conn.Close() })
}

func (w *wire) unwatch() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopWatch != nil {
		w.stopWatch()
		w.stopWatch = nil
	}
}

func (w *wire) Close() error {
	w.unwatch()
	return w.Conn.Close()
}
