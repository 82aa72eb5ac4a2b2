package sinks

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ProbeEvery bounds how often Refusal.Check asks the broker again.
const ProbeEvery = time.Second

// Refusal is what a sink's Ready says after the broker refused a publish for good
// (an error wrapping ErrRefused): refused, until a probe of the same destination
// passes. The probe is the sink's (it must store nothing); Check runs it at most
// once a second, whatever the rate of Ready calls. The zero value has nothing
// refused.
type Refusal struct {
	mu     sync.Mutex
	dest   string // what was refused: a subject, a routing key
	err    error  // nil: nothing refused
	probed time.Time
}

// Note records that the broker refused dest with err.
func (r *Refusal) Note(dest string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dest, r.err, r.probed = dest, err, time.Now()
}

// Holds reports whether a refusal holds, of any destination.
func (r *Refusal) Holds() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

// For reports whether a refusal of dest holds.
func (r *Refusal) For(dest string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil && r.dest == dest
}

// Check returns the refusal that holds, or nil. While one holds it probes dest at
// most once a second: a probe that returns nil clears it (cleared is then true, for
// the sink to log), one that returns an error wrapping ErrRefused replaces it, and
// any other error (the broker did not tell) leaves it as it was.
func (r *Refusal) Check(ctx context.Context, probe func(ctx context.Context, dest string) error) (cleared bool, err error) {
	r.mu.Lock()
	if r.err == nil || time.Since(r.probed) < ProbeEvery {
		err = r.err
		r.mu.Unlock()
		return false, err
	}
	r.probed = time.Now()
	dest := r.dest
	r.mu.Unlock()

	perr := probe(ctx, dest)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.dest != dest || r.err == nil: // noted anew, or cleared, meanwhile
	case perr == nil:
		r.err = nil
		return true, nil
	case errors.Is(perr, ErrRefused):
		r.err = perr
	}
	return false, r.err
}
