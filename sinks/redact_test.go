package sinks

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
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
		// An @ left in a password: the parser ends the user part at the first @, and
		// the rest of the password would show as the host and path.
		{"amqp://guest:p@s3cret/word@localhost:5672/", "(unparsable URL)"},
		{"nats://bridge:Top@s3cret99/x@127.0.0.1:4222", "(unparsable URL)"},
		{"nats://s3cret@x@127.0.0.1:4222", "(unparsable URL)"},
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

// A client library's error may quote a URL as given, as it parsed it (scheme
// added), decoded or escaped: none of its secrets survive RedactError, and the
// error keeps its chain.
func TestRedactError(t *testing.T) {
	t.Parallel()
	libErr := func(quoted string) error {
		_, err := url.Parse(quoted)
		if err == nil {
			err = errors.New("dial " + quoted + ": connection refused")
		}
		return fmt.Errorf("nats: %w", err)
	}
	for _, tc := range []struct {
		name, raw, quoted string
	}{
		{"password, invalid port", "nats://user:s3cretPW@127.0.0.1:99x", "nats://user:s3cretPW@127.0.0.1:99x"},
		{"token", "nats://s3cretTOKEN@127.0.0.1:99x", "nats://s3cretTOKEN@127.0.0.1:99x"},
		{"scheme added by the library", "user:s3cretPW@127.0.0.1:99x", "nats://user:s3cretPW@127.0.0.1:99x"},
		{"second of a list", "nats://a:pw1@127.0.0.1:4222, nats://b:s3cretPW@[::1", "nats://b:s3cretPW@[::1"},
		{"quoted by %q", `nats://u:s3cret"PW@127.0.0.1:99x`, `nats://u:s3cret"PW@127.0.0.1:99x`},
		{"escaped, shown decoded", "amqp://u:s3cret%2FPW@h:99x/", "amqp://u:s3cret/PW@h:99x/"},
		{"secret query value", "http://h:99x/?auth_token=s3cretQ", "http://h:99x/?auth_token=s3cretQ"},
		{"password with an @", "nats://u:s3cret@PW@127.0.0.1:99x", "nats://u:s3cret@PW@127.0.0.1:99x"},
		{"written back escaped", "amqp://u:s3cret@PW@127.0.0.1:99x/", "amqp://u:s3cret%40PW@127.0.0.1:99x/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := libErr(tc.quoted)
			err := RedactError(orig, tc.raw)
			for _, secret := range []string{"s3cretPW", "s3cretTOKEN", `s3cret"PW`, `s3cret\"PW`, "s3cret/PW", "s3cret%2FPW", "s3cretQ", "s3cret@PW", "s3cret%40PW", "s3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%q keeps %q", err, secret)
				}
			}
			if !errors.Is(err, orig) {
				t.Error("the redacted error lost its chain")
			}
			t.Log(err)
		})
	}
	if err := errors.New("connection refused"); RedactError(err, "nats://u:pw@h") != err { //nolint:errorlint // the very error, not one wrapping it
		t.Error("an error without a secret is not returned as it is")
	}
}

func FuzzRedactError(f *testing.F) {
	f.Add("s3cretPW", true)
	f.Add(`pa/ss"wo?rd`, false)
	f.Fuzz(func(t *testing.T, secret string, withUser bool) {
		if len(secret) < 6 || strings.ContainsAny(secret, ",") || strings.TrimSpace(secret) != secret {
			return
		}
		if !withUser && strings.Contains(secret, ":") {
			return // a user name and a password, not a token
		}
		raw := "nats://" + secret + "@127.0.0.1:99x"
		if withUser {
			raw = "nats://user:" + secret + "@127.0.0.1:99x"
		}
		// What libraries do with a URL: parse it (url.Error quotes it with %q), or
		// show it in some other message as it is.
		_, perr := url.Parse(raw)
		for _, err := range []error{perr, fmt.Errorf("dial %s: refused", raw)} {
			if err == nil {
				continue
			}
			if got := RedactError(err, raw).Error(); strings.Contains(got, secret) || strings.Contains(got, strings.Trim(strconv.Quote(secret), `"`)) {
				t.Fatalf("RedactError(%q) = %q keeps the secret", err, got)
			}
		}
	})
}
