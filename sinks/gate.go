package sinks

import "sync"

// Gate is the lifecycle every sink shares: publishes enter and leave it, and Close
// shuts it so that new publishes are refused while those in flight finish.
// The zero value is open.
type Gate struct {
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

// Enter admits one publish; it returns false once the gate is shut. A publish that
// entered must call Leave.
func (g *Gate) Enter() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Leave ends a publish that entered.
func (g *Gate) Leave() { g.wg.Done() }

// Shut refuses new publishes and waits for those in flight. It reports whether this
// call shut the gate (false: it was shut already).
func (g *Gate) Shut() bool {
	g.mu.Lock()
	first := !g.closed
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
	return first
}

// IsShut reports whether the gate is shut.
func (g *Gate) IsShut() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.closed
}
