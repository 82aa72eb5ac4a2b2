package bridge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/clock"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// Readiness is anonymous: /readyz answers anyone who reaches it, so its 503 says a
// fixed reason code and nothing of the broker (no address, account, queue name or
// error text); the detail goes to the log, one line when the reason changes. The
// sink is asked at most once per ReadyEvery, whatever the probe rate: probes in
// between share the last answer, and probes that arrive while the sink is being
// asked wait for that one answer. The audiospliter_bridge_ready gauge reads the same
// answer (Bridge.Ready).

// Reasons /readyz gives for a 503 (docs/operations.md).
const (
	ReadyBrokerUnavailable = "broker_unavailable" // no connection, or the broker did not answer
	ReadyBrokerRefused     = "broker_refused"     // sinks.ErrRefused: a permission, a destination missing
	ReadyBackedUp          = "backed_up"          // sinks.ErrBackedUp: the broker does not keep up
	ReadyShuttingDown      = "shutting_down"      // the sink is closed
)

// ReadyEvery is how often, at most, the sink is asked whether it can publish.
const ReadyEvery = time.Second

// readyTimeout bounds one question to the sink.
const readyTimeout = 2 * time.Second

// readiness asks the sink and remembers its answer for ReadyEvery.
type readiness struct {
	sink  sinks.Sink
	clock clock.Clock
	log   *slog.Logger

	mu     sync.Mutex
	asked  time.Time     // when the last answer was asked for; zero: never
	reason string        // the last answer: "" is ready
	asking chan struct{} // while the sink is being asked; closed when it has answered
	logged string        // the reason last logged ("": ready, as at start)
}

// readyReason names why err means not ready.
func readyReason(err error) string {
	switch {
	case errors.Is(err, sinks.ErrClosed):
		return ReadyShuttingDown
	case errors.Is(err, sinks.ErrRefused):
		return ReadyBrokerRefused
	case errors.Is(err, sinks.ErrBackedUp):
		return ReadyBackedUp
	}
	return ReadyBrokerUnavailable
}

// check returns "" when the sink can publish, else the reason it cannot. It asks
// the sink unless its answer is less than ReadyEvery old or another caller is
// asking; then it waits for that answer (or ctx).
func (r *readiness) check(ctx context.Context) string {
	r.mu.Lock()
	if asking := r.asking; asking != nil {
		r.mu.Unlock()
		select {
		case <-asking:
		case <-ctx.Done():
			return ReadyBrokerUnavailable
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.reason
	}
	if !r.asked.IsZero() && r.clock.Now().Sub(r.asked) < ReadyEvery {
		defer r.mu.Unlock()
		return r.reason
	}
	asking := make(chan struct{})
	r.asking, r.asked = asking, r.clock.Now()
	r.mu.Unlock()

	// Other probes wait for this answer: a probe that hangs up must not cut it.
	askCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	err := r.sink.Ready(askCtx)
	cancel()
	reason := ""
	if err != nil {
		reason = readyReason(err)
	}

	r.mu.Lock()
	r.reason, r.asking = reason, nil
	changed := reason != r.logged
	r.logged = reason
	r.mu.Unlock()
	close(asking)
	// One line per change (the first answer, ready, is none), so at most one per
	// ReadyEvery.
	switch {
	case !changed:
	case reason == "":
		r.log.Info("ready again")
	default:
		r.log.Warn("not ready", "reason", reason, "err", oneLine(err.Error()))
	}
	return reason
}

// Ready reports whether the sink can publish, as /readyz does: "" when it can,
// else a reason code (ReadyBrokerUnavailable, …). It shares /readyz's answer, asked
// at most once per ReadyEvery.
func (b *Bridge) Ready(ctx context.Context) string { return b.ready.check(ctx) }

// serveReady is /readyz: 503 exactly while publishes cannot succeed, with a fixed
// body per reason.
func (b *Bridge) serveReady(w http.ResponseWriter, r *http.Request) {
	reason := b.ready.check(r.Context())
	if reason == "" {
		writeJSON(w, http.StatusOK, bodyReady)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, []byte(`{"ready":false,"reason":"`+reason+`"}`))
}

var bodyReady = []byte(`{"status":"ready"}`)
