package awssqs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

func TestCheckTextFollowsSQSCharacterSet(t *testing.T) {
	cases := []struct {
		name string
		text string
		ok   bool
	}{
		{"json", `{"event":"job.completed","jobId":"j1"}`, true},
		{"tab newline return", "a\tb\nc\rd", true},
		{"last before surrogates", "\ud7ff", true},
		{"first after surrogates", "\ue000", true},
		{"replacement character itself", "\ufffd", true},
		{"emoji (supplementary plane)", "\U0001F3B5", true},
		{"last code point", "\U0010FFFF", true},
		{"NUL", "a\x00b", false},
		{"control character", "a\x01b", false},
		{"DEL is allowed", "a\x7fb", true},
		{"U+FFFE", "\ufffe", false},
		{"U+FFFF", "\uffff", false},
		{"invalid byte", "a\xffb", false},
		{"truncated sequence", "a\xe2\x82", false},
		{"encoded surrogate", "\xed\xa0\x80", false},
		{"overlong encoding", "\xc0\xaf", false},
	}
	for _, c := range cases {
		err := checkText("body", c.text)
		if c.ok && err != nil {
			t.Errorf("%s: %v, want accepted", c.name, err)
		}
		if !c.ok {
			if !errors.Is(err, sinks.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", c.name, err)
			} else if strings.Contains(err.Error(), c.text) {
				t.Errorf("%s: the error quotes the content: %v", c.name, err)
			}
		}
	}
}

func TestGroupID(t *testing.T) {
	long := strings.Repeat("j", 129)
	cases := []struct {
		in       string
		verbatim bool
	}{
		{"job_8f3a2c1e", true},
		{"job.completed", true},
		{`a!"#$%&'()*+,-./:;<=>?@[\]^_{|}~z` + "`", true},
		{strings.Repeat("j", 128), true},
		{long, false},
		{"job 42", false},
		{"jöb", false},
		{"job\t1", false},
		{"", false},
	}
	for _, c := range cases {
		got := groupID(c.in)
		if c.verbatim {
			if got != c.in {
				t.Errorf("groupID(%q) = %q, want it unchanged", c.in, got)
			}
			continue
		}
		if !strings.HasPrefix(got, "h-") || len(got) != 34 || !validGroupID(got) {
			t.Errorf("groupID(%q) = %q, want h- and 32 hex digits", c.in, got)
		}
		if again := groupID(c.in); again != got {
			t.Errorf("groupID(%q) not stable: %q then %q", c.in, got, again)
		}
	}
	// The documented mapping, so that consumers can compute it too:
	// printf 'job 42' | sha256sum | cut -c1-32
	if got := groupID("job 42"); got != "h-ad89c262c59a9e3d98c45fd5af62f276" {
		t.Errorf("groupID(%q) = %q, want h- + the first 32 hex digits of SHA-256", "job 42", got)
	}
	if groupID("job 42") == groupID("job 43") {
		t.Error("two jobs share a group")
	}
}

// A message id over SQS's 128 becomes "h-" and its whole SHA-256 in hex:
// printf 'billing:…' | sha256sum. Shorter ids are kept as they are.
func TestDedupID(t *testing.T) {
	id := "billing:" + strings.Repeat("d", 128)
	sum := sha256.Sum256([]byte(id))
	if got, want := dedupID(id), "h-"+hex.EncodeToString(sum[:]); got != want || len(got) != 66 {
		t.Errorf("dedupID(%d characters) = %q, want %q", len(id), got, want)
	}
	if short := "billing:" + strings.Repeat("d", 120); dedupID(short) != short {
		t.Errorf("a message id of %d characters was changed", len(short))
	}
	if dedupID(id) == dedupID(id+"x") {
		t.Error("two message ids share a deduplication id")
	}
}

// SQS's rules for attributes beyond their values: at most ten, names of its
// alphabet, and a FIFO deduplication id of its alphabet (a longer message id is
// hashed into one). Each is refused before any call, as ErrInvalid.
func TestCheckMessageAttributeRules(t *testing.T) {
	// The sender is dropped only when the other ten are all there.
	if a := attributesOf(sinktest.NewSenderMessage("billing", "d").Headers); a.dropSender {
		t.Error("a message of nine attributes and the sender drops the sender")
	}
	msg := func(edit func(*sinks.Message)) sinks.Message {
		m := sinktest.NewMessage("rules")
		if edit != nil {
			edit(&m)
		}
		return m
	}
	add := func(name, value string) func(*sinks.Message) {
		return func(m *sinks.Message) { m.Headers = append(m.Headers, sinks.Header{Name: name, Value: value}) }
	}
	for _, c := range []struct {
		name string
		msg  sinks.Message
		fifo bool
		ok   bool
	}{
		{"the contract's ten", msg(nil), true, true},
		{"eleven", msg(add("x-extra", "billing")), false, false},
		// audiospliter-sender as the eleventh is left out (ce-source carries it).
		{"the sender as the eleventh", msg(add(sinks.HeaderSender, "billing")), false, true},
		{"an empty one is not sent", msg(add("audiospliter-sender", "")), false, true},
		{"trace context is not an attribute", msg(add(sinks.HeaderTraceParent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")), false, true},
		{"a name with a space", msg(func(m *sinks.Message) { m.Headers[0].Name = "ce specversion" }), false, false},
		{"a name with ..", msg(func(m *sinks.Message) { m.Headers[0].Name = "ce..specversion" }), false, false},
		{"a name ending in .", msg(func(m *sinks.Message) { m.Headers[0].Name = "ce." }), false, false},
		{"a reserved prefix", msg(func(m *sinks.Message) { m.Headers[0].Name = "Amazon.x" }), false, false},
		{"a name of 257", msg(func(m *sinks.Message) { m.Headers[0].Name = strings.Repeat("n", 257) }), false, false},
		// A message id over 128 is hashed into a deduplication id (dedupID); one of
		// characters SQS does not take is refused.
		{"a deduplication id of 129", msg(func(m *sinks.Message) { m.ID = strings.Repeat("i", 129) }), true, true},
		{"a deduplication id with a space", msg(func(m *sinks.Message) { m.ID = "billing:a b" }), true, false},
		{"the same id on a standard queue", msg(func(m *sinks.Message) { m.ID = strings.Repeat("i", 129) }), false, true},
	} {
		err := checkMessage(c.msg, c.fifo)
		if c.ok && err != nil {
			t.Errorf("%s: %v, want accepted", c.name, err)
		}
		if !c.ok && !errors.Is(err, sinks.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", c.name, err)
		}
	}
}
