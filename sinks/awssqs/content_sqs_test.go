package awssqs_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// countOnQueue returns how many times each delivery id is on the queue.
func countOnQueue(ms []types.Message) map[string]int {
	n := map[string]int{}
	for _, m := range ms {
		n[aws.ToString(m.MessageAttributes[sinks.HeaderDelivery].StringValue)]++
	}
	return n
}

func TestBadBodyFailsAloneInConcurrentBatches(t *testing.T) {
	badBodies := sqstest.BadBodies()
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, false, nil)
	counter := &countingTransport{}
	s := openSink(t, srv, url, func(c *awssqs.Config) {
		c.HTTPClient = counter
		c.Linger = 100 * time.Millisecond // long enough for the publishes below to share batches
	})
	defer s.Close()

	// A bad body alone makes no call at all.
	before := counter.n.Load()
	for name, body := range badBodies {
		m := sinktest.NewMessage("alone-" + strings.ReplaceAll(name, " ", "-"))
		m.Body = body
		if err := s.Publish(t.Context(), m); !errors.Is(err, sinks.ErrInvalid) {
			t.Errorf("%s alone: %v, want ErrInvalid", name, err)
		}
	}
	if n := counter.n.Load() - before; n != 0 {
		t.Errorf("%d API calls for bodies refused before sending", n)
	}

	// Three rounds of 30 concurrent publishes, a bad body among every ten.
	const rounds, perRound = 3, 30
	var names []string
	for name := range badBodies {
		names = append(names, name)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	good := map[string]bool{}
	for r := range rounds {
		for i := range perRound {
			wg.Go(func() {
				id := fmt.Sprintf("mate-%d-%02d", r, i)
				m := sinktest.NewMessage(id)
				bad := ""
				if i%10 == 3 {
					bad = names[(r+i/10)%len(names)]
					m.Body = badBodies[bad]
				}
				err := s.Publish(t.Context(), m)
				switch {
				case bad != "" && !errors.Is(err, sinks.ErrInvalid):
					t.Errorf("%s (%s): %v, want ErrInvalid", id, bad, err)
				case bad == "" && err != nil:
					t.Errorf("%s, batched with a bad body: %v", id, err)
				case bad == "":
					mu.Lock()
					good[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	calls := counter.n.Load() - before
	got := countOnQueue((&sqstest.Reader{Server: srv, URL: url}).Read(t, len(good)))
	t.Logf("%d good publishes in %d API calls; %d distinct on the queue", len(good), calls, len(got))
	if calls >= int64(len(good)) {
		t.Errorf("%d calls for %d publishes: the publishes were not batched, the test proves nothing", calls, len(good))
	}
	for id := range good {
		if got[id] != 1 {
			t.Errorf("%s is on the queue %d times, want exactly once", id, got[id])
		}
	}
	for id, n := range got {
		if !good[id] {
			t.Errorf("%s (%d times) on the queue: a refused message was stored", id, n)
		}
	}
}

// An attribute value SQS cannot carry (a jobId with a control character, written
// as a JSON escape so that the body itself is plain ASCII) is refused like a body.
func TestBadAttributeIsRefusedBeforeSending(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, false, nil)
	s := openSink(t, srv, url, nil)
	defer s.Close()
	m := sinktest.NewMessage("bad-attr")
	m.JobID = "job\x01"
	m.Body = []byte(`{"event":"job.completed","jobId":"job\u0001"}`)
	for i, h := range m.Headers {
		if h.Name == sinks.HeaderJobID {
			m.Headers[i].Value = m.JobID
		}
	}
	err := s.Publish(t.Context(), m)
	if !errors.Is(err, sinks.ErrInvalid) || !strings.Contains(err.Error(), sinks.HeaderJobID) {
		t.Fatalf("Publish = %v, want ErrInvalid naming %s", err, sinks.HeaderJobID)
	}
}

// jobIds SQS does not take as a MessageGroupId land in a group of their own named
// after their SHA-256, the same group every time; valid ones are used unchanged.
func TestFIFOGroupIDs(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Shared(t)
	url := srv.CreateQueue(t, true, nil)
	s := openSink(t, srv, url, nil)
	defer s.Close()
	cases := []struct{ jobID, event, group string }{
		{"job_8f3a2c1e", "job.completed", "job_8f3a2c1e"},
		{"job 42", "job.completed", "h-ad89c262c59a9e3d98c45fd5af62f276"},
		{"jöb-42", "job.completed", ""},
		{strings.Repeat("j", 129), "job.completed", ""},
		{strings.Repeat("j", 128), "job.completed", strings.Repeat("j", 128)},
		{"", "job.completed", "job.completed"},
		{"", "job done", ""}, // no jobId: the event, mapped the same way
	}
	var sent []sinks.Message
	for round := range 2 { // the same job twice: the same group
		for i, c := range cases {
			m := sinktest.NewMessage(fmt.Sprintf("grp-%d-%d", round, i))
			m.JobID, m.Event = c.jobID, c.event
			var hs []sinks.Header
			for _, h := range m.Headers {
				switch h.Name {
				case sinks.HeaderJobID:
					h.Value = c.jobID
				case sinks.HeaderEvent:
					h.Value = c.event
				}
				hs = append(hs, h)
			}
			m.Headers = hs
			if err := s.Publish(t.Context(), m); err != nil {
				t.Fatalf("jobId %q event %q: %v", c.jobID, c.event, err)
			}
			sent = append(sent, m)
		}
	}
	byID := map[string]types.Message{}
	for _, m := range (&sqstest.Reader{Server: srv, URL: url}).Read(t, len(sent)) {
		byID[aws.ToString(m.MessageAttributes[sinks.HeaderDelivery].StringValue)] = m
	}
	groups := map[string]string{}
	for i, m := range sent {
		c := cases[i%len(cases)]
		got, ok := byID[m.ID]
		if !ok {
			t.Errorf("%s not on the queue", m.ID)
			continue
		}
		g := got.Attributes["MessageGroupId"]
		key := c.jobID + "|" + c.event
		if c.group != "" && g != c.group {
			t.Errorf("jobId %q event %q: group %q, want %q", c.jobID, c.event, g, c.group)
		}
		if c.group == "" && (!strings.HasPrefix(g, "h-") || len(g) != 34) {
			t.Errorf("jobId %q event %q: group %q, want h- and 32 hex digits", c.jobID, c.event, g)
		}
		if prev, seen := groups[key]; seen && prev != g {
			t.Errorf("jobId %q event %q: groups %q and %q for the same job", c.jobID, c.event, prev, g)
		}
		groups[key] = g
	}
}
