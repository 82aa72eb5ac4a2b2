package app

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// serverLimits bound what one client can hold: time to send the headers and the
// whole request (slowloris), time an idle keep-alive connection stays open, and the
// number of open connections. They are fixed, not configuration: a variable here.
type serverLimits struct {
	readHeader, read, idle time.Duration
	// writeMargin: the server's write deadline, from the headers, is PublishTimeout
	// plus this; the webhook handler moves it once the body is read.
	writeMargin time.Duration
	// connsPerInFlight: open connections allowed per BRIDGE_MAX_IN_FLIGHT slot;
	// beyond them, an idle keep-alive connection is closed to make room, and
	// without one new connections wait in the kernel's accept queue.
	connsPerInFlight int
	minConns         int
}

func defaultLimits() serverLimits {
	return serverLimits{
		readHeader:       5 * time.Second,
		read:             30 * time.Second,
		idle:             90 * time.Second,
		writeMargin:      10 * time.Second,
		connsPerInFlight: 4,
		minConns:         256,
	}
}

func (l serverLimits) maxConns(maxInFlight int) int {
	return max(l.minConns, l.connsPerInFlight*maxInFlight)
}

// limitListener accepts at most n connections at a time. When all n are open, the
// one idle the longest is closed to admit the next: idle clients must not lock out a
// new sender or the health check. Idle means between keep-alive requests, or open
// and silent since it was accepted: a client that opens connections and sends
// nothing would otherwise hold every slot for the header timeout, again and again.
// A connection whose headers (or TLS handshake) are arriving is not idle, unless it
// has sent nothing for quietAfter, or every slot is held by such connections (see
// evictIdle). Close unblocks a waiting Accept, so a shutdown never waits for a slot.
//
// The server must report connection states with connState.
func limitListener(ln net.Listener, n int) *limited {
	return &limited{
		Listener: ln,
		slots:    make(chan struct{}, n),
		closed:   make(chan struct{}),
		idleNow:  make(chan struct{}, 1),
		idle:     make(map[*limitedConn]time.Time),
	}
}

type limited struct {
	net.Listener
	slots     chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	idleNow   chan struct{} // a connection turned idle: a waiting Accept may evict it

	mu   sync.Mutex
	idle map[*limitedConn]time.Time // connections between requests or not yet in one, and since when
}

// quietAfter is how long a connection part-way through its headers must have sent
// nothing to count as idle: far above the pauses of a slow network.
const quietAfter = time.Second

// Accept takes the next connection from the kernel first and then waits for a slot:
// waiting before the kernel's Accept would hold a slot for a connection that has
// not arrived, and evict an idle one for nobody.
func (l *limited) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	for {
		select {
		case l.slots <- struct{}{}:
			return l.wrap(c), nil
		default:
		}
		// After an eviction the victim's slot frees once the server has seen it
		// closed: wait for that, not for a connection turning idle (a signal that
		// may be older than the eviction would close a second one). Without one, a
		// connection stalled part-way through its headers turns evictable without
		// a state change: look again now and then.
		idleNow := l.idleNow
		if l.evictIdle(time.Now()) {
			idleNow = nil
		}
		again := time.NewTimer(quietAfter / 4)
		select {
		case l.slots <- struct{}{}:
			again.Stop()
			return l.wrap(c), nil
		case <-idleNow:
		case <-again.C:
		case <-l.closed:
			again.Stop()
			_ = c.Close()
			return nil, net.ErrClosed
		}
		again.Stop()
	}
}

func (l *limited) wrap(c net.Conn) *limitedConn {
	lc := &limitedConn{Conn: c}
	lc.release = func() { l.forget(lc); <-l.slots }
	return lc
}

func (l *limited) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// evictIdle closes the connection idle the longest, if any: first among those
// silent since they turned idle or were opened (or quiet for quietAfter part-way
// through), and only when there is none, the one whose request began arriving the
// earliest — a client trickling its headers must not make every slot its own for
// the header timeout. Its slot frees when the server has closed it.
func (l *limited) evictIdle(now time.Time) (evicted bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var quiet, arriving *limitedConn
	var quietSince, arrivingSince time.Time
	for c, since := range l.idle {
		at := since
		if heard := at64(c.heard.Load()); heard.After(since) {
			at = heard
			if now.Sub(heard) < quietAfter {
				began := at64(c.began.Load())
				if arriving == nil || began.Before(arrivingSince) {
					arriving, arrivingSince = c, began
				}
				continue
			}
		}
		if quiet == nil || at.Before(quietSince) {
			quiet, quietSince = c, at
		}
	}
	victim := quiet
	if victim == nil {
		victim = arriving
	}
	if victim != nil {
		delete(l.idle, victim)
		// Under the lock, so that connState cannot mark it active in between. It can
		// still have read a whole request the server has not yet marked active (a
		// window of moments): its sender gets no answer and retries, and the
		// delivery id makes the retry harmless. victim.Conn is the raw TCP
		// connection (TLS sits above this listener): closing it does not block.
		_ = victim.Conn.Close()
	}
	return victim != nil
}

func (l *limited) forget(c *limitedConn) {
	l.mu.Lock()
	delete(l.idle, c)
	l.mu.Unlock()
}

// connState is the server's ConnState hook: it tracks which connections are idle or
// have sent nothing yet.
func (l *limited) connState(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	if state == http.StateIdle || state == http.StateNew {
		lc.began.Store(0)
		l.idle[lc] = time.Now()
	} else {
		delete(l.idle, lc)
	}
	l.mu.Unlock()
	if state == http.StateIdle {
		select {
		case l.idleNow <- struct{}{}:
		default:
		}
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
	heard   atomic.Int64 // when the last read brought bytes, as time since epoch (monotonic); 0: never
	began   atomic.Int64 // the same, for the first read since the connection turned idle or new
}

// epoch makes the times of reads monotonic: a step of the wall clock must not
// change which connection is evicted.
var epoch = time.Now()

func (c *limitedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		t := int64(time.Since(epoch)) + 1
		c.heard.Store(t)
		c.began.CompareAndSwap(0, t)
	}
	return n, err
}

// at64 is the time a heard or began value stands for (the zero time: never).
func at64(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return epoch.Add(time.Duration(t - 1))
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
