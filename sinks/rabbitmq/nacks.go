package rabbitmq

import (
	"errors"
	"sync"
	"time"
)

// A connection can stay open and nack everything. Seen on a RabbitMQ 3.10 cluster:
// a connection made to a surviving node while the node leading the quorum queue was
// dying got channels that nacked every publish for good, while a new connection to
// the same node published fine. The bridge would answer 503 until restarted. So a
// session that has nacked every publish for a while, with no ack in between, is
// dropped like a lost one and the sink connects again (the next node first).
const (
	stuckNacks = 16          // at least this many nacks in a row
	stuckFor   = time.Second // over at least this long
)

// nackWatch notices a session whose publishes are all nacked.
type nackWatch struct {
	mu    sync.Mutex
	since time.Time // the first nack after the last ack; zero after an ack
	count int
	once  sync.Once
	stuck chan struct{} // closed when the session is judged stuck
}

func newNackWatch() *nackWatch { return &nackWatch{stuck: make(chan struct{})} }

// observe takes the outcome of one publish on the session.
func (w *nackWatch) observe(err error) {
	switch {
	case err == nil:
		w.mu.Lock()
		w.since, w.count = time.Time{}, 0
		w.mu.Unlock()
	case errors.Is(err, errNacked):
		now := time.Now()
		w.mu.Lock()
		if w.count == 0 {
			w.since = now
		}
		w.count++
		stuck := w.count >= stuckNacks && now.Sub(w.since) >= stuckFor
		w.mu.Unlock()
		if stuck {
			w.once.Do(func() { close(w.stuck) })
		}
	}
}
