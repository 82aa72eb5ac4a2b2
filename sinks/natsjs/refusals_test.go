package natsjs_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// The users of a server whose bridge user may publish under audiospliter. only, as
// docs/production-brokers.md sets it up, beside an admin who may do anything.
func permittedUsers(bridgePublish ...string) []*server.User {
	return []*server.User{
		natstest.User("bridge", "bridge-pw", append(bridgePublish, "$JS.API.>"), []string{"_INBOX.>"}),
		natstest.User("admin", "admin-pw", nil, nil),
	}
}

// The set-up: a user allowed audiospliter.> and a bridge configured with
// the subject prefix "other". A publish is refused at once (not after the publish
// timeout) with the server's words, the sink stays not ready while the permission
// lacks, the probes store nothing, and once the operator grants the permission the
// sink is ready again within about a second and publishes.
func TestPermissionRefusedAtOnceAndReadinessFollows(t *testing.T) {
	t.Parallel()
	ts := natstest.StartSecure(t, natstest.Secure{Users: permittedUsers("audiospliter.>")})
	url := strings.Replace(ts.URL(), "://", "://bridge:bridge-pw@", 1)
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: url, Stream: "OTHER", SubjectPrefix: "other"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	if err := s.Ready(t.Context()); err != nil {
		t.Fatalf("Ready before any publish: %v", err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Publish(ctx, sinktest.NewMessage("refused-1"))
	took := time.Since(start)
	if !errors.Is(err, sinks.ErrRefused) || !errors.Is(err, sinks.ErrPermanent) {
		t.Fatalf("Publish without permission = %v, want ErrRefused (permanent)", err)
	}
	if took > 2*time.Second {
		t.Errorf("the refusal took %s: it was waited out like a timeout", took)
	}
	if msg := err.Error(); !strings.Contains(msg, `Permissions Violation for Publish to "other.job.completed"`) || strings.Contains(msg, "bridge-pw") {
		t.Errorf("error %q: want the server's words naming the subject, and no password", msg)
	}
	if err := s.Ready(t.Context()); !errors.Is(err, sinks.ErrRefused) {
		t.Fatalf("Ready after the refusal = %v, want ErrRefused", err)
	}
	// Probes (at most one a second) while refused: let a few happen.
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if err := s.Ready(t.Context()); !errors.Is(err, sinks.ErrRefused) {
			t.Fatalf("Ready while the permission lacks = %v, want ErrRefused", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := ts.SetUsers(permittedUsers("audiospliter.>", "other.>")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return s.Ready(t.Context()) == nil },
		"Ready did not come back with the permission: %v", s.Ready(t.Context()))
	if err := s.Publish(t.Context(), sinktest.NewMessage("allowed-1")); err != nil {
		t.Fatalf("Publish with the permission granted: %v", err)
	}
	admin := strings.Replace(ts.URL(), "://", "://admin:admin-pw@", 1)
	msgs := natstest.ReadStream(t, admin, "OTHER", 1)
	if len(msgs) != 1 || msgs[0].Header.Get(jetstream.MsgIDHeader) != "allowed-1" {
		t.Errorf("the stream holds %d messages, want only the one published: the probes must store nothing", len(msgs))
	}
}

// A probe stores nothing also where the subject is allowed and a stream captures
// it: JetStream refuses the probe after the server's permission check.
func TestProbeStoresNothing(t *testing.T) {
	t.Parallel()
	ts := natstest.StartSecure(t, natstest.Secure{Users: permittedUsers("audiospliter.>")})
	url := strings.Replace(ts.URL(), "://", "://bridge:bridge-pw@", 1)
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Probe(t.Context(), "audiospliter.job.completed"); err != nil {
		t.Errorf("Probe of an allowed subject: %v", err)
	}
	if err := s.Probe(t.Context(), "elsewhere.job.completed"); !errors.Is(err, sinks.ErrRefused) {
		t.Errorf("Probe of a refused subject: %v, want ErrRefused", err)
	}
	nc, err := nats.Connect(strings.Replace(ts.URL(), "://", "://admin:admin-pw@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(t.Context(), "AUDIOSPLITER")
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("the stream holds %d messages after probes, want 0", n)
	}
}

// A user without the JetStream API: the start-up error quotes the server at once,
// rather than a lookup that timed out.
func TestNoJetStreamAPIPermissionAtStart(t *testing.T) {
	t.Parallel()
	ts := natstest.StartSecure(t, natstest.Secure{Users: []*server.User{
		natstest.User("bridge", "bridge-pw", []string{"audiospliter.>"}, []string{"_INBOX.>"}),
	}})
	url := strings.Replace(ts.URL(), "://", "://bridge:bridge-pw@", 1)
	start := time.Now()
	_, err := natsjs.New(t.Context(), natsjs.Config{URL: url})
	var ce *sinks.ConfigError
	if !errors.As(err, &ce) || ce.Field != "URL" || !errors.Is(err, sinks.ErrRefused) || !strings.Contains(err.Error(), "$JS.API") {
		t.Fatalf("New = %v, want a ConfigError on URL quoting the refused $JS.API subject", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s: the refusal was waited out", took)
	}
}

// The server quotes a refused subject as Go's %q does: one with a quote (an event
// may hold one) is still matched to its publish, refused at once, not waited out
// and answered 503 for every retry.
func TestPermissionRefusedForASubjectWithAQuote(t *testing.T) {
	t.Parallel()
	ts := natstest.StartSecure(t, natstest.Secure{Users: permittedUsers("audiospliter.job.>")})
	url := strings.Replace(ts.URL(), "://", "://bridge:bridge-pw@", 1)
	s, err := natsjs.New(t.Context(), natsjs.Config{URL: url, Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer s.Close()
	for _, event := range []string{`x"y`, `x\y`, "x\u00e9y"} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		msg := sinktest.NewMessage("quoted-" + strconv.Itoa(len(event)))
		msg.Event = event
		err := s.Publish(ctx, msg)
		cancel()
		if !errors.Is(err, sinks.ErrRefused) {
			t.Errorf("Publish of event %q to a forbidden subject = %v, want ErrRefused", event, err)
		}
	}
}
