package bridge

import (
	"container/list"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// bodyReads bounds the requests reading their body at once. A body that stops
// arriving is the cheapest way to hold a connection, its goroutine and its buffers
// (about 20 KiB in net/http and the runtime) without knowing the secret. Past the
// bound a new request is never refused: the read whose body has been silent the
// longest is cut instead (503, connection closed), so a sender whose bytes flow
// keeps its place and one that stalls loses it.
type bodyReads struct {
	max int

	mu    sync.Mutex
	reads list.List // of *bodyRead, least recently progressed first

	inProgress prometheus.Gauge
	cut        prometheus.Counter
}

// bodyRead is one request's body being read; it reads through to r and reports
// every chunk that arrives.
type bodyRead struct {
	br   *bodyReads
	r    io.Reader
	rc   *http.ResponseController // its read deadline, moved to now, cuts the read
	elem *list.Element            // nil once ended or cut
	cut  bool                     // guarded by bodyReads.mu
}

func (r *bodyRead) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.br.progressed(r)
	}
	return n, err
}

func newBodyReads(max int, reg prometheus.Registerer) *bodyReads {
	br := &bodyReads{
		max: max,
		inProgress: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "audiospliter_bridge_body_reads",
			Help: "Requests reading their body now, before their signature is checked.",
		}),
		cut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "audiospliter_bridge_body_reads_cut_total",
			Help: "Body reads cut because too many were open and theirs had been silent the longest.",
		}),
	}
	reg.MustRegister(br.inProgress, br.cut)
	return br
}

// begin registers the read of body, whose connection rc controls. When the bound
// is reached, the read silent the longest is cut to make room.
func (br *bodyReads) begin(body io.Reader, rc *http.ResponseController) *bodyRead {
	r := &bodyRead{br: br, r: body, rc: rc}
	var victim *bodyRead
	br.mu.Lock()
	if br.reads.Len() >= br.max {
		victim = br.reads.Remove(br.reads.Front()).(*bodyRead)
		victim.elem, victim.cut = nil, true
	}
	r.elem = br.reads.PushBack(r)
	br.mu.Unlock()
	if victim != nil {
		br.cut.Inc()
		br.inProgress.Dec()
		_ = victim.rc.SetReadDeadline(time.Now())
	}
	br.inProgress.Inc()
	return r
}

// progressed moves r to the back: bytes arrived.
func (br *bodyReads) progressed(r *bodyRead) {
	br.mu.Lock()
	if r.elem != nil {
		br.reads.MoveToBack(r.elem)
	}
	br.mu.Unlock()
}

// end unregisters r and reports whether it was cut.
func (br *bodyReads) end(r *bodyRead) (cut bool) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if r.elem != nil {
		br.reads.Remove(r.elem)
		r.elem = nil
		br.inProgress.Dec()
	}
	return r.cut
}
