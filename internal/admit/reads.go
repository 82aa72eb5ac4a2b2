package admit

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

// ErrFull is Reads.Start's error when no slot came within Grace.
var ErrFull = errors.New("admit: no slot within the grace period")

// Reads bounds the request bodies read at once, by the rule of the package
// comment: a read's turn begins when it gets its slot and is never marked, so a
// read may be cut once it has lasted Grace and a newcomer is waiting. A newcomer
// waits at most Grace, which is enough whenever it is alone.
type Reads struct {
	pool *Pool
	clk  clock.Clock
}

// NewReads bounds body reads to n at once, by the clock clk.
func NewReads(n int, clk clock.Clock) *Reads {
	return &Reads{pool: NewPool(n, clk), clk: clk}
}

// Start waits for a slot to read the body of the request rc answers, at most
// Grace or until ctx ends (ErrFull, or ctx's cause). If the slot is taken later,
// cut is called and the read is cut: the connection's read deadline moves to now,
// so the handler's next Read fails. The caller reads the body, then calls
// Release, which tells whether the read was cut.
//
// A request refused is cut too: else the server, to reuse the connection, would
// wait after the answer for the body nobody reads.
func (r *Reads) Start(ctx context.Context, rc *http.ResponseController, cut func()) (*Slot, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := r.clk.AfterFunc(Grace, func() { cancel(ErrFull) })
	defer t.Stop()
	s, err := r.pool.Acquire(ctx, func() {
		cut()
		cutRead(rc)
	})
	if err != nil {
		cutRead(rc)
		return nil, context.Cause(ctx)
	}
	return s, nil
}

// cutRead makes the connection's next read fail at once (the kernel's time, not
// the clock's).
func cutRead(rc *http.ResponseController) { _ = rc.SetReadDeadline(time.Now()) }

// InUse is the number of bodies being read.
func (r *Reads) InUse() int { return r.pool.InUse() }
