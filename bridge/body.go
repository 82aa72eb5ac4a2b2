package bridge

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// A body is read before its signature can be checked, so until then it is only
// bytes a stranger sent: it is held in pieces that grow with what arrives, and a
// body that fails the signature goes back to a pool instead of becoming garbage. A
// flood of large bodies with bad signatures thus costs neither memory ahead of
// its bytes nor a garbage collector driven up by them.
const (
	// firstRead is the piece a body of unknown length starts with, allocated for the
	// request: a connection that sends nothing holds no more than this.
	firstRead = 512
	// firstAnnounced bounds the first piece of a body whose length is announced:
	// a webhook of up to this size is read into one piece of its exact size (one
	// allocation, no copy), and one that announces more and sends nothing holds no
	// more than this.
	firstAnnounced = 4 << 10
	// chunkSize is every further piece, from chunkPool.
	chunkSize = 16 << 10
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// rawBody is a request body as it arrived, in pieces.
type rawBody struct {
	parts  [][]byte  // in order; parts[0] is the request's own, the rest are chunks
	chunks []*[]byte // to give back to chunkPool
	one    [1][]byte // backs parts for a body that fits its first piece
}

// bytes returns the body in one slice of its own (a copy when it came in pieces),
// which stays valid after release.
func (rb *rawBody) bytes() []byte {
	if len(rb.parts) == 1 {
		return rb.parts[0]
	}
	n := 0
	for _, p := range rb.parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range rb.parts {
		out = append(out, p...)
	}
	return out
}

// release gives the chunks back; parts must not be used afterwards.
func (rb *rawBody) release() {
	for _, c := range rb.chunks {
		chunkPool.Put(c)
	}
	rb.chunks, rb.parts = nil, nil
}

// readBody enforces BRIDGE_MAX_BODY_BYTES before anything else reads the body, and
// reads it in a slot of bodyReads, which bounds how many are read at once: past
// the bound a request takes the slot of a read that has lasted a second (which is
// cut: 503), or is refused at once (503). Both answers close the connection: the
// rest of the body is not read.
func (b *Bridge) readBody(w http.ResponseWriter, rc *http.ResponseController, r *http.Request) (*rawBody, answer, bool) {
	max := b.cfg.MaxBodyBytes
	if r.ContentLength > max {
		return nil, reject(http.StatusRequestEntityTooLarge, reasonTooLarge, "body larger than "+strconv.FormatInt(max, 10)+" bytes"), false
	}
	slot, err := b.bodyReads.Start(rc, b.metrics.bodyCut.Inc)
	if err != nil {
		b.metrics.bodyFull.Inc()
		w.Header().Set("Connection", "close")
		a := reject(http.StatusServiceUnavailable, reasonBodyReadsFull, "too many requests sending their body; retry later")
		a.retryAfter = retryAfterBusy
		return nil, a, false
	}
	rb, err := readPieces(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
	cut := slot.Release()
	if err != nil {
		rb.release()
	}
	var tooLarge *http.MaxBytesError
	switch {
	case cut:
		w.Header().Set("Connection", "close")
		a := reject(http.StatusServiceUnavailable, reasonStalledBody, "body took over a second while other requests waited to send theirs; retry later")
		a.retryAfter = retryAfterBusy
		return nil, a, false
	case errors.As(err, &tooLarge):
		return nil, reject(http.StatusRequestEntityTooLarge, reasonTooLarge, "body larger than "+strconv.FormatInt(max, 10)+" bytes"), false
	case err != nil:
		return nil, reject(http.StatusBadRequest, reasonReadFailed, "could not read the request body"), false
	}
	return rb, answer{}, true
}

// readPieces reads r to the end: first into a piece of the announced size (at
// most firstAnnounced; firstRead when none is announced), then into pooled chunks,
// each taken only when the previous one is full. It never allocates ahead of the
// bytes that arrived by more than one piece, whatever Content-Length announced.
func readPieces(r io.Reader, announced int64) (*rawBody, error) {
	size := int64(firstRead)
	if announced >= 0 {
		size = min(announced+1, firstAnnounced) // +1: room for the read that sees the end
	}
	rb := &rawBody{}
	first := make([]byte, size)
	n, err := fill(r, first)
	rb.parts = append(rb.one[:0], first[:n])
	for err == nil {
		c := chunkPool.Get().(*[]byte)
		rb.chunks = append(rb.chunks, c)
		n, err = fill(r, *c)
		if n > 0 {
			rb.parts = append(rb.parts, (*c)[:n])
		}
	}
	if errors.Is(err, io.EOF) {
		return rb, nil
	}
	return rb, err
}

// fill reads into p until it is full (nil error) or r ends (io.EOF) or fails.
func fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
