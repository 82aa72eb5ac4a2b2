// Package testkit holds what tests of several packages share and no product code
// uses: waiting for a condition (Eventually, Poll), network faults on demand (Proxy),
// free loopback addresses, a logger into the test's log and a buffer that goroutines
// write to at once. Test certificates are in testkit/certs.
package testkit

import (
	"testing"
	"time"
)

// Eventually fails t unless cond returns true within total. It is the one way tests
// here wait for something that happens on its own (a reconnect, a goroutine's exit,
// a message reaching a broker); what a test can wait for directly (a channel, a
// returned call) it waits for directly.
func Eventually(t testing.TB, total time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !Poll(total, cond) {
		t.Fatalf("not within %s: "+format, append([]any{total}, args...)...)
	}
}

// Poll is Eventually for a caller that goes on either way (a reader that returns
// what it found, a helper that returns an error): it reports whether cond returned
// true within total. It checks at once, then after waits that grow from 1 ms to
// 100 ms, so a condition that holds soon is seen soon and one that takes long costs
// few checks.
func Poll(total time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(total)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
	return true
}
