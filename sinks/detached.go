package sinks

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Detached runs calls into a broker client that may outlast their context: neither
// client looks at a deadline while it writes or reconnects, and a publish must end
// at its deadline all the same. A call still running then is left to finish on its
// own. Each one left holds its message, and a link slower than the load would
// gather them without end: once MaxDetached are left, calls fail at once. The
// bound is checked before a call starts and a call is left only when its deadline
// passes, so calls that started together may take it past MaxDetached by at most
// the publishes in flight then.
type Detached struct{ left atomic.Int64 }

// MaxDetached bounds the calls left running, and with them the memory they hold
// (at most this many bodies of BRIDGE_MAX_BODY_BYTES).
const MaxDetached = 64

// ErrBackedUp is a call refused because MaxDetached calls given up at their
// deadline are still under way. It is not permanent: the sender retries.
var ErrBackedUp = errors.New("the broker is not keeping up: writes of publishes past their deadline are still under way")

// Refuse is ErrBackedUp while MaxDetached calls are left running, else nil: call
// it before Run.
func (d *Detached) Refuse() error {
	if n := d.left.Load(); n >= MaxDetached {
		return fmt.Errorf("%w (%d)", ErrBackedUp, n)
	}
	return nil
}

// Run returns call's error once it returns; or, when ctx ends or giveUp closes
// first (giveUp may be nil), left == true and the call is left running.
func (d *Detached) Run(ctx context.Context, giveUp <-chan struct{}, call func() error) (err error, left bool) {
	if err := ctx.Err(); err != nil {
		return err, false // nothing started, nothing to leave
	}
	select {
	case <-giveUp:
		return ErrGaveUp, false
	default:
	}
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err, false
	case <-ctx.Done():
	case <-giveUp:
	}
	select {
	case err := <-done:
		return err, false
	default:
	}
	d.left.Add(1)
	go func() {
		<-done
		d.left.Add(-1)
	}()
	return nil, true
}

// ErrGaveUp is Run's error when giveUp was closed before the call started.
var ErrGaveUp = errors.New("given up before the call started")

// Left is how many calls are still running after their caller gave up on them.
func (d *Detached) Left() int64 { return d.left.Load() }
