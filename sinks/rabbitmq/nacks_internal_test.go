package rabbitmq

import (
	"context"
	"testing"
	"time"
)

func stuck(w *nackWatch) bool {
	select {
	case <-w.stuck:
		return true
	default:
		return false
	}
}

func TestNackWatch(t *testing.T) {
	t.Parallel()
	// Many nacks at once are a burst (a queue electing a leader), not a stuck session.
	w := newNackWatch()
	for range 100 {
		w.observe(errNacked)
	}
	if stuck(w) {
		t.Fatal("stuck after a burst of nacks shorter than stuckFor")
	}
	// Nacks for longer than stuckFor with no ack: stuck.
	w.mu.Lock()
	w.since = time.Now().Add(-stuckFor)
	w.mu.Unlock()
	w.observe(errNacked)
	if !stuck(w) {
		t.Fatal("not stuck after nacks only for stuckFor")
	}
	w.observe(errNacked) // closing twice would panic

	// One ack in between starts the count again; other errors do not count.
	w = newNackWatch()
	for range stuckNacks {
		w.observe(errNacked)
	}
	w.observe(nil)
	w.mu.Lock()
	w.since = time.Now().Add(-time.Hour)
	w.mu.Unlock()
	for range stuckNacks - 1 {
		w.observe(errNacked)
		w.observe(context.DeadlineExceeded)
	}
	if stuck(w) {
		t.Fatal("stuck although an ack came and fewer than stuckNacks nacks followed it")
	}
}
