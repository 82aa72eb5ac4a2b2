package testkit_test

import (
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

func TestPoll(t *testing.T) {
	t.Parallel()
	calls := 0
	if !testkit.Poll(time.Second, func() bool { calls++; return calls == 3 }) || calls != 3 {
		t.Errorf("Poll of a condition true at the third check: calls %d", calls)
	}
	start := time.Now()
	if testkit.Poll(50*time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a condition never true = true")
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > time.Second {
		t.Errorf("Poll gave up after %s, want about 50ms", took)
	}
}
