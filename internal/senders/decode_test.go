package senders_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

type check func(t *testing.T, got []senders.Sender, err error)

// wantErr checks the *Error: its line, sender, field, and a part of its message.
func wantErr(line int, sender, field, msg string) check {
	return func(t *testing.T, _ []senders.Sender, err error) {
		t.Helper()
		var e *senders.Error
		if !errors.As(err, &e) {
			t.Fatalf("Decode = %v, want an *Error", err)
		}
		if e.Line != line || e.Sender != sender || e.Field != field || !strings.Contains(e.Msg, msg) {
			t.Fatalf("Decode = %q\n got line %d sender %s field %q\nwant line %d sender %s field %q msg ~ %q", err, e.Line, e.Sender, e.Field, line, sender, field, msg)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error on several lines: %q", err)
		}
	}
}

// wantSender checks the one sender decoded.
func wantSender(f func(t *testing.T, s senders.Sender)) check {
	return func(t *testing.T, got []senders.Sender, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%d senders", len(got))
		}
		f(t, got[0])
	}
}

var ok = wantSender(func(*testing.T, senders.Sender) {})

// one is a file of one sender: the lines given, after name (line 2).
func one(lines ...string) string {
	return "senders:\n  - name: a\n" + indent(lines...)
}

func indent(lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// base are the required keys (lines 3-5 of one).
var base = []string{"path: /a", "scheme: github", "secret_file: s"}

func with(extra ...string) []string { return append(append([]string{}, base...), extra...) }

func TestDecodeRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		yaml string
		check
	}{
		{"the smallest file", one(base...), ok},

		// Strict decoding.
		{"unknown key", one(with("tolerence: 5m")...), wantErr(6, `"a"`, "tolerence", "unknown key")}, //nolint:misspell // the misspelt key is the case
		{"unknown nested key", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  header: X-Sig", "  algo: sha1"), wantErr(8, `"a"`, "hmac.algo", "unknown key")},
		{"unknown key in a flow mapping", one(with("destination: {rabbitmq: {exchange: x, durable: true}}")...), wantErr(6, `"a"`, "destination.rabbitmq.durable", "unknown key")},
		{"unknown top-level key", "sender:\n  - name: a\n", wantErr(1, "", "sender", "unknown key")},
		{"key given twice", one("path: /a", "scheme: github", "path: /b", "secret_file: s"), wantErr(5, `"a"`, "path", "given twice (first at line 3)")},
		{"senders given twice", one(base...) + "senders: []\n", wantErr(6, "", "senders", "given twice (first at line 1)")},
		{"unknown key in a sender without a name", "senders:\n  - path: /a\n    nme: a\n", wantErr(3, "#1", "nme", "unknown key")},
		{"unknown key in the second sender", one(base...) + "  - name: b\n    path: /b\n    colour: red\n", wantErr(8, `"b"`, "colour", "unknown key")},
		{"tolerance a number", "senders:\n  - name: a\n    path: /a\n    scheme: stripe\n    secret_file: s\n    tolerance: 300\n", wantErr(6, `"a"`, "tolerance", "must be a duration such as 5m")},
		{"tolerance not a duration", one("path: /a", "scheme: stripe", "secret_file: s", "tolerance: 5 minutes"), wantErr(6, `"a"`, "tolerance", "must be a duration")},
		{"name a list", "senders:\n  - name: [a]\n", wantErr(2, "#1", "name", "must be a string")},
		{"hmac a string", one(with("hmac: sha256")...), wantErr(6, `"a"`, "hmac", "must be a mapping")},
		{"exchange a list, flow style", one(with("destination: {rabbitmq: {exchange: [x]}}")...), wantErr(6, `"a"`, "destination.rabbitmq.exchange", "must be a string")},
		{"a sender a string", "senders:\n  - a\n", wantErr(2, "#1", "", "must be a mapping of the sender's settings")},
		{"senders a string", "senders: all\n", wantErr(1, "", "senders", "must be a list of senders")},
		{"the file a list", "- name: a\n", wantErr(1, "", "", "must be a mapping with the key senders")},
		{"not YAML", "senders:\n  - name: a\n    path: a: b\n", wantErr(3, "", "", "not valid YAML: mapping values are not allowed")},
		{"tabs", "senders:\n\t- name: a\n", wantErr(2, "", "", "not valid YAML")},
		{"empty", "", wantErr(0, "", "", "is empty")},
		{"only a comment", "# nothing yet\n", wantErr(0, "", "", "is empty")},
		{"two documents", one(base...) + "---\nsenders: []\n", wantErr(6, "", "", "more than one YAML document")},
		{"no senders", "senders: []\n", wantErr(1, "", "senders", "at least one sender")},
		{"senders null", "senders:\n", wantErr(1, "", "senders", "at least one sender")},

		// name
		{"no name", "senders:\n  - path: /a\n    scheme: github\n    secret_file: s\n", wantErr(2, "#1", "name", "is required")},
		{"name with capitals", "senders:\n  - name: Billing\n" + indent(base...), wantErr(2, "#1", "name", "1 to 32 characters of a-z, 0-9 and -")},
		{"name with _", "senders:\n  - name: a_b\n" + indent(base...), wantErr(2, "#1", "name", "1 to 32")},
		{"name of 33", "senders:\n  - name: " + strings.Repeat("a", 33) + "\n" + indent(base...), wantErr(2, "#1", "name", "1 to 32")},
		{"name of 32", "senders:\n  - name: " + strings.Repeat("a", 32) + "\n" + indent(base...), ok},
		{"name given twice", one(base...) + "  - name: a\n    path: /b\n    scheme: github\n    secret_file: s\n", wantErr(6, `"a"`, "name", "is also the name of sender #1")},

		// path
		{"no path", one("scheme: github", "secret_file: s"), wantErr(2, `"a"`, "path", "is required")},
		{"relative path", one("path: webhooks", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "must start with /")},
		{"path /healthz", one("path: /healthz", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "the bridge's own endpoints")},
		{"path /readyz", one("path: /readyz", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "own endpoints")},
		{"path /metrics", one("path: /metrics", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "own endpoints")},
		{"path /metrics/", one("path: /metrics/", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "must not end with /")},
		{"path with a trailing slash", one("path: /a/", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "must not end with /")},
		{"path /", one("path: /", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "must not end with /")},
		{"path with //", one("path: /a//b", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "empty, . or .. segments")},
		{"path with ..", one("path: /a/../b", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "empty, . or .. segments")},
		{"path with a space", one(`path: "/a b"`, "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "may hold only")},
		{"path with a pattern", one("path: /a/{id}", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "may hold only")},
		{"path with an escape", one("path: /a%20b", "scheme: github", "secret_file: s"), wantErr(3, `"a"`, "path", "may hold only")},
		{"path of every allowed character", one("path: /webhooks/Az09-._~", "scheme: github", "secret_file: s"), ok},
		{"path given twice", one(base...) + "  - name: b\n" + indent(base...), wantErr(7, `"b"`, "path", `is also the path of sender "a"`)},
		{"paths differing by a trailing slash", one(base...) + "  - name: b\n" + indent("path: /a/", "scheme: github", "secret_file: s"), wantErr(7, `"b"`, "path", "must not end with /")},
		{"paths differing by case are two", one(base...) + "  - name: b\n" + indent("path: /A", "scheme: github", "secret_file: s"), func(t *testing.T, got []senders.Sender, err error) {
			if err != nil || len(got) != 2 {
				t.Fatalf("Decode = %d senders, %v", len(got), err)
			}
		}},

		// scheme, secret_file
		{"no scheme", one("path: /a", "secret_file: s"), wantErr(2, `"a"`, "scheme", "is required")},
		{"unknown scheme", one("path: /a", "scheme: svix", "secret_file: s"), wantErr(4, `"a"`, "scheme", "must be one of audiospliter, standard-webhooks, github, stripe, hmac")},
		{"no secret_file", one("path: /a", "scheme: github"), wantErr(2, `"a"`, "secret_file", "is required")},
		{"secret_file kept as written", one(base...), wantSender(func(t *testing.T, s senders.Sender) {
			if s.SecretFile != "s" || s.Verifier != nil {
				t.Errorf("SecretFile %q, Verifier %v", s.SecretFile, s.Verifier)
			}
		})},

		// tolerance
		{"tolerance on github", one(with("tolerance: 5m")...), wantErr(6, `"a"`, "tolerance", "applies only to schemes standard-webhooks and stripe")},
		{"tolerance on hmac", one("path: /a", "scheme: hmac", "secret_file: s", "tolerance: 1m", "hmac: {header: S, delivery_header: D, event_field: e}"), wantErr(6, `"a"`, "tolerance", "applies only")},
		{"tolerance 0s", one("path: /a", "scheme: stripe", "secret_file: s", "tolerance: 0s"), wantErr(6, `"a"`, "tolerance", "must be positive")},
		{"tolerance negative", one("path: /a", "scheme: standard-webhooks", "secret_file: s", "tolerance: -1m"), wantErr(6, `"a"`, "tolerance", "must be positive")},
		{"tolerance given", one("path: /a", "scheme: standard-webhooks", "secret_file: s", "tolerance: 90s"), wantSender(func(t *testing.T, s senders.Sender) {
			if s.Tolerance != 90*time.Second {
				t.Errorf("Tolerance %v", s.Tolerance)
			}
		})},
		{"tolerance by default", one("path: /a", "scheme: stripe", "secret_file: s"), wantSender(func(t *testing.T, s senders.Sender) {
			if s.Tolerance != 5*time.Minute {
				t.Errorf("Tolerance %v", s.Tolerance)
			}
		})},
		{"tolerance null is none", one("path: /a", "scheme: github", "secret_file: s", "tolerance:"), ok},

		// route
		{"route by default", one(base...), wantSender(func(t *testing.T, s senders.Sender) {
			if s.Route.String() != "{sender}.{event}" || s.Route.Render("a", "push") != "a.push" {
				t.Errorf("Route %q", s.Route)
			}
		})},
		{"route with another placeholder", one(with(`route: "{sender}.{type}"`)...), wantErr(6, `"a"`, "route", "only the placeholders {sender} and {event}")},
		{"route with an unclosed placeholder", one(with(`route: "{event"`)...), wantErr(6, `"a"`, "route", "only the placeholders")},
		{"route with a stray }", one(with(`route: "a}.{event}"`)...), wantErr(6, `"a"`, "route", "'}'")},
		{"route empty", one(with(`route: ""`)...), wantErr(6, `"a"`, "route", "must not be empty")},
		{"route with a space", one(with(`route: "a {event}"`)...), wantErr(6, `"a"`, "route", "printable ASCII")},
		{"route with a wildcard", one(with(`route: "{event}.>"`)...), wantErr(6, `"a"`, "route", "printable ASCII")},
		{"route with an empty token", one(with(`route: "a..{event}"`)...), wantErr(6, `"a"`, "route", "empty token")},
		{"route beginning with .", one(with(`route: ".{event}"`)...), wantErr(6, `"a"`, "route", "empty token")},
		// Routes keep senders apart: no event of a header before the first '.', and
		// one route only with {event} there.
		{"route {event} with an event from a header", one(with(`route: "{event}"`)...), wantErr(6, `"a"`, "route", "a header the signature does not cover")},
		{"route {sender}{event} with an event from a header", one(with(`route: "{sender}{event}"`)...), wantErr(6, `"a"`, "route", "before its first '.'")},
		{"route {sender}.{event} with an event from a header", one(with(`route: "x-{sender}.{event}"`)...), ok},
		{"route {event} with a signed event", one("path: /a", "scheme: stripe", "secret_file: s", `route: "{event}"`), ok},
		{"route {event} with hmac's event_header", one("path: /a", "scheme: hmac", "secret_file: s", "hmac: {header: X-S, delivery_header: X-D, event_header: X-E}", `route: "{event}"`), wantErr(7, `"a"`, "route", "a header the signature does not cover")},
		{"route {event} with hmac's event_field", one("path: /a", "scheme: hmac", "secret_file: s", "hmac: {header: X-S, delivery_header: X-D, event_field: kind}", `route: "{event}"`), ok},
		{"two routes with {event} first", "senders:\n" +
			"  - {name: a, path: /a, scheme: stripe, secret_file: s, route: \"{event}\"}\n" +
			"  - {name: b, path: /b, scheme: audiospliter, secret_file: s, route: \"{event}.x\"}\n", wantErr(3, `"b"`, "route", "for one sender only, and sender \"a\" does")},

		// destination
		{"destination empty", one(with("destination: {}")...), ok},
		{"rabbitmq without exchange", one(with("destination: {rabbitmq: {}}")...), wantErr(6, `"a"`, "destination.rabbitmq.exchange", "is required")},
		{"exchange empty", one(with(`destination: {rabbitmq: {exchange: ""}}`)...), wantErr(6, `"a"`, "destination.rabbitmq.exchange", "must not be empty")},
		{"exchange amq.", one(with("destination: {rabbitmq: {exchange: amq.topic}}")...), wantErr(6, `"a"`, "destination.rabbitmq.exchange", "amq.")},
		{"exchange with a space", one(with(`destination: {rabbitmq: {exchange: "a b"}}`)...), wantErr(6, `"a"`, "destination.rabbitmq.exchange", "may hold only")},
		{"sqs without queue_url", one(with("destination:", "  sqs: {}")...), wantErr(7, `"a"`, "destination.sqs.queue_url", "is required")},
		{"queue_url not http", one(with("destination: {sqs: {queue_url: ftp://q/1/a}}")...), wantErr(6, `"a"`, "destination.sqs.queue_url", "http or https URL")},
		{"queue_url without a queue", one(with("destination: {sqs: {queue_url: 'https://sqs.eu-west-1.amazonaws.com/'}}")...), wantErr(6, `"a"`, "destination.sqs.queue_url", "queue's name")},
		{"queue_url with a password", one(with("destination: {sqs: {queue_url: 'https://me:PASSWORD@sqs.example/1/q'}}")...), wantErr(6, `"a"`, "destination.sqs.queue_url", "user or password")},
		{"queue_url local", one(with("destination: {sqs: {queue_url: 'http://localhost:9324/000000000000/q'}}")...), wantSender(func(t *testing.T, s senders.Sender) {
			if s.Destination.SQSQueueURL != "http://localhost:9324/000000000000/q" {
				t.Errorf("Destination %+v", s.Destination)
			}
		})},

		// hmac
		{"hmac on stripe", one("path: /a", "scheme: stripe", "secret_file: s", "hmac: {header: S}"), wantErr(6, `"a"`, "hmac", "applies only to scheme hmac")},
		{"hmac empty on github", one(with("hmac: {}")...), wantErr(6, `"a"`, "hmac", "applies only to scheme hmac")},
		{"scheme hmac without hmac", one("path: /a", "scheme: hmac", "secret_file: s"), wantErr(2, `"a"`, "hmac.header", "is required")},
		{"hmac without header", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  delivery_header: D", "  event_field: e"), wantErr(6, `"a"`, "hmac.header", "is required")},
		{"hmac without delivery_header", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  header: S", "  event_field: e"), wantErr(6, `"a"`, "hmac.delivery_header", "is required")},
		{"hmac without event", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  header: S", "  delivery_header: D"), wantErr(6, `"a"`, "hmac.event_header", "or hmac.event_field is required")},
		{"hmac with both events", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  header: S", "  delivery_header: D", "  event_header: E", "  event_field: e"), wantErr(9, `"a"`, "hmac.event_header", "exclude each other")},
		{"hmac algorithm md5", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  header: S", "  delivery_header: D", "  event_field: e", "  algorithm: md5"), wantErr(10, `"a"`, "hmac.algorithm", "sha256, sha512, sha1")},
		{"hmac encoding base32", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  header: S", "  delivery_header: D", "  event_field: e", "  encoding: base32"), wantErr(10, `"a"`, "hmac.encoding", "hex, base64")},
		{"hmac header not a header name", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", `  header: "X Sig"`, "  delivery_header: D", "  event_field: e"), wantErr(7, `"a"`, "hmac.header", "header name")},
		{"hmac defaults", one("path: /a", "scheme: hmac", "secret_file: s", "hmac:", "  header: S", "  delivery_header: D", "  event_header: E"), wantSender(func(t *testing.T, s senders.Sender) {
			want := verify.HMACConfig{Header: "S", Algorithm: "sha256", Encoding: "hex", DeliveryHeader: "D", EventHeader: "E"}
			if s.HMAC != want || s.Tolerance != 0 {
				t.Errorf("HMAC %+v, Tolerance %v", s.HMAC, s.Tolerance)
			}
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := senders.Decode([]byte(c.yaml))
			c.check(t, got, err)
		})
	}
}

// A value in the wrong place is never quoted back: it could be a secret pasted
// into the file by mistake.
func TestDecodeErrorsQuoteNoValue(t *testing.T) {
	t.Parallel()
	const secret = "whsec_SECRETVALUE0123456789"
	for _, y := range []string{
		one(with("tolerance: " + secret)...),
		one("path: /a", "scheme: stripe", "secret_file: s", "tolerance: "+secret),
		one(with("route: " + secret + "{x}")...),
		one("path: /a", "scheme: "+secret, "secret_file: s"),
		one("path: "+secret, "scheme: github", "secret_file: s"),
		"senders:\n  - name: " + secret + "\n" + indent(base...),
		one(with("hmac: " + secret)...),
		one(with("destination: {sqs: {queue_url: " + secret + "}}")...),
		one("path: /a", "scheme: hmac", "secret_file: s", "hmac: {header: S, delivery_header: D, event_field: e, prefix: \""+secret+"\u00e9\"}"),
		"senders: " + secret + "\n",
		secret + "\n",
	} {
		_, err := senders.Decode([]byte(y))
		if err == nil {
			t.Errorf("accepted:\n%s", y)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes the value: %v", err)
		}
	}
}

func TestDecodeTooLarge(t *testing.T) {
	t.Parallel()
	_, err := senders.Decode([]byte(one(base...) + "# " + strings.Repeat("x", 1<<20) + "\n"))
	if err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("Decode = %v", err)
	}
}

// The example `bridge -h` and docs/configuration.md show is a valid file, with one
// sender of each scheme.
func TestExampleDecodes(t *testing.T) {
	t.Parallel()
	ss, err := senders.Decode([]byte(senders.Example))
	if err != nil {
		t.Fatal(err)
	}
	schemes := map[string]bool{}
	for _, s := range ss {
		schemes[s.Scheme] = true
	}
	for _, scheme := range verify.Schemes() {
		if !schemes[scheme] {
			t.Errorf("the example has no sender of scheme %s", scheme)
		}
	}
}
