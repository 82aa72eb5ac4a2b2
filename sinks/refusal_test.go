package sinks_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// A refusal holds until a probe passes; probes run at most once a second however
// often Check is called; an answer that tells nothing keeps the refusal.
func TestRefusalProbesAtMostOnceASecond(t *testing.T) {
	t.Parallel()
	var r sinks.Refusal
	probes := 0
	answer := error(nil)
	probe := func(_ context.Context, dest string) error {
		probes++
		if dest != "job.completed" {
			t.Errorf("probed %q, want the refused destination", dest)
		}
		return answer
	}
	if _, err := r.Check(t.Context(), probe); err != nil || probes != 0 {
		t.Fatalf("nothing refused: Check = %v after %d probes", err, probes)
	}
	refused := fmt.Errorf("x: %w", sinks.ErrRefused)
	r.Note("job.completed", refused)
	for range 100 {
		if _, err := r.Check(t.Context(), probe); !errors.Is(err, sinks.ErrRefused) {
			t.Fatalf("Check = %v, want the refusal", err)
		}
	}
	if probes != 0 {
		t.Fatalf("%d probes within the second of the refusal, want 0", probes)
	}
	time.Sleep(sinks.ProbeEvery)
	answer = errors.New("timeout")
	if _, err := r.Check(t.Context(), probe); !errors.Is(err, sinks.ErrRefused) || probes != 1 {
		t.Fatalf("after an answer that tells nothing: %v (%d probes), want the refusal", err, probes)
	}
	time.Sleep(sinks.ProbeEvery)
	answer = nil
	if cleared, err := r.Check(t.Context(), probe); err != nil || !cleared || probes != 2 {
		t.Fatalf("after a probe that passed: cleared %v, %v (%d probes)", cleared, err, probes)
	}
	if _, err := r.Check(t.Context(), probe); err != nil || probes != 2 {
		t.Fatalf("cleared: %v after %d probes", err, probes)
	}
}
