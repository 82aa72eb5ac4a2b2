package bridge

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body, event, job string
		bad              bool
	}{
		{body: `{"event":"job.completed","jobId":"j1"}`, event: "job.completed", job: "j1"},
		{body: ` { "jobId" : 7 , "event" : "e" } `, event: "e"},
		{body: `{"data":{"event":"inner","x":[1,"]}",{"event":"no"}]},"event":"outer"}`, event: "outer"},
		{body: `{"event":"first","event":"last"}`, event: "last"},
		{body: `{"\u0065vent":"escaped-key"}`, event: "escaped-key"},
		{body: `{"event":"a\"b\\c\u00e9"}`, event: "a\"b\\cé"},
		{body: `{"event":"e","jobId":"j\"1"}`, event: "e", job: `j"1`},
		{body: `{"event":"e","jobId":"a\nb"}`, event: "e"},
		{body: `{"event":"e","jobId":null}`, event: "e"},
		{body: `{"EVENT":"e"}`, bad: true},
		{body: `{"event":null}`, bad: true},
		{body: `{"event":true}`, bad: true},
		{body: `{"event":""}`, bad: true},
		{body: `{"event":"a\u0000b"}`, bad: true},
		{body: `{}`, bad: true},
		{body: `[]`, bad: true},
		{body: `"event"`, bad: true},
		{body: `{"event":"e"}{}`, bad: true},
		{body: ``, bad: true},
		{body: `{"event":"e",}`, bad: true},
		{body: "{\"event\":\"e\",\"x\":\"\xff\"}", bad: true},
		{body: "{\"event\":\"\xc3\"}", bad: true},
		{body: "{\"event\":\"e\",\"x\":\"\xed\xa0\x80\"}", bad: true}, // a UTF-16 surrogate encoded as UTF-8
	}
	for _, c := range cases {
		p, msg, _ := parseEnvelope([]byte(c.body), audiospliterEnvelope)
		event, job := p.event, p.jobID
		if c.bad {
			if msg == "" {
				t.Errorf("%s: accepted (event %q), want an error", c.body, event)
			}
			continue
		}
		if msg != "" || event != c.event || job != c.job {
			t.Errorf("%s: = %q %q %q, want %q %q", c.body, event, job, msg, c.event, c.job)
		}
	}
}

// The fields of the other schemes: Stripe's delivery id and event in the body
// (the delivery id checked first), an event field that is also jobId, and an event
// from a header (no event field).
func TestParseEnvelopeFields(t *testing.T) {
	t.Parallel()
	stripe := envelope{event: "type", delivery: "id"}
	cases := []struct {
		env                  envelope
		body                 string
		event, delivery, job string
		reason               string
	}{
		{env: stripe, body: `{"id":"evt_1","type":"invoice.paid","jobId":"j"}`, event: "invoice.paid", delivery: "evt_1", job: "j"},
		{env: stripe, body: `{"type":"invoice.paid"}`, reason: reasonNoDelivery},
		{env: stripe, body: `{"id":null}`, reason: reasonNoDelivery},
		{env: stripe, body: `{"id":1,"type":"x"}`, reason: reasonBadDelivery},
		{env: stripe, body: `{"id":"a/b","type":"x"}`, reason: reasonBadDelivery},
		{env: stripe, body: `{"id":"evt_1"}`, reason: reasonMissingEvent},
		{env: stripe, body: `{"id":"evt_1","type":3}`, reason: reasonBadEvent},
		{env: stripe, body: `{"id":"evt_1","id":"evt_2","type":"x"}`, event: "x", delivery: "evt_2"},
		{env: stripe, body: `[]`, reason: reasonNotObject},
		{env: envelope{event: "jobId"}, body: `{"jobId":"j1"}`, event: "j1", job: "j1"},
		{env: envelope{}, body: `{"anything":[1,2]}`},
		{env: envelope{}, body: `{"x":`, reason: reasonInvalidJSON},
	}
	for _, c := range cases {
		p, msg, reason := parseEnvelope([]byte(c.body), c.env)
		if reason != c.reason || (reason == "") != (msg == "") {
			t.Errorf("%v %s: reason %q (%s), want %q", c.env, c.body, reason, msg, c.reason)
			continue
		}
		if reason == "" && (p.event != c.event || p.delivery != c.delivery || p.jobID != c.job) {
			t.Errorf("%v %s: = %+v, want %q %q %q", c.env, c.body, p, c.event, c.delivery, c.job)
		}
	}
}

// FuzzParseEnvelope checks the walker against encoding/json on any input: both
// accept or reject alike, and agree on the event.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"event":"job.completed","jobId":"j","data":{"segments":[{"index":0}]}}`))
	f.Add([]byte(`{"a":[{"event":"x"}],"event":"y\u0041"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, msg, _ := parseEnvelope(body, audiospliterEnvelope)
		event := p.event
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil || !utf8.Valid(body) {
			if msg == "" {
				t.Fatalf("accepted a body encoding/json rejects: %q", body)
			}
			return
		}
		var want string
		raw, ok := m["event"]
		okString := ok && json.Unmarshal(raw, &want) == nil && raw[0] == '"' && want != "" && !hasControl(want)
		if okString != (msg == "") {
			t.Fatalf("%q: walker msg %q, encoding/json event %s", body, msg, raw)
		}
		if okString && event != want {
			t.Fatalf("%q: event %q, encoding/json %q", body, event, want)
		}
	})
}

// The reasons package verify gives are among the bridge's, so that the contract's
// table, tested against reasons.go, lists them.
func TestVerifyReasonsAreListed(t *testing.T) {
	t.Parallel()
	listed := map[string]bool{reasonNoSignature: true, reasonBadSignature: true, reasonBadTimestamp: true,
		reasonOutOfTolerance: true, reasonTooManySignatures: true}
	for _, err := range []error{verify.ErrMissingSignature, verify.ErrBadSignature, verify.ErrBadTimestamp,
		verify.ErrTimestampOutOfTolerance, verify.ErrTooManySignatures} {
		if r := verify.Reason(err); !listed[r] {
			t.Errorf("verify gives reason %q, which bridge/reasons.go does not list", r)
		}
	}
}
