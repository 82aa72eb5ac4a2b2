package admit

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

// Grace is how long a turn lasts before its slot may be taken.
const Grace = time.Second

// Pool is n slots under the rule of the package comment. Holders not being served
// wait in a line ordered by the start of their turn: every turn starts "now", so
// a marked holder goes to the back and the front is the only one that can be
// taken. One timer, armed only while newcomers wait, fires at the instant the
// front turns Grace old; a released slot goes straight to the first newcomer;
// ctx ends a newcomer's wait.
type Pool struct {
	n   int
	clk clock.Clock

	mu      sync.Mutex
	taken   int         // slots held, by holders in line, served, or given to a newcomer
	line    line        // the holders not being served, turn started earliest first
	waiting list.List   // of *waiter, in order of arrival
	timer   clock.Timer // nil or armed at timerAt, while newcomers wait
	timerAt time.Time
	armed   int // which arming the live timer is
}

// NewPool returns a pool of n slots (at least one) on clk.
func NewPool(n int, clk clock.Clock) *Pool {
	return &Pool{n: max(n, 1), clk: clk}
}

// Slot is one holder's place in a pool.
type Slot struct {
	p          *Pool
	evict      func()
	turn       time.Time // when its current turn began; guarded by p.mu
	prev, next *Slot     // in p.line while linked: a holder carries its own links, so
	linked     bool      // a request's turns in line cost no allocation
	state      state     // guarded by p.mu
}

type state uint8

const (
	inLine   state = iota
	served         // out of the line: never taken
	evicted        // its slot went to a newcomer
	released       // Release was called
)

type waiter struct {
	s      *Slot
	elem   *list.Element // in p.waiting; nil once it has a slot
	victim *Slot         // whose slot it got, if taken
	ready  chan struct{} // closed once it has its slot and the victim was evicted
}

// Acquire takes a slot for a newcomer, whose turn begins when it gets it, waiting
// as the rule says. When its slot is later taken, evict is called once (without
// the pool's lock), before the newcomer taking it goes on; it should end what
// the holder is doing (close its socket, cut its read). Acquire returns ctx's
// error if ctx ends first.
func (p *Pool) Acquire(ctx context.Context, evict func()) (*Slot, error) {
	w := &waiter{s: &Slot{p: p, evict: evict}, ready: make(chan struct{})}
	p.mu.Lock()
	w.elem = p.waiting.PushBack(w)
	admitted := p.admit()
	p.mu.Unlock()
	wake(admitted)
	select {
	case <-w.ready:
		return w.s, nil
	case <-ctx.Done():
	}
	// A last look: ctx may have ended at the very instant the front turned Grace
	// old, before the timer fired.
	p.mu.Lock()
	var last []*waiter
	if w.elem != nil {
		last = p.admit()
	}
	gotIt := w.elem == nil
	if !gotIt {
		p.waiting.Remove(w.elem)
		w.elem = nil
		p.schedule(p.clk.Now())
	}
	p.mu.Unlock()
	wake(last)
	if gotIt {
		<-w.ready
		return w.s, nil
	}
	return nil, ctx.Err()
}

// TryAcquire takes a slot for a newcomer if one is free or the front of the line
// is Grace old (it is taken, as Acquire would), without waiting: otherwise it
// returns nil. A newcomer does not pass others already waiting.
func (p *Pool) TryAcquire(evict func()) *Slot {
	s := &Slot{p: p, evict: evict}
	p.mu.Lock()
	if p.waiting.Len() > 0 {
		p.mu.Unlock()
		return nil
	}
	now := p.clk.Now()
	var victim *Slot
	if p.taken < p.n {
		p.taken++
	} else if front := p.line.front(); front != nil && !now.Before(front.turn.Add(Grace)) {
		victim = front
		p.line.remove(front)
		victim.state = evicted
	} else {
		p.mu.Unlock()
		return nil
	}
	s.turn = now
	p.line.pushBack(s)
	p.mu.Unlock()
	if victim != nil {
		victim.evict()
	}
	return s
}

// admit gives slots to the waiting newcomers in order while one is free or the
// front of the line is Grace old, then arms the timer for the rest. The caller
// holds p.mu and wakes the newcomers returned once it has let go of it.
func (p *Pool) admit() (admitted []*waiter) {
	now := p.clk.Now()
	for e := p.waiting.Front(); e != nil; e = p.waiting.Front() {
		w := e.Value.(*waiter)
		if p.taken < p.n {
			p.taken++
		} else if front := p.line.front(); front != nil && !now.Before(front.turn.Add(Grace)) {
			w.victim = front
			p.line.remove(front)
			w.victim.state = evicted
		} else {
			break
		}
		p.waiting.Remove(e)
		w.elem = nil
		w.s.turn = now
		p.line.pushBack(w.s)
		admitted = append(admitted, w)
	}
	p.schedule(now)
	return admitted
}

// wake evicts each admitted newcomer's victim, then lets the newcomer go on.
func wake(admitted []*waiter) {
	for _, w := range admitted {
		if w.victim != nil {
			w.victim.evict()
		}
		close(w.ready)
	}
}

// schedule keeps one timer armed, while newcomers wait and someone is in line, at
// the instant the front turns Grace old. A timer armed earlier is left: when it
// fires, admit looks at the front of then and arms again.
func (p *Pool) schedule(now time.Time) {
	front := p.line.front()
	if p.waiting.Len() == 0 || front == nil {
		if p.timer != nil {
			p.timer.Stop()
			p.timer = nil
		}
		return
	}
	at := front.turn.Add(Grace)
	if p.timer != nil && !p.timerAt.After(at) {
		return
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	p.armed++
	armed := p.armed
	p.timerAt = at
	p.timer = p.clk.AfterFunc(at.Sub(now), func() { p.fire(armed) })
}

func (p *Pool) fire(armed int) {
	p.mu.Lock()
	if armed == p.armed {
		p.timer = nil
	}
	admitted := p.admit()
	p.mu.Unlock()
	wake(admitted)
}

// Mark begins the holder's turn again now, unless it is being served or its slot
// is gone.
func (s *Slot) Mark() {
	p := s.p
	p.mu.Lock()
	if s.state == inLine {
		s.turn = p.clk.Now()
		p.line.remove(s)
		p.line.pushBack(s)
	}
	p.mu.Unlock()
}

// Serve takes the holder out of the line while it is being served: its slot is
// not taken until Done.
func (s *Slot) Serve() {
	p := s.p
	p.mu.Lock()
	if s.state == inLine {
		p.line.remove(s)
		s.state = served
	}
	p.mu.Unlock()
}

// Done puts a served holder back in line, its turn beginning now.
func (s *Slot) Done() {
	p := s.p
	p.mu.Lock()
	if s.state == served {
		now := p.clk.Now()
		s.turn, s.state = now, inLine
		p.line.pushBack(s)
		p.schedule(now)
	}
	p.mu.Unlock()
}

// Release gives the slot back (to the first waiting newcomer, if any) and reports
// whether it had been taken already (evict was called). Calls after the first
// change nothing.
func (s *Slot) Release() bool {
	p := s.p
	p.mu.Lock()
	switch s.state {
	case evicted:
		p.mu.Unlock()
		return true
	case released:
		p.mu.Unlock()
		return false
	}
	if s.linked {
		p.line.remove(s)
	}
	s.state = released
	p.taken--
	admitted := p.admit()
	p.mu.Unlock()
	wake(admitted)
	return false
}

// InUse is the number of slots held.
func (p *Pool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.taken
}

// line is a doubly linked list of holders through their own links.
type line struct{ head, tail *Slot }

func (l *line) front() *Slot { return l.head }

func (l *line) pushBack(s *Slot) {
	s.prev, s.next, s.linked = l.tail, nil, true
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
}

func (l *line) remove(s *Slot) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next, s.linked = nil, nil, false
}
