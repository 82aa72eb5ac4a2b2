package admit_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// holder is a slot and whether it was taken; evict runs in the goroutine that
// moved the clock, so after Advance or Set returns, taken is settled.
type holder struct {
	*admit.Slot
	taken atomic.Bool
}

// acquire starts a newcomer; its slot arrives on the channel.
func acquire(ctx context.Context, p *admit.Pool) (*holder, <-chan error) {
	h := &holder{}
	done := make(chan error, 1)
	go func() {
		s, err := p.Acquire(ctx, func() { h.taken.Store(true) })
		h.Slot = s
		done <- err
	}()
	return h, done
}

// take acquires a slot that must be free or takeable now.
func take(t *testing.T, p *admit.Pool) *holder {
	t.Helper()
	h, done := acquire(t.Context(), p)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return h
}

// waitingBehind returns once the pool's timer is armed: a newcomer waits behind
// someone in line.
func waitingBehind(t *testing.T, clk *clock.Fake, timers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, timers); err != nil {
		t.Fatalf("no newcomer waiting: %v", err)
	}
}

func wantTaken(t *testing.T, h *holder, name string, want bool) {
	t.Helper()
	if got := h.taken.Load(); got != want {
		t.Errorf("%s taken: %v, want %v", name, got, want)
	}
}

// The front of the line is taken at the exact instant its turn is Grace old, not
// a nanosecond before, and before the newcomer goes on; the others keep theirs.
func TestFrontIsTakenAtGrace(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(2, clk)
	a := take(t, p)
	clk.Advance(100 * time.Millisecond)
	b := take(t, p)
	clk.Advance(100 * time.Millisecond)

	c, done := acquire(t.Context(), p)
	waitingBehind(t, clk, 1)
	clk.Set(t0.Add(admit.Grace - 1))
	wantTaken(t, a, "a", false)
	clk.Set(t0.Add(admit.Grace))
	wantTaken(t, a, "a", true)
	wantTaken(t, b, "b", false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !a.Release() || b.Release() || c.Release() {
		t.Error("Release: want true only for the taken slot")
	}
	if n := p.InUse(); n != 0 {
		t.Errorf("InUse after every release = %d", n)
	}
}

// With the front already Grace old, a newcomer takes its slot at once.
func TestOldFrontIsTakenAtOnce(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(1, clk)
	a := take(t, p)
	clk.Advance(time.Hour)
	take(t, p)
	wantTaken(t, a, "a", true)
}

// A holder being served is never taken, however old; once done, its turn begins
// again then.
func TestServedHoldersAreNeverTaken(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(2, clk)
	served := take(t, p)
	served.Serve()
	b := take(t, p)

	c, done := acquire(t.Context(), p)
	waitingBehind(t, clk, 1)
	clk.Advance(time.Hour)
	wantTaken(t, b, "b", true)
	wantTaken(t, served, "served", false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// c's turn began at b's Grace instant, an hour ago; served's begins now.
	served.Done()
	take(t, p)
	wantTaken(t, c, "c", true)
	_, done = acquire(t.Context(), p)
	waitingBehind(t, clk, 1)
	clk.Advance(admit.Grace - 1)
	wantTaken(t, served, "served once done, before Grace", false)
	clk.Advance(1)
	wantTaken(t, served, "served once done, at Grace", true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Marking begins the turn again: the holder goes to the back of the line and the
// next one is taken first.
func TestMarkMovesToTheBack(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(2, clk)
	a := take(t, p)
	clk.Advance(100 * time.Millisecond)
	b := take(t, p)
	clk.Advance(100 * time.Millisecond)
	a.Mark() // a's turn: t0+200ms; b's: t0+100ms

	_, done := acquire(t.Context(), p)
	waitingBehind(t, clk, 1)
	clk.Set(t0.Add(100*time.Millisecond + admit.Grace))
	wantTaken(t, b, "b", true)
	wantTaken(t, a, "a", false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A freed slot goes to the newcomers in order of arrival, at once, and nobody is
// taken for it.
func TestFreedSlotGoesToTheFirstWaiting(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(2, clk)
	a, b := take(t, p), take(t, p)
	_, first := acquire(t.Context(), p)
	waitingBehind(t, clk, 1)
	second, secondDone := acquire(t.Context(), p)
	if a.Release() {
		t.Error("a was taken")
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-secondDone:
		t.Fatalf("the second newcomer got a slot (%v) when one was freed for two", err)
	default:
	}
	b.Release()
	if err := <-secondDone; err != nil {
		t.Fatal(err)
	}
	wantTaken(t, second, "second", false)
}

// ctx ends a wait; the newcomer leaves nothing behind: nobody is taken later.
func TestWaitEndsWithCtx(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(1, clk)
	a := take(t, p)
	ctx, cancel := context.WithCancel(t.Context())
	_, done := acquire(ctx, p)
	waitingBehind(t, clk, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire after cancel: %v", err)
	}
	clk.Advance(time.Hour)
	wantTaken(t, a, "a", false)
	if n := p.InUse(); n != 1 {
		t.Errorf("InUse = %d, want 1", n)
	}
}

// A wait whose ctx ends at the very instant the front turns Grace old gets the
// slot, whichever of the two is seen first.
func TestWaitEndingAtTheGraceInstantGetsTheSlot(t *testing.T) {
	t.Parallel()
	for range 50 {
		clk := clock.NewFake(t0)
		p := admit.NewPool(1, clk)
		a := take(t, p)
		ctx, cancel := context.WithCancel(t.Context())
		clk.AfterFunc(admit.Grace, cancel) // armed before the pool's timer: runs first
		_, done := acquire(ctx, p)
		waitingBehind(t, clk, 2)
		clk.Advance(admit.Grace)
		if err := <-done; err != nil {
			t.Fatalf("newcomer whose wait ended at the Grace instant: %v", err)
		}
		wantTaken(t, a, "a", true)
	}
}

// Release and Mark after a slot is gone change nothing.
func TestCallsAfterTheEndChangeNothing(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(1, clk)
	a := take(t, p)
	a.Release()
	a.Release()
	a.Mark()
	a.Serve()
	a.Done()
	if n := p.InUse(); n != 0 {
		t.Fatalf("InUse = %d after a double release", n)
	}
	b := take(t, p)
	clk.Advance(time.Hour)
	c := take(t, p) // takes b's slot
	b.Mark()
	b.Done()
	if !b.Release() || !b.Release() { //nolint:staticcheck // SA4000: Release twice on purpose, both must say taken
		t.Error("a taken slot's Release: want true every time")
	}
	if n := p.InUse(); n != 1 {
		t.Errorf("InUse = %d, want 1 (c)", n)
	}
	wantTaken(t, c, "c", false)
}

// TryAcquire takes what Acquire would take at once, and never waits: a free slot,
// or the front once Grace old; otherwise nothing, and the pool is unchanged.
func TestTryAcquireNeverWaits(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	p := admit.NewPool(1, clk)
	evicted := 0
	first := p.TryAcquire(func() { evicted++ })
	if first == nil {
		t.Fatal("a free slot was not taken")
	}
	clk.Advance(admit.Grace - time.Nanosecond)
	if s := p.TryAcquire(func() {}); s != nil {
		t.Fatal("the front was taken before its turn was Grace old")
	}
	if p.InUse() != 1 || evicted != 0 {
		t.Fatalf("a refused try changed the pool: in use %d, evicted %d", p.InUse(), evicted)
	}
	clk.Advance(time.Nanosecond)
	second := p.TryAcquire(func() {})
	if second == nil || evicted != 1 || !first.Release() {
		t.Fatalf("at Grace the front was not taken: %v, evicted %d", second, evicted)
	}
	second.Serve()
	clk.Advance(10 * admit.Grace)
	if s := p.TryAcquire(func() {}); s != nil {
		t.Fatal("a holder being served was taken")
	}
	second.Release()
	if p.InUse() != 0 {
		t.Fatalf("in use %d at the end", p.InUse())
	}
}
