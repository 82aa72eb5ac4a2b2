package stall

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Interval is how long a write may move no data before it fails: well above a TCP
// retransmission (at least 200 ms on Linux, doubling after each loss) and the pauses
// seen on a slow shaped link (up to 1.1 s at 1 Mbit/s), and well below a publish's
// deadline (10 s by default), so a publish on a dead connection is still retried on
// a new one. A publish never waits for it: it ends at its own deadline (Calls).
const Interval = 2 * time.Second

// piece is the most a write hands the kernel at a time. A write waits until the
// kernel has taken all of its piece, and only its end shows that data moved; in
// pieces, a large write on a slow but working link moves before each deadline.
// Most messages fit in one piece, and so does a TLS record (16 KiB and overhead).
const piece = 17 << 10

// Conn is a net.Conn on which a write that moves no data for its interval fails.
// The client's own write deadlines (a handshake, a polite close) still apply: a
// piece gets the earlier of the two.
type Conn struct {
	net.Conn
	interval time.Duration
	release  func() // forgets the conn in its Sockets; nil when not tracked

	mu     sync.Mutex
	client time.Time // the client's write deadline; zero: none
	piece  time.Time // the deadline of the piece being written; zero: no write yet
	closed bool
}

// NewConn watches conn's writes with interval (Interval when 0) and keeps its unsent
// data small where the system allows (TCP_NOTSENT_LOWAT).
func NewConn(conn net.Conn, interval time.Duration) *Conn {
	if interval <= 0 {
		interval = Interval
	}
	setLowat(conn)
	return &Conn{Conn: conn, interval: interval}
}

// ErrStalled is the error of a write that moved no data for the interval.
var ErrStalled = errors.New("stall: the peer took no data")

func (c *Conn) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		p := b[:min(len(b), piece)]
		c.mu.Lock()
		d := time.Now().Add(c.interval)
		if !c.client.IsZero() && c.client.Before(d) {
			d = c.client
		}
		c.piece = d
		err := c.Conn.SetWriteDeadline(d)
		c.mu.Unlock()
		if err != nil {
			return n, err
		}
		m, err := c.Conn.Write(p)
		n += m
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !c.clientDeadlinePassed() {
				// Wrapped, not replaced: the client still sees a net.Error timeout.
				err = fmt.Errorf("%w for %s: %w", ErrStalled, c.interval, err)
			}
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

func (c *Conn) clientDeadlinePassed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.client.IsZero() && !c.client.After(time.Now())
}

// SetWriteDeadline records the client's deadline; it applies at once to a write in
// progress only when it is the earlier one (a client cutting its own write short).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.client = t
	if c.piece.IsZero() || (!t.IsZero() && t.Before(c.piece)) {
		return c.Conn.SetWriteDeadline(t)
	}
	return nil
}

// SetDeadline sets the read deadline and records the write deadline (SetWriteDeadline).
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// Close closes the connection and forgets it in its Sockets.
func (c *Conn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.mu.Unlock()
	err := c.Conn.Close()
	if first && c.release != nil {
		c.release()
	}
	return err
}
