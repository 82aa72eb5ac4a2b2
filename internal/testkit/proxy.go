package testkit

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP proxy between a client (a sink, a load balancer's view of the
// bridge) and its server (a broker) that a test can cut, take down, stall or slow:
// network faults a real broker cannot produce on demand.
type Proxy struct {
	ln      net.Listener
	target  string
	latency atomic.Int64 // per forwarded chunk, nanoseconds
	down    atomic.Bool
	closing chan struct{}

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	flowing chan struct{} // closed while the proxy forwards; open while it is stalled
	wg      sync.WaitGroup
}

// StartProxy listens on a free loopback port and forwards to target until t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flowing := make(chan struct{})
	close(flowing)
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, flowing: flowing, closing: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection, as a network failure would; new connections
// are accepted again at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// SetDown makes the proxy cut every connection and refuse new ones (true), or
// serve again (false).
func (p *Proxy) SetDown(down bool) {
	p.down.Store(down)
	if down {
		p.Cut()
	}
}

// SetStalled makes the proxy stop reading from both sides while keeping every
// connection open (true), as a broker under an alarm or a network that silently
// drops does: once the socket buffers fill, the sender's writes block. false
// forwards again what is left.
func (p *Proxy) SetStalled(stalled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.flowing:
		if stalled {
			p.flowing = make(chan struct{})
		}
	default:
		if !stalled {
			close(p.flowing)
		}
	}
}

// SetLatency delays every chunk forwarded in either direction by d.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			client.Close()
			continue
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(client, server)
		go p.pipe(server, client)
	}
}

// flow returns once the proxy forwards (at once unless stalled), false when it
// closes first.
func (p *Proxy) flow() bool {
	p.mu.Lock()
	flowing := p.flowing
	p.mu.Unlock()
	select {
	case <-flowing:
		return true
	case <-p.closing:
		return false
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for p.flow() {
		n, err := src.Read(buf)
		if n > 0 {
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d) // the fault itself: the link's delay for this chunk
			}
			// A read under way when the stall began holds its chunk too.
			if !p.flow() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) close() {
	close(p.closing)
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
