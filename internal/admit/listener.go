package admit

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

// Listener holds at most n connections open at once, admitted by the rule of the
// package comment: a connection's turn begins when it gets its slot, again at the
// first byte of each request, and again when its handler returns (Answered) or
// it turns idle; while a request is being served (from the end of its headers
// until its handler returns) it is never taken. Taking a slot
// closes the holder's socket.
//
// Accept takes a connection from the kernel first and then a slot: waiting
// before the kernel's Accept would hold a slot for a connection that has not
// arrived, and evict a holder for nobody. Meanwhile further connections wait in
// the kernel's accept queue. Close unblocks a waiting Accept.
//
// The server must report connection states to ConnState.
type Listener struct {
	net.Listener
	pool   *Pool
	closed context.Context
	close  context.CancelFunc
}

// NewListener admits at most n connections of ln at once, by the clock clk.
func NewListener(ln net.Listener, n int, clk clock.Clock) *Listener {
	// The listener's own lifetime, which only Close ends: no caller's context.
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{Listener: ln, pool: NewPool(n, clk), closed: ctx, close: cancel}
}

// Accept waits for the next connection and then for its slot.
func (l *Listener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: raw}
	c.fresh.Store(true)
	// raw is the socket itself (TLS, if any, sits above this listener): closing it
	// does not block, and the server's next read or write on it fails.
	c.slot, err = l.pool.Acquire(l.closed, func() { _ = raw.Close() })
	if err == nil && l.closed.Err() != nil {
		c.slot.Release()
		err = l.closed.Err()
	}
	if err != nil {
		_ = raw.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

// Close stops Accept, also one waiting for a slot; open connections stay.
func (l *Listener) Close() error {
	l.close()
	return l.Listener.Close()
}

// ConnState is http.Server's ConnState hook: a connection whose request is being
// served is never taken, and one that turns idle begins a new turn. It unwraps a
// *tls.Conn to the connection Accept returned; others are ignored.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	if !ok || c.slot.p != l.pool {
		return
	}
	switch state {
	case http.StateActive, http.StateHijacked:
		c.slot.Serve()
	case http.StateIdle:
		c.fresh.Store(true)
		c.slot.Done()
	}
}

// connKey is the context key of a request's admitted connection.
type connKey struct{}

// ConnContext is http.Server's ConnContext hook: it keeps the admitted connection
// in the context of its requests, for Answered.
func (l *Listener) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	if c, ok := nc.(*conn); ok && c.slot.p == l.pool {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Answered wraps the server's handler: once a request's handler has returned, its
// connection is back in line, its turn beginning then, although the server is
// still writing the answer. A client that does not read its answers (the write
// blocks until the write deadline, tens of seconds) is then taken by a newcomer
// after Grace, as an idle one is, instead of holding its slot as one being served.
func (l *Listener) Answered(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if c, ok := r.Context().Value(connKey{}).(*conn); ok {
				c.slot.Done()
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// conn is an admitted connection: its first read with bytes after it was
// accepted or turned idle marks its turn, and Close gives its slot back.
type conn struct {
	net.Conn
	slot  *Slot
	fresh atomic.Bool // no byte read since it was accepted or turned idle
	once  sync.Once
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.fresh.Load() && c.fresh.CompareAndSwap(true, false) {
		c.slot.Mark()
	}
	return n, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.slot.Release() })
	return err
}
