package main

import (
	"net"
	"sync"
	"time"
)

// serverLimits bound what one client can hold: time to send the headers and the
// whole request (slowloris), time an idle keep-alive connection stays open, and the
// number of open connections. They are fixed, not configuration: a variable here.
type serverLimits struct {
	readHeader, read, idle time.Duration
	// connsPerInFlight: open connections allowed per BRIDGE_MAX_IN_FLIGHT slot;
	// beyond them, new connections wait in the kernel's accept queue.
	connsPerInFlight int
	minConns         int
}

var limits = serverLimits{
	readHeader:       5 * time.Second,
	read:             30 * time.Second,
	idle:             90 * time.Second,
	connsPerInFlight: 4,
	minConns:         256,
}

func (l serverLimits) maxConns(maxInFlight int) int {
	return max(l.minConns, l.connsPerInFlight*maxInFlight)
}

// limitListener accepts at most n connections at a time.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limited{Listener: ln, slots: make(chan struct{}, n)}
}

type limited struct {
	net.Listener
	slots chan struct{}
}

func (l *limited) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
