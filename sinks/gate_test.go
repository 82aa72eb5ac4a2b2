package sinks_test

import (
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

func TestGateShutWaitsForPublishesInFlight(t *testing.T) {
	t.Parallel()
	var g sinks.Gate
	if !g.Enter() {
		t.Fatal("a new gate refused a publish")
	}
	shut := make(chan bool)
	go func() { shut <- g.Shut() }()
	select {
	case <-shut:
		t.Fatal("Shut returned while a publish was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	testkit.Eventually(t, 5*time.Second, g.IsShut, "the gate did not shut")
	if g.Enter() {
		t.Fatal("a shut gate admitted a publish")
	}
	g.Leave()
	if first := <-shut; !first {
		t.Fatal("the first Shut did not report it")
	}
	if g.Shut() {
		t.Fatal("a second Shut reported shutting the gate")
	}
}
