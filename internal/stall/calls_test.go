package stall_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

func TestRunReturnsTheCallsError(t *testing.T) {
	t.Parallel()
	c := stall.NewCalls(2)
	boom := errors.New("boom")
	if err := c.Run(t.Context(), func() error { return boom }); err != boom { //nolint:errorlint // the very error, not one wrapping it
		t.Fatalf("Run = %v, want the call's error", err)
	}
	if err := c.Run(t.Context(), func() error { return nil }); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestRunDoesNotStartAfterTheContextEnded(t *testing.T) {
	t.Parallel()
	c := stall.NewCalls(1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	started := false
	if err := c.Run(ctx, func() error { started = true; return nil }); !errors.Is(err, context.Canceled) || started {
		t.Fatalf("Run with an ended context = %v (started %v), want context.Canceled and no call", err, started)
	}
}

// Run returns when its context ends; the call goes on in its slot, counted as left,
// until it returns.
func TestRunReturnsAtTheContextsEndAndLeavesTheCall(t *testing.T) {
	t.Parallel()
	c := stall.NewCalls(2)
	release := make(chan struct{})
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- c.Run(ctx, func() error { close(started); <-release; return nil })
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if c.Left() != 1 {
		t.Fatalf("Left = %d, want 1", c.Left())
	}
	close(release)
	testkit.Eventually(t, 10*time.Second, func() bool { return c.Left() == 0 }, "Left = %d after the call returned, want 0", c.Left())
	if err := c.Run(t.Context(), func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// With every slot held by calls their callers gave up on, a call is refused at
// once; while a slot is held by a call still waited for, a call waits for it.
func TestBackedUpRefusesAtOnce(t *testing.T) {
	t.Parallel()
	const n = 3
	c := stall.NewCalls(n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		ctx, cancel := context.WithCancel(t.Context())
		started := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Run(ctx, func() error { close(started); <-release; return nil })
		}()
		<-started
		cancel()
	}
	wg.Wait()
	if !c.BackedUp() || c.Left() != n {
		t.Fatalf("BackedUp = %v, Left = %d with %d calls given up, want true, %d", c.BackedUp(), c.Left(), n, n)
	}
	// No deadline: a Run that waited instead of refusing would hang the test.
	if err := c.Run(context.Background(), func() error { return nil }); !errors.Is(err, stall.ErrBackedUp) {
		t.Fatalf("Run with every slot left = %v, want ErrBackedUp", err)
	}
	close(release)
	testkit.Eventually(t, 10*time.Second, func() bool { return !c.BackedUp() }, "still backed up after every call was released")
	if err := c.Run(t.Context(), func() error { return nil }); err != nil {
		t.Fatalf("Run once the calls returned = %v", err)
	}
}

func TestWaitForASlotEndsWithTheContext(t *testing.T) {
	t.Parallel()
	c := stall.NewCalls(1)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{})
	go func() { _ = c.Run(t.Context(), func() error { close(started); <-release; return nil }) }()
	<-started
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Run(ctx, func() error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// The one slot is held by a call still waited for: Run waits, until its deadline.
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx, func() error { return nil }); !errors.Is(err, stall.ErrBackedUp) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run waiting for a slot = %v, want ErrBackedUp wrapping the deadline", err)
	}
}

// A burst of callers that all give up: never more than n calls run at once, so never
// more than n are left.
func TestBurstNeverExceedsTheSlots(t *testing.T) {
	t.Parallel()
	const n, callers = 8, 2000
	c := stall.NewCalls(n)
	var running, most atomic.Int64
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(t.Context())
			go cancel()
			_ = c.Run(ctx, func() error {
				r := running.Add(1)
				for {
					m := most.Load()
					if r <= m || most.CompareAndSwap(m, r) {
						break
					}
				}
				<-release
				running.Add(-1)
				return nil
			})
		})
	}
	wg.Wait()
	if m := most.Load(); m > n {
		t.Fatalf("%d calls ran at once, want at most %d", m, n)
	}
	if l := c.Left(); l > n {
		t.Fatalf("%d calls left running, want at most %d", l, n)
	}
	close(release)
}

// What a call makes after its caller gave up is undone, not lost; what it makes in
// time is the caller's.
func TestOpenUndoesWhatIsMadeTooLate(t *testing.T) {
	t.Parallel()
	c := stall.NewCalls(2)
	v, err := stall.Open(t.Context(), c, func() (int, error) { return 7, nil }, func(int) { t.Error("undo of a value made in time") })
	if err != nil || v != 7 {
		t.Fatalf("Open = %d, %v", v, err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	undone := make(chan int, 1)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := stall.Open(ctx, c, func() (int, error) { close(started); <-release; return 8, nil }, func(v int) { undone <- v })
		errc <- err
	}()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Open after its caller gave up = %v, want context.Canceled", err)
	}
	close(release)
	if v := <-undone; v != 8 {
		t.Fatalf("undone %d, want 8", v)
	}
}

// Every queued call has a worker of its own: a call that returns at once never
// waits behind one that blocks while slots are free. Two calls start together
// beside one idle worker; both once saw it and started no other (25 of 200 rounds).
func TestCallDoesNotQueueBehindABlockedOne(t *testing.T) {
	t.Parallel()
	const rounds = 200
	stuck := 0
	for range rounds {
		c := stall.NewCalls(8)
		if err := c.Run(t.Context(), func() error { return nil }); err != nil { // one worker
			t.Fatal(err)
		}
		// Not needed to pass: it lets the worker go back to wait, the case that failed.
		time.Sleep(time.Millisecond)
		release, begin := make(chan struct{}), make(chan struct{})
		quick := make(chan error, 1)
		go func() {
			<-begin
			_ = c.Run(t.Context(), func() error { <-release; return nil })
		}()
		go func() {
			<-begin
			// A second is ample for a call that returns at once, even under -race on
			// a loaded machine; behind the blocked call it would never start.
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			quick <- c.Run(ctx, func() error { return nil })
		}()
		close(begin)
		if err := <-quick; err != nil {
			stuck++
		}
		close(release)
	}
	if stuck > 0 {
		t.Fatalf("in %d of %d rounds a call that returns at once waited out its deadline behind a blocked call, with 6 of 8 slots free", stuck, rounds)
	}
}

// What open makes as its caller gives up is undone, never lost (a RabbitMQ
// channel left open on a live connection).
func TestOpenNeverLosesWhatItMade(t *testing.T) {
	t.Parallel()
	c := stall.NewCalls(4)
	const rounds = 3000
	lost := 0
	for range rounds {
		ctx, cancel := context.WithCancel(t.Context())
		var opened, undone atomic.Bool
		errc := make(chan error, 1)
		go func() {
			_, err := stall.Open(ctx, c, func() (int, error) {
				<-ctx.Done() // finishes just as its caller gives up
				opened.Store(true)
				return 1, nil
			}, func(int) { undone.Store(true) })
			errc <- err
		}()
		cancel()
		err := <-errc
		testkit.Eventually(t, 5*time.Second, func() bool { return c.Left() == 0 }, "the call did not return")
		if err != nil && opened.Load() && !undone.Load() {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d values made as the caller gave up were neither returned nor undone", lost, rounds)
	}
}
