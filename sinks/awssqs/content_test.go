package awssqs

import (
	"errors"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/sinks"
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
