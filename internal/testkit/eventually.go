// Package testkit holds what tests of several packages share and no product code
// uses: waiting for a condition, and (elsewhere in this package) network fault
// tools.
package testkit

import (
	"testing"
	"time"
)

// Eventually fails t unless cond returns true within total. It checks at once, then
// after waits that grow from 1 ms to 100 ms, so a condition that holds soon is seen
// soon and one that takes long costs few checks. It is the one way tests here wait
// for something that happens on its own (a reconnect, a goroutine's exit); what a
// test can wait for directly (a channel, a returned call) it waits for directly.
func Eventually(t testing.TB, total time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(total)
	wait := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: "+format, append([]any{total}, args...)...)
		}
		time.Sleep(wait)
		wait = min(2*wait, 100*time.Millisecond)
	}
}
