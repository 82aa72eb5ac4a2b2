package clock_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Functions run in order of their time (ties in order of creation), in the
// goroutine that moves the clock, each seeing Now at its own time; one scheduled
// by another inside the span runs in the same Advance; a stopped one never runs.
func TestFakeRunsWhatFallsDueInOrder(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(t0)
	var ran []string
	at := func(name string) func() {
		return func() { ran = append(ran, name+"@"+c.Now().Sub(t0).String()) }
	}
	c.AfterFunc(300*time.Millisecond, at("c"))
	c.AfterFunc(100*time.Millisecond, at("a"))
	c.AfterFunc(100*time.Millisecond, at("b"))
	stopped := c.AfterFunc(200*time.Millisecond, at("never"))
	c.AfterFunc(150*time.Millisecond, func() { c.AfterFunc(100*time.Millisecond, at("chained")) })
	c.AfterFunc(time.Second, at("later"))
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop: want true once, then false")
	}

	c.Advance(99 * time.Millisecond)
	if len(ran) != 0 {
		t.Fatalf("ran before their time: %v", ran)
	}
	c.Advance(401 * time.Millisecond)
	want := []string{"a@100ms", "b@100ms", "chained@250ms", "c@300ms"}
	if !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	if got := c.Now(); !got.Equal(t0.Add(500 * time.Millisecond)) {
		t.Errorf("Now after Advance = %v", got)
	}
	c.Set(t0.Add(time.Second))
	if ran[len(ran)-1] != "later@1s" {
		t.Errorf("Set did not run the function due: %v", ran)
	}
}

// BlockUntil returns once enough functions are pending, and when ctx ends.
func TestFakeBlockUntil(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(t0)
	done := make(chan error)
	go func() { done <- c.BlockUntil(t.Context(), 2) }()
	c.AfterFunc(time.Second, func() {})
	c.AfterFunc(time.Second, func() {})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if c.BlockUntil(ctx, 3) == nil {
		t.Error("BlockUntil returned nil with 2 pending of 3 and ctx ended")
	}
}

func TestRealRuns(t *testing.T) {
	t.Parallel()
	var c clock.Clock = clock.Real{}
	ran := make(chan struct{})
	c.AfterFunc(0, func() { close(ran) })
	<-ran
	if c.Now().IsZero() {
		t.Error("Real.Now is zero")
	}
}
