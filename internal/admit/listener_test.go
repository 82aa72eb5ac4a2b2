package admit_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

// sockets is a loopback listener that keeps, in order, every socket it accepted
// and whether it is closed, as the kernel's side of the admit Listener.
type sockets struct {
	net.Listener
	mu       sync.Mutex
	conns    []*socket
	open     int // accepted and not closed
	peak     int
	admitted int // conns[:admitted] were returned by the admit Listener
	openAdm  int // of those, not closed
	peakAdm  int
	changed  chan struct{} // closed and replaced when a socket is accepted or closed
}

type socket struct {
	net.Conn
	s      *sockets
	i      int
	closed bool // guarded by s.mu
}

func listen(t *testing.T) *sockets {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &sockets{Listener: ln, changed: make(chan struct{})}
}

func (s *sockets) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	sc := &socket{Conn: c, s: s, i: len(s.conns)}
	s.conns = append(s.conns, sc)
	s.open++
	s.peak = max(s.peak, s.open)
	s.broadcast()
	s.mu.Unlock()
	return sc, nil
}

func (s *sockets) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// await waits until cond (called under the lock) holds; the sockets change only
// by events, so this is no poll.
func (s *sockets) await(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("sockets never reached the state awaited")
		}
	}
}

// admit records that the admit Listener returned the next socket (Accept returns
// them in the order the kernel's side accepted them).
func (s *sockets) admit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.conns[s.admitted].closed {
		s.openAdm++
		s.peakAdm = max(s.peakAdm, s.openAdm)
	}
	s.admitted++
}

func (c *socket) Close() error {
	c.s.mu.Lock()
	if !c.closed {
		c.closed = true
		c.s.open--
		if c.i < c.s.admitted {
			c.s.openAdm--
		}
		c.s.broadcast()
	}
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// isClosed reports whether the i-th accepted socket is closed.
func (s *sockets) isClosed(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[i].closed
}

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type accepted struct {
	c   net.Conn
	err error
}

func goAccept(l net.Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.Accept()
		ch <- accepted{c, err}
	}()
	return ch
}

func mustAccept(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	a := <-goAccept(l)
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a.c
}

// A connection's turn begins when it is admitted and again at its first byte, so
// the one admitted the earliest of those silent since is closed first, at Grace;
// one being served is never closed; one turning idle begins a new turn. ConnState
// sees through *tls.Conn.
func TestListenerTurns(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	kernel := listen(t)
	l := admit.NewListener(kernel, 2, clk)
	defer l.Close()

	clientA := dial(t, l)
	a := mustAccept(t, l) // socket 0, turn t0
	clk.Advance(100 * time.Millisecond)
	dial(t, l)
	mustAccept(t, l) // socket 1, turn t0+100ms
	clk.Advance(100 * time.Millisecond)
	// a's client sends its first byte: a's turn begins again at t0+200ms.
	_, _ = clientA.Write([]byte("G"))
	if _, err := a.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}

	dial(t, l)
	third := goAccept(l)
	waitingBehind(t, clk, 1)
	clk.Set(t0.Add(100*time.Millisecond + admit.Grace - 1))
	if kernel.isClosed(0) || kernel.isClosed(1) {
		t.Fatal("a connection was closed before its turn was Grace old")
	}
	clk.Advance(1)
	if !kernel.isClosed(1) || kernel.isClosed(0) {
		t.Fatalf("closed: a %v, silent since admitted %v; want only the silent one", kernel.isClosed(0), kernel.isClosed(1))
	}
	<-third // socket 2, turn t0+1.1s

	// a is served over TLS: never closed, however long.
	l.ConnState(tls.Server(a, &tls.Config{}), http.StateActive)
	dial(t, l)
	fourth := goAccept(l)
	waitingBehind(t, clk, 1)
	clk.Advance(time.Hour)
	if kernel.isClosed(0) || !kernel.isClosed(2) {
		t.Fatalf("closed: a (served) %v, c %v; want only c", kernel.isClosed(0), kernel.isClosed(2))
	}
	<-fourth // socket 3, turn t0+2.1s

	// a's request is answered: idle, its turn begins now (t0+1h+0.2s); socket 3's
	// began an hour ago and goes first.
	l.ConnState(a, http.StateIdle)
	dial(t, l)
	mustAccept(t, l) // at once: socket 3 is old
	if !kernel.isClosed(3) || kernel.isClosed(0) {
		t.Fatal("the idle connection went before an older one")
	}
	dial(t, l)
	fifth := goAccept(l)
	waitingBehind(t, clk, 1)
	clk.Advance(admit.Grace)
	if !kernel.isClosed(0) {
		t.Fatal("the connection idle for Grace was kept")
	}
	<-fifth
}

// Close unblocks an Accept waiting for a slot, whether the holders can be taken
// or are being served, and closes the connection it held; open ones stay open.
func TestCloseUnblocksAccept(t *testing.T) {
	t.Parallel()
	for name, served := range map[string]bool{"in line": false, "served": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(t0)
			kernel := listen(t)
			l := admit.NewListener(kernel, 1, clk)
			dial(t, l)
			a := mustAccept(t, l)
			if served {
				l.ConnState(a, http.StateActive)
			}
			waitingClient := dial(t, l)
			waiting := goAccept(l)
			kernel.await(t, func() bool { return len(kernel.conns) == 2 })
			if !served {
				waitingBehind(t, clk, 1)
			}
			l.Close()
			if r := <-waiting; !errors.Is(r.err, net.ErrClosed) {
				t.Fatalf("Accept after Close: %v, %v", r.c, r.err)
			}
			_ = waitingClient.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := waitingClient.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("the connection Accept held: read %v, want EOF", err)
			}
			if kernel.isClosed(0) {
				t.Error("Close closed an admitted connection")
			}
		})
	}
}

// A burst of thousands of connections that send nothing: each one admitted takes
// the slot of the oldest once it is Grace old, and never more than n are open
// (plus the one Accept holds while it waits).
func TestBurstNeverExceedsN(t *testing.T) {
	t.Parallel()
	const n, total = 16, 2000
	clk := clock.NewFake(t0)
	kernel := listen(t)
	l := admit.NewListener(kernel, n, clk)
	defer l.Close()
	var dialers sync.WaitGroup
	clients := make(chan net.Conn, total)
	for range 8 {
		dialers.Go(func() {
			for range total / 8 {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				clients <- c
			}
		})
	}
	defer func() {
		dialers.Wait()
		close(clients)
		for c := range clients {
			c.Close()
		}
	}()
	// Time moves whenever a newcomer waits behind someone in line.
	ctx, cancel := context.WithCancel(t.Context())
	var driver sync.WaitGroup
	driver.Go(func() {
		for clk.BlockUntil(ctx, 1) == nil {
			clk.Advance(admit.Grace)
		}
	})
	defer driver.Wait()
	defer cancel()
	for range total {
		if _, err := l.Accept(); err != nil {
			t.Fatal(err)
		}
		kernel.admit()
	}
	kernel.mu.Lock()
	defer kernel.mu.Unlock()
	if kernel.peakAdm > n || kernel.peak > n+1 || kernel.openAdm != n {
		t.Errorf("admitted and open at most %d (want %d), open sockets at most %d (want %d), admitted and open at the end %d",
			kernel.peakAdm, n, kernel.peak, n+1, kernel.openAdm)
	}
}

// A burst of requests through http.Server (as golang.org/x/net/netutil's test
// does): every one is answered, and never more than n connections are open.
func TestBurstOfRequests(t *testing.T) {
	t.Parallel()
	const n, total = 8, 500
	clk := clock.NewFake(t0)
	kernel := listen(t)
	l := admit.NewListener(kernel, n, clk)
	var inHandler, peakInHandler atomic.Int32
	srv := &http.Server{
		ConnState: l.ConnState,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			in := inHandler.Add(1)
			defer inHandler.Add(-1)
			for p := peakInHandler.Load(); in > p && !peakInHandler.CompareAndSwap(p, in); p = peakInHandler.Load() {
			}
			_, _ = io.WriteString(w, "ok")
		}),
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	var clients sync.WaitGroup
	var answered atomic.Int32
	for range total {
		clients.Go(func() {
			c, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				answered.Add(1)
			}
		})
	}
	clients.Wait()
	if a := answered.Load(); a != total {
		t.Errorf("%d of %d requests answered", a, total)
	}
	kernel.mu.Lock()
	defer kernel.mu.Unlock()
	if kernel.peak > n+1 || peakInHandler.Load() > n {
		t.Errorf("open sockets at most %d (want %d), requests in the handler at most %d (want %d)", kernel.peak, n+1, peakInHandler.Load(), n)
	}
}
