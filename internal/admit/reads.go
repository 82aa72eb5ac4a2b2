package admit

import (
	"errors"
	"net/http"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

// ErrFull is Reads.Start's error when every slot is taken and no read has lasted
// Grace.
var ErrFull = errors.New("admit: every body read slot is taken")

// Reads bounds the request bodies read at once, by the rule of the package
// comment: a read's turn begins when it gets its slot and is never marked, so a
// read may be cut once it has lasted Grace. A newcomer that finds no slot to take
// is refused at once rather than kept waiting: every request waiting would hold
// its connection's buffers and goroutine (some 25 KiB in net/http), and a flood of
// requests announcing bodies they never send would make that the memory of the
// process.
type Reads struct {
	pool *Pool
}

// NewReads bounds body reads to n at once, by the clock clk.
func NewReads(n int, clk clock.Clock) *Reads {
	return &Reads{pool: NewPool(n, clk)}
}

// Start takes a slot to read the body of the request rc answers, or returns
// ErrFull. If the slot is taken later, cut is called and the read is cut: the
// connection's read deadline moves to now, so the handler's next Read fails. The
// caller reads the body, then calls Release, which tells whether the read was cut.
//
// A request refused is cut too: else the server, to reuse the connection, would
// wait after the answer for the body nobody reads.
func (r *Reads) Start(rc *http.ResponseController, cut func()) (*Slot, error) {
	s := r.pool.TryAcquire(func() {
		cut()
		cutRead(rc)
	})
	if s == nil {
		cutRead(rc)
		return nil, ErrFull
	}
	return s, nil
}

// cutRead makes the connection's next read fail at once (the kernel's time, not
// the clock's).
func cutRead(rc *http.ResponseController) { _ = rc.SetReadDeadline(time.Now()) }

// InUse is the number of bodies being read.
func (r *Reads) InUse() int { return r.pool.InUse() }
