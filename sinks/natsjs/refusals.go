package natsjs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// A NATS server that refuses a publish for want of permission says so on its own,
// later, in an -ERR line naming the subject ("Permissions Violation for Publish to
// "other.job.completed""), and drops the message: the request waiting for its
// PubAck would wait out its deadline, and the cause would be on another log line.
// So every call that waits for an answer registers its subject here, and the
// connection's error handler ends the calls on a refused subject at once with an
// error wrapping sinks.ErrRefused that quotes the server.
//
// The sink then stays refused (Ready says so) until a probe finds the subject
// allowed again, at most once a second: a request on the refused subject carrying
// a Nats-Expected-Stream that no stream can have, which the server checks for
// permission first and JetStream then refuses without storing anything.

// probeStream is the Nats-Expected-Stream of a probe: a dot never stands in a
// stream's name, so no stream accepts the message.
const probeStream = "audiospliter-bridge.permission-probe"

var (
	// The server quotes the subject as Go's %q does: a quote or backslash in it is escaped.
	violationPublish = regexp.MustCompile(`Permissions Violation for Publish to ("(?:[^"\\]|\\.)*")`)
	// A reply subject (the inbox) refused, to publish with or to subscribe to: no
	// answer can come, whatever the subject.
	violationReply = regexp.MustCompile(`Permissions Violation for (Publish with Reply of|Subscription to) "`)
)

// refusals are the calls waiting for an answer, by subject.
type refusals struct {
	mu      sync.Mutex
	waiting map[*waiter]struct{}
}

type waiter struct {
	subject string
	cancel  context.CancelCauseFunc
}

func newRefusals() *refusals { return &refusals{waiting: make(map[*waiter]struct{})} }

// watch returns ctx, ended early with an error wrapping sinks.ErrRefused (its
// cause) when the server refuses subject; end(w) must be called when the call
// ends. Waiters are pooled: a publish pays for its context, nothing else.
func (r *refusals) watch(ctx context.Context, subject string) (context.Context, *waiter) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := waiters.Get().(*waiter)
	w.subject, w.cancel = subject, cancel
	r.mu.Lock()
	r.waiting[w] = struct{}{}
	r.mu.Unlock()
	return ctx, w
}

// end forgets w, whose call has ended.
func (r *refusals) end(w *waiter) {
	r.mu.Lock()
	delete(r.waiting, w)
	r.mu.Unlock()
	w.cancel(nil)
	w.subject, w.cancel = "", nil
	waiters.Put(w)
}

var waiters = sync.Pool{New: func() any { return new(waiter) }}

// refused is the cause of a call ended by a refusal, or nil.
func refused(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, sinks.ErrRefused) {
		return cause
	}
	return nil
}

// notice ends the calls err concerns, when err is a permission violation of a
// publish or of the inbox, with that refusal as their cause.
func (r *refusals) notice(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	text := err.Error()
	all := violationReply.MatchString(text)
	var subject string
	if m := violationPublish.FindStringSubmatch(text); m != nil {
		var err error
		if subject, err = strconv.Unquote(m[1]); err != nil {
			subject = m[1][1 : len(m[1])-1]
		}
	} else if !all {
		return
	}
	cause := refusalError(text)
	r.mu.Lock()
	defer r.mu.Unlock()
	for w := range r.waiting {
		if all || w.covers(subject) {
			w.cancel(cause)
		}
	}
}

// covers reports whether a refusal of subject ends the call: its own subject, or
// one under a prefix that ends in ".>" (the JetStream API).
func (w *waiter) covers(subject string) bool {
	if prefix, ok := strings.CutSuffix(w.subject, ">"); ok {
		return strings.HasPrefix(subject, prefix)
	}
	return w.subject == subject
}

// refusalError is the error of a call the server refused, quoting the server's
// line after nats.go's own prefix.
func refusalError(text string) error {
	if i := len(nats.ErrPermissionViolation.Error()); len(text) > i+2 && text[:i] == nats.ErrPermissionViolation.Error() {
		text = text[i+2:]
	}
	return sinks.Classify(fmt.Errorf("natsjs: the server refused: %s (the bridge's user needs to publish on the subject prefix and on $JS.API.>, and to subscribe to _INBOX.>)", text), sinks.ErrRefused)
}

// probeSubject is what a probe publishes to when every subject was refused: any
// subject of the prefix tells whether the inbox is allowed.
func (s *Sink) probeSubject(subject string) string {
	if subject == "" {
		return s.Subject("job.completed")
	}
	return subject
}

// Probe reports whether the server lets this connection publish to subject,
// without storing anything: nil when it may (a JetStream answer came, or none
// listens there), an error wrapping sinks.ErrRefused when the server refuses it,
// another error when the server did not tell in time. JetStream refuses the probe
// (Nats-Expected-Stream names no stream); a core NATS subscriber of the subject
// would see a message with no body.
func (s *Sink) Probe(ctx context.Context, subject string) error {
	ctx, w := s.refusals.watch(ctx, subject)
	done := func() { s.refusals.end(w) }
	defer done()
	m := &nats.Msg{Subject: subject, Header: nats.Header{jetstream.ExpectedStreamHeader: []string{probeStream}}}
	err := s.within(ctx, func() error {
		_, err := s.nc.RequestMsgWithContext(ctx, m)
		if errors.Is(err, nats.ErrNoResponders) {
			return nil // allowed; no stream captures the subject
		}
		return err
	})
	if r := refused(ctx); r != nil {
		return r
	}
	if err != nil {
		return fmt.Errorf("natsjs: probe of publish permission on %s: %w", subject, err)
	}
	return nil
}
