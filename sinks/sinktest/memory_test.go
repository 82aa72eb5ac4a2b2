package sinktest_test

import (
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The in-memory sink passes the same suite as the brokers, so tests of the bridge
// that use it rely on a sink that keeps the contract.
func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	sinktest.Run(t, sinktest.Harness{
		Open:      func(*testing.T) sinktest.Env { return sinktest.NewMemory().Env() },
		Dedup:     true,
		Routes:    true,
		NoRestart: "an in-memory sink has no broker to restart",
	})
}
