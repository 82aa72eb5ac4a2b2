package bridge

import (
	"strings"
	"sync"
	"time"
)

// dedup remembers delivery ids whose publish the broker confirmed, for ttl, and
// coalesces concurrent requests for the same id so only one of them publishes.
//
// Memory is bounded by maxEntries: past it the oldest ids are forgotten early. That
// only weakens an optimisation, never the promise: a forgotten id is published
// again with the same message id, which the broker or the consumer deduplicates.
type dedup struct {
	ttl        time.Duration
	maxEntries int
	now        func() time.Time

	mu sync.Mutex
	// expires maps an id to its expiry in Unix nanoseconds: a value without
	// pointers keeps the map out of the garbage collector's way.
	expires map[string]int64
	order   []string // ids in insertion order; ttl is fixed, so also expiry order
	head    int      // order[:head] are already evicted
	flights map[string]*flight
}

// flight is a publish in progress; requests for the same id wait on done and then
// answer with the leader's answer.
type flight struct {
	done   chan struct{}
	answer answer
}

func newDedup(ttl time.Duration, maxEntries int, now func() time.Time) *dedup {
	return &dedup{
		ttl:        ttl,
		maxEntries: maxEntries,
		now:        now,
		expires:    make(map[string]int64),
		flights:    make(map[string]*flight),
	}
}

// begin reports whether id was confirmed already (seen). Otherwise it returns the
// flight for id; leader is true when the caller must publish and then call finish.
func (d *dedup) begin(id string) (seen bool, f *flight, leader bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if exp, ok := d.expires[id]; ok && d.now().UnixNano() < exp {
		return true, nil, false
	}
	if f, ok := d.flights[id]; ok {
		return false, f, false
	}
	f = &flight{done: make(chan struct{})}
	d.flights[id] = f
	return false, f, true
}

// finish ends the leader's flight with its answer and, when the broker confirmed,
// remembers the id. Recording happens before waiters wake, so no request that
// arrives later can publish the id again while it is remembered.
func (d *dedup) finish(id string, f *flight, a answer, confirmed bool) {
	f.answer = a
	d.mu.Lock()
	if confirmed && d.ttl > 0 {
		d.remember(id)
	}
	delete(d.flights, id)
	d.mu.Unlock()
	close(f.done)
}

func (d *dedup) remember(id string) {
	now := d.now().UnixNano()
	d.evict(now)
	if len(d.expires) >= d.maxEntries {
		d.evictOldest()
	}
	// The id is a slice of the request's header block: a copy of its own keeps
	// that whole block from living as long as the entry.
	id = strings.Clone(id)
	d.expires[id] = now + int64(d.ttl)
	d.order = append(d.order, id)
}

// evict drops expired ids from the front of order and compacts order when half of
// it is dead, so the slice does not grow without bound.
func (d *dedup) evict(now int64) {
	for d.head < len(d.order) {
		id := d.order[d.head]
		exp, ok := d.expires[id]
		if ok && now < exp {
			break
		}
		if ok {
			delete(d.expires, id)
		}
		d.order[d.head] = ""
		d.head++
	}
	if d.head > 1024 && d.head > len(d.order)/2 {
		n := copy(d.order, d.order[d.head:])
		clear(d.order[n:])
		d.order = d.order[:n]
		d.head = 0
	}
}

func (d *dedup) evictOldest() {
	for d.head < len(d.order) {
		id := d.order[d.head]
		d.order[d.head] = ""
		d.head++
		if _, ok := d.expires[id]; ok {
			delete(d.expires, id)
			return
		}
	}
}

// live drops expired ids and returns how many remain: what the cache holds now.
func (d *dedup) live() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.evict(d.now().UnixNano())
	return len(d.expires)
}

// len returns the number of remembered ids, expired or not yet evicted.
func (d *dedup) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.expires)
}
