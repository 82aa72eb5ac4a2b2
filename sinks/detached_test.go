package sinks

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Calls left running past their deadline are counted until they return, and past
// MaxDetached new ones are refused with a retryable error.
func TestDetachedBoundsCallsLeftRunning(t *testing.T) {
	var d Detached
	release := make(chan struct{})
	for i := range MaxDetached {
		// The call ends its own context once started: a deadline could pass before it
		// starts, and then nothing is started or left.
		ctx, cancel := context.WithCancel(t.Context())
		err, left := d.Run(ctx, nil, func() error { cancel(); <-release; return nil })
		cancel()
		if !left || err != nil {
			t.Fatalf("call %d: left %v, err %v; want left running", i, left, err)
		}
	}
	err := d.Refuse()
	if !errors.Is(err, ErrBackedUp) || errors.Is(err, ErrPermanent) {
		t.Fatalf("Refuse with %d calls left = %v, want ErrBackedUp, not permanent", d.Left(), err)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for d.Left() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := d.Refuse(); err != nil || d.Left() != 0 {
		t.Fatalf("after the calls returned: Left %d, Refuse %v", d.Left(), err)
	}
	if err, left := d.Run(t.Context(), nil, func() error { return errors.New("boom") }); left || err == nil || err.Error() != "boom" {
		t.Fatalf("a call that returns in time: err %v, left %v", err, left)
	}
}

// A call whose context is over, or whose caller gave up, before it starts is not
// started, and nothing is left running.
func TestDetachedStartsNothingTooLate(t *testing.T) {
	var d Detached
	started := false
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err, left := d.Run(ctx, nil, func() error { started = true; return nil }); left || !errors.Is(err, context.Canceled) {
		t.Errorf("Run after the context ended = %v, left %v; want context.Canceled, nothing left", err, left)
	}
	gaveUp := make(chan struct{})
	close(gaveUp)
	if err, left := d.Run(t.Context(), gaveUp, func() error { started = true; return nil }); left || !errors.Is(err, ErrGaveUp) {
		t.Errorf("Run after giving up = %v, left %v; want ErrGaveUp, nothing left", err, left)
	}
	if started || d.Left() != 0 {
		t.Errorf("started %v, left %d; want nothing started", started, d.Left())
	}
}
