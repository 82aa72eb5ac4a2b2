package stall

import (
	"net"
	"sync"
	"time"
)

// A client that flushes every message under its own connection lock (amqp091-go
// writes each publish's frames and flushes them holding its send lock) makes one
// write system call per message and lets the next message wait for it. Behind a
// WriteBehind, a write is a copy into a buffer and the socket is written by a
// goroutine of its own, in batches of whatever has gathered meanwhile: under load,
// fewer system calls on both ends, and the client's lock held for a copy.
//
// A write that returned before its bytes reached the kernel is not lost silently:
// when the socket fails (a stall included, see Conn), the connection is closed, the
// client's reader fails, and the client fails every operation still waiting on the
// peer (for a publish: its confirm). Nothing is reported done that was not sent.

// maxBehind bounds the bytes gathered: past it, a write waits, as it would on a
// full socket buffer.
const maxBehind = 1 << 20

// behind is a net.Conn whose writes are copied to a buffer and written by a
// goroutine of its own.
type behind struct {
	*Conn

	mu      sync.Mutex
	room    sync.Cond // signalled when the buffer drains or the writer fails
	pending []byte
	err     error // the first write error; every later write returns it
	kick    chan struct{}
	closed  chan struct{}
	once    sync.Once
}

// WriteBehind returns c with its writes done by a goroutine of its own (see above).
func WriteBehind(c *Conn) net.Conn {
	b := &behind{Conn: c, kick: make(chan struct{}, 1), closed: make(chan struct{})}
	b.room.L = &b.mu
	go b.write()
	return b
}

func (b *behind) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.pending) > 0 && len(b.pending)+len(p) > maxBehind {
		b.room.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	b.pending = append(b.pending, p...)
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

// write sends what gathers until the socket fails or is closed.
func (b *behind) write() {
	var batch []byte
	for {
		select {
		case <-b.kick:
		case <-b.closed:
			return
		}
		b.mu.Lock()
		batch, b.pending = b.pending, batch[:0]
		b.room.Broadcast()
		b.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		if _, err := b.Conn.Write(batch); err != nil {
			b.mu.Lock()
			b.err = err
			b.room.Broadcast()
			b.mu.Unlock()
			_ = b.Conn.Close() // the client's reader fails, and with it what waits on the peer
			return
		}
		if cap(batch) > maxBehind { // a burst's buffer is not kept
			batch = nil
		}
	}
}

func (b *behind) Close() error {
	b.once.Do(func() {
		close(b.closed)
		b.mu.Lock()
		if b.err == nil {
			b.err = net.ErrClosed
		}
		b.room.Broadcast()
		b.mu.Unlock()
	})
	return b.Conn.Close()
}

// SetDeadline and SetWriteDeadline reach the socket, so the writer's system call
// honours a deadline the client sets (a polite close with a time limit).
func (b *behind) SetDeadline(t time.Time) error      { return b.Conn.SetDeadline(t) }
func (b *behind) SetWriteDeadline(t time.Time) error { return b.Conn.SetWriteDeadline(t) }
