// Package clock is the time a mechanism reads, injected so that its tests run in
// milliseconds: Real in production, Fake in tests, which moves only when told and
// runs what falls due before Advance returns (clockwork's fake runs AfterFunc in
// a goroutine of its own, so a test cannot know when it has run).
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock tells the time and runs a function once a duration has passed.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine (Real) or in the goroutine that moves
	// the clock past d (Fake); f must not expect a caller's lock to be free or held.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc. Stop reports whether it stopped f from running.
type Timer interface{ Stop() bool }

// Real is the system clock: Real{}.
type Real struct{}

func (Real) Now() time.Time                            { return time.Now() }
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Fake is a clock for tests: it stands still until Advance or Set moves it, and
// runs the functions that fall due on the way, in order of their time (ties in
// order of creation), in the goroutine that moved it, each seeing Now at its own
// time. So when Advance returns, everything due has run. Safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	seq     int
	pending []*fakeTimer
	changed chan struct{} // closed and replaced when pending changes
}

type fakeTimer struct {
	f   *Fake
	at  time.Time
	seq int
	fn  func()
}

// NewFake returns a fake clock standing at now.
func NewFake(now time.Time) *Fake { return &Fake{now: now, changed: make(chan struct{})} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// AfterFunc schedules fn at Now()+d; one due at once (d <= 0) runs on the next move.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	t := &fakeTimer{f: f, at: f.now.Add(d), seq: f.seq, fn: fn}
	f.pending = append(f.pending, t)
	f.notify()
	return t
}

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, p := range t.f.pending {
		if p == t {
			t.f.pending = append(t.f.pending[:i], t.f.pending[i+1:]...)
			t.f.notify()
			return true
		}
	}
	return false
}

// Advance moves the clock forward by d, running what falls due.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the clock to t, running what falls due by t.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		sort.Slice(f.pending, func(i, j int) bool {
			a, b := f.pending[i], f.pending[j]
			return a.at.Before(b.at) || a.at.Equal(b.at) && a.seq < b.seq
		})
		if len(f.pending) == 0 || f.pending[0].at.After(t) {
			f.now = t
			f.mu.Unlock()
			return
		}
		next := f.pending[0]
		f.pending = f.pending[1:]
		f.now = later(f.now, next.at)
		f.notify()
		f.mu.Unlock()
		next.fn()
	}
}

// BlockUntil waits until at least n functions are pending, or ctx ends.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		ok, changed := len(f.pending) >= n, f.changed
		f.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
