package bridge

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
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
		event, job, msg, _ := parseEnvelope([]byte(c.body))
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

// FuzzParseEnvelope checks the walker against encoding/json on any input: both
// accept or reject alike, and agree on the event.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"event":"job.completed","jobId":"j","data":{"segments":[{"index":0}]}}`))
	f.Add([]byte(`{"a":[{"event":"x"}],"event":"y\u0041"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		event, _, msg, _ := parseEnvelope(body)
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
