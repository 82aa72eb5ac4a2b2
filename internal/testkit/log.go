package testkit

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logger is a logger that writes to t's log, for a sink or server whose log lines
// explain a failing test.
func Logger(t testing.TB) *slog.Logger { return slog.New(slog.NewTextHandler(testLog{t}, nil)) }

type testLog struct{ t testing.TB }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// LockedBuffer is a buffer that several goroutines may write to and read at once:
// a logger's output, a child process's stderr, read by the test while it runs.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
