package sinks

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"amqp://guest:s3cret@localhost:5672/", "amqp://guest:xxxxx@localhost:5672/"},
		{"amqps://bridge@rabbit:5671/vh", "amqps://xxxxx@rabbit:5671/vh"},
		{"nats://s3cret@n1:4222", "nats://xxxxx@n1:4222"},
		{"nats://a:s3cret@n1:4222, nats://b:s3cret@n2:4222,nats://n3:4222",
			"nats://a:xxxxx@n1:4222,nats://b:xxxxx@n2:4222,nats://n3:4222"},
		{"amqp://u:p%40s3cret@h/?auth_token=s3cret&heartbeat=10", "amqp://u:xxxxx@h/?auth_token=xxxxx&heartbeat=10"},
		{"s3cret", "(unparsable URL)"},
		{"amqp://u:s3cret@[::1", "(unparsable URL)"},
		{"nats://n1:4222,s3cret", "nats://n1:4222,(unparsable URL)"},
		{"", ""},
		// An @ where the parser sees no user part: shown as nothing rather than guessed at.
		{"a:/://s3cret@", "(unparsable URL)"},
		// An escaped @ in a vhost is no user part, and the URL is shown as it is.
		{"amqp://rabbit/team%40prod", "amqp://rabbit/team%40prod"},
		{"amqp://rabbit:5672/%2f", "amqp://rabbit:5672/%2f"},
		{"tls://n1:4222", "tls://n1:4222"},
	} {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) leaks the secret: %q", tc.in, got)
		}
	}
}

func FuzzRedactURL(f *testing.F) {
	f.Add("amqp://guest:s3cret@localhost:5672/")
	f.Add("nats://s3cret@a,nats://u:s3cret@b")
	f.Fuzz(func(t *testing.T, raw string) {
		// Whatever stands before the @ of a URL's authority must not survive, and a
		// list is redacted element by element.
		for _, p := range strings.Split(raw, ",") {
			got := RedactURL(p)
			i := strings.Index(p, "://")
			if i < 0 {
				continue
			}
			rest := p[i+3:]
			at := strings.LastIndex(rest, "@")
			if at <= 0 || strings.ContainsAny(rest[:at], "/?#") {
				continue
			}
			cred := rest[:at]
			if user, _, ok := strings.Cut(cred, ":"); ok && user != "" {
				cred = strings.TrimPrefix(cred, user+":")
			}
			// The same text may stand in the host or path too: only more copies than
			// those count.
			elsewhere := strings.Count(p[:i], cred) + strings.Count(rest[at+1:], cred)
			if len(cred) >= 6 && !strings.Contains(redacted, cred) && strings.Count(got, cred) > elsewhere {
				t.Fatalf("RedactURL(%q) = %q keeps %q", p, got, cred)
			}
		}
	})
}
