package natsjs

import "sync"

// link follows nats.go's connection from its disconnect and reconnect callbacks,
// which nats.go calls without holding its lock. Ready, Publish and Close ask it
// instead of nats.go, whose own status waits for its lock while it reconnects: a
// publish during an outage fails at once (the bridge retries it), and Close does
// not wait out the deadlines of publishes that cannot succeed.
type link struct {
	mu   sync.Mutex
	down chan struct{} // closed while the connection is down
}

func newLink() *link { return &link{down: make(chan struct{})} }

// lost is called when the connection goes down.
func (l *link) lost() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.down:
	default:
		close(l.down)
	}
}

// restored is called when the connection is up again.
func (l *link) restored() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.down:
		l.down = make(chan struct{})
	default:
	}
}

// isDown reports whether the connection is down now.
func (l *link) isDown() bool {
	select {
	case <-l.wentDown():
		return true
	default:
		return false
	}
}

// wentDown is closed once the connection is down (already, or later).
func (l *link) wentDown() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}
