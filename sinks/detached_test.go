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
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		err, left := d.Run(ctx, nil, func() error { <-release; return nil })
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
