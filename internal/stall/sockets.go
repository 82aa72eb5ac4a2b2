package stall

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Sockets are the connections one sink dialed. Cut closes every one of them and
// makes dials fail from then on, so a client blocked on a socket (a write, a
// handshake, a dial while it reconnects) lets go at once when its sink closes.
// The zero value is ready to use, with Interval.
type Sockets struct {
	// Interval is the stall interval of every Conn dialed (Interval when 0).
	Interval time.Duration

	mu    sync.Mutex
	conns map[*Conn]struct{}
	cut   bool
	stop  context.CancelFunc
	dials context.Context // ends at Cut
}

// ErrCut is the error of a dial after Cut.
var ErrCut = errors.New("stall: the sink is closing")

func (s *Sockets) init() {
	if s.dials == nil {
		s.dials, s.stop = context.WithCancel(context.Background())
		s.conns = make(map[*Conn]struct{})
	}
}

// Dial connects to addr within timeout (none when 0) or until ctx or Cut ends it,
// and returns the connection watched for stalls.
func (s *Sockets) Dial(ctx context.Context, network, addr string, timeout time.Duration) (*Conn, error) {
	s.mu.Lock()
	s.init()
	if s.cut {
		s.mu.Unlock()
		return nil, ErrCut
	}
	dials := s.dials
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(dials, cancel)()
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
	if err != nil {
		if dials.Err() != nil {
			return nil, ErrCut
		}
		return nil, err
	}
	return s.track(NewConn(conn, s.Interval))
}

// track adds c, or closes it when the sockets are cut already.
func (s *Sockets) track(c *Conn) (*Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	if s.cut {
		_ = c.Conn.Close()
		return nil, ErrCut
	}
	s.conns[c] = struct{}{}
	c.release = func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}
	return c, nil
}

// Cut closes every connection and refuses dials from now on. It is idempotent.
func (s *Sockets) Cut() {
	s.mu.Lock()
	s.init()
	s.cut = true
	s.stop()
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// CloseWithin runs closeClient, which may block on a socket of these (a flush to a
// broker that does not read, a lock held by a reconnect), and returns when it has
// returned; if it has not after grace, every socket is cut so that it does.
func (s *Sockets) CloseWithin(grace time.Duration, closeClient func()) {
	t := time.AfterFunc(grace, s.Cut)
	closeClient()
	t.Stop()
}
