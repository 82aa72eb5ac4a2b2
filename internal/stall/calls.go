package stall

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Calls runs calls into a broker client that may outlast their context. At most n
// run at once; Run returns when its context ends, and a call that has not returned
// by then keeps its slot until it does, so at most n calls are ever left running,
// each holding its message. A call that finds every slot held waits for one, unless
// every holder has been given up by its caller: then nothing is about to free, and
// it is refused at once with ErrBackedUp.
//
// The calls run on at most n goroutines that stay, not one new goroutine per call:
// a new goroutine would grow its stack in every call (nats.go decoding a PubAck
// takes it past the first 8 KiB), which cost more CPU per webhook than the call.
type Calls struct {
	slots   chan struct{}
	queue   chan *job // never blocks a sender: only slot holders send
	workers atomic.Int32
	// spare counts the workers waiting on queue that no queued call has claimed.
	// A call claims one or starts a worker, so every queued call has a worker of
	// its own and never waits behind another that blocks.
	spare atomic.Int32
	left  atomic.Int64 // calls whose caller has gone, still running
}

// job is one call on its way through a worker.
type job struct {
	ctx   context.Context
	call  func() error
	state atomic.Int32 // running, then abandoned by the caller or returned
	done  chan error   // capacity 1; written only while the caller still waits
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan error, 1)} }}

// NewCalls returns a Calls of n slots.
func NewCalls(n int) *Calls {
	return &Calls{slots: make(chan struct{}, n), queue: make(chan *job, n)}
}

// ErrBackedUp is a call refused because every slot is held by a call its caller gave
// up on: the broker is not keeping up. It is not permanent: the sender retries.
var ErrBackedUp = errors.New("stall: the broker is not keeping up: calls past their deadlines are still under way")

// Run runs call on a goroutine of its own and returns its error, or ctx's error as
// soon as ctx ends. A call is not started once ctx has ended.
func (c *Calls) Run(ctx context.Context, call func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case c.slots <- struct{}{}:
	default:
		if n := c.left.Load(); n >= int64(cap(c.slots)) {
			return fmt.Errorf("%w (%d)", ErrBackedUp, n)
		}
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for one of %d calls under way: %w", ErrBackedUp, cap(c.slots), ctx.Err())
		}
	}
	j := jobs.Get().(*job)
	j.ctx, j.call = ctx, call
	j.state.Store(running)
	c.queue <- j
	if c.spare.Add(-1) < 0 {
		// No worker waits unclaimed: start one for this call. At n workers one is
		// about to wait (it freed this call's slot), so the call is taken soon.
		c.spare.Add(1)
		for {
			w := c.workers.Load()
			if int(w) >= cap(c.slots) {
				break
			}
			if c.workers.CompareAndSwap(w, w+1) {
				go c.work()
				break
			}
		}
	}
	select {
	case err := <-j.done:
		jobs.Put(j)
		return err
	case <-ctx.Done():
	}
	if !j.state.CompareAndSwap(running, abandoned) {
		err := <-j.done // it returned at the same moment: its answer wins
		jobs.Put(j)
		return err
	}
	c.left.Add(1)
	return ctx.Err()
}

const (
	running = iota
	abandoned
	returned
)

// work runs queued calls, one at a time, for as long as the process lives. It was
// started for a call, so it takes one before it counts itself spare.
func (c *Calls) work() {
	for first := true; ; first = false {
		if !first {
			c.spare.Add(1)
		}
		j := <-c.queue
		err := j.ctx.Err() // a call queued behind others is not started late
		if err == nil {
			err = j.call()
		}
		j.ctx, j.call = nil, nil
		if j.state.Swap(returned) == abandoned {
			// Counted out before its slot frees, so Left never exceeds the slots
			// held. The caller has gone: the job is nobody's but ours.
			c.left.Add(-1)
			<-c.slots
			jobs.Put(j)
			continue
		}
		<-c.slots // before the answer: the caller's next call finds the slot
		j.done <- err
	}
}

// BackedUp reports whether every slot is held by a call its caller gave up on: no
// call can start until one of them returns.
func (c *Calls) BackedUp() bool { return c.left.Load() >= int64(cap(c.slots)) }

// Left is how many calls are still running after their callers gave up on them.
func (c *Calls) Left() int { return int(c.left.Load()) }

// Open runs open in c as Run runs a call, for a call that makes something that must
// be closed (a channel, a connection): what open makes after its caller gave up is
// handed to undo instead of being lost.
func Open[T any](ctx context.Context, c *Calls, open func() (T, error), undo func(T)) (T, error) {
	var (
		mu     sync.Mutex
		gaveUp bool
		have   bool // made holds what open made in time
		made   T
	)
	err := c.Run(ctx, func() error {
		v, err := open()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if gaveUp {
			undo(v)
			return nil
		}
		made, have = v, true
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		gaveUp = true
		if have {
			// Made as its caller gave up (Run returned the context's error while
			// the call was returning): nobody takes it, so it is undone.
			undo(made)
		}
		var zero T
		return zero, err
	}
	return made, nil
}
