package sinktest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Memory is an in-memory sink that keeps what it confirms and drops a repeated id,
// like a broker with dedup. Tests of the bridge use it where no broker is needed
// and to produce faults on demand; it passes the conformance suite itself.
type Memory struct {
	gate    sinks.Gate
	mu      sync.Mutex
	msgs    []sinks.Message
	ids     map[string]bool
	calls   int
	fail    func(msg sinks.Message) error // nil: accept
	publish chan struct{}                 // closed and replaced on every accepted publish
}

// NewMemory returns an empty Memory sink.
func NewMemory() *Memory {
	return &Memory{ids: make(map[string]bool), publish: make(chan struct{})}
}

// FailWith makes every later Publish consult f first: a non-nil result is returned
// instead of accepting the message. f may block on ctx-independent events; Publish
// still honours its context. FailWith(nil) restores normal service.
func (m *Memory) FailWith(f func(msg sinks.Message) error) {
	m.mu.Lock()
	m.fail = f
	m.mu.Unlock()
}

// Publish implements sinks.Sink.
func (m *Memory) Publish(ctx context.Context, msg sinks.Message) error {
	if !m.gate.Enter() {
		return fmt.Errorf("memory: %w", sinks.ErrClosed)
	}
	defer m.gate.Leave()
	m.mu.Lock()
	m.calls++
	fail := m.fail
	m.mu.Unlock()

	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %w", err)
	}
	if fail != nil {
		done := make(chan error, 1)
		go func() { done <- fail(msg) }()
		select {
		case err := <-done:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("memory: %w", ctx.Err())
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ids[msg.ID] {
		m.ids[msg.ID] = true
		msg.Body = append([]byte(nil), msg.Body...)
		m.msgs = append(m.msgs, msg)
	}
	close(m.publish)
	m.publish = make(chan struct{})
	return nil
}

// Ready implements sinks.Sink.
func (m *Memory) Ready(context.Context) error {
	if m.gate.IsShut() {
		return fmt.Errorf("memory: %w", sinks.ErrClosed)
	}
	return nil
}

// Close implements sinks.Sink.
func (m *Memory) Close() error {
	m.gate.Shut()
	return nil
}

// Messages returns what the sink holds, in the order it accepted them.
func (m *Memory) Messages() []sinks.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sinks.Message(nil), m.msgs...)
}

// Calls returns how many times Publish was called, accepted or not.
func (m *Memory) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Env returns the sink as a conformance-suite Env.
func (m *Memory) Env() Env {
	return Env{Sink: m, Read: m.read}
}

func (m *Memory) read(t *testing.T, atLeast int) []Received {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		m.mu.Lock()
		n, ch := len(m.msgs), m.publish
		m.mu.Unlock()
		if n >= atLeast {
			break
		}
		select {
		case <-ch:
		case <-deadline:
			t.Errorf("memory: %d messages after 5s, want at least %d", n, atLeast)
			return m.received()
		}
	}
	return m.received()
}

func (m *Memory) received() []Received {
	var out []Received
	for _, msg := range m.Messages() {
		r := Received{ID: msg.ID, Body: msg.Body, Headers: make(map[string]string), Route: msg.RouteKey()}
		for _, h := range msg.Headers {
			r.Headers[h.Name] = h.Value
		}
		out = append(out, r)
	}
	return out
}
