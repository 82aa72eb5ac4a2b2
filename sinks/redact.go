package sinks

import (
	"net/url"
	"strings"
)

// redacted stands in for a password or token.
const redacted = "xxxxx"

// RedactURL returns raw fit for a log line or an error: every URL of a
// comma-separated list loses its password, and a user name without a password is
// masked too, because NATS carries a bare token there (nats://TOKEN@host). Text
// that does not parse as a URL is never echoed: it may be a secret pasted in the
// wrong place.
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		parts[i] = redactOne(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func redactOne(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" && u.Opaque != "" {
		return "(unparsable URL)"
	}
	// An @ the parser did not take for the end of a user part (no "//" before the
	// host, say) may still stand after a secret that some other reader would take
	// for one: show nothing rather than guess.
	if u.User == nil && strings.Contains(u.Host+u.Opaque+u.EscapedPath(), "@") {
		return "(unparsable URL)"
	}
	// A fragment means nothing to a broker; it may hold whatever was pasted there.
	u.Fragment, u.RawFragment = "", ""
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), redacted)
		} else {
			u.User = url.User(redacted)
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isSecretParam(k) {
				q.Set(k, redacted)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// isSecretParam names query parameters that carry credentials in broker URLs.
func isSecretParam(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"pass", "token", "secret", "key", "seed", "jwt", "cred"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
