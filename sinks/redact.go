package sinks

import (
	"net/url"
	"sort"
	"strconv"
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
	// host, or a ? or # in a password that made the rest a query) may still stand
	// after a secret that some other reader would take for one: show nothing rather
	// than guess.
	if u.User == nil && strings.Contains(raw, "@") {
		return "(unparsable URL)"
	}
	// An @ after the one that ended the user part is most likely one of the
	// password's, not escaped: the parser took the password's rest for the host.
	if u.User != nil && strings.Count(raw, "@") > 1 {
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

// RedactError returns err with every secret of the URLs in raw (a comma-separated
// list, as RedactURL takes it) taken out of its text, whatever a client library
// quoted of them: a URL as given becomes its RedactURL form, and any password,
// token or secret query value left (a library may quote the URL as it parsed it,
// with a scheme added, decoded, or escaped) becomes xxxxx. errors.Is and errors.As
// still see err's chain; only the text changes. A sink puts a client library's
// error through it before the error reaches a log line or its caller.
func RedactError(err error, raw string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	clean := redactText(text, raw)
	if clean == text {
		return err
	}
	return &redactedError{text: clean, err: err}
}

type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }

func (e *redactedError) Unwrap() error { return e.err }

// redactText replaces in text what RedactError takes out: first each URL, as
// given, by its RedactURL form; then, in what is left, each secret.
func redactText(text, raw string) string {
	var urls, secrets []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		urls = append(urls, p, RedactURL(p))
		for _, s := range secretsOf(p) {
			// As written, and as %q quotes it (url.Error does).
			q := strconv.Quote(s)
			secrets = append(secrets, s, redacted, q[1:len(q)-1], redacted)
		}
	}
	text = replaceLongestFirst(text, append([]string{raw, RedactURL(raw)}, urls...))
	return replaceLongestFirst(text, secrets)
}

// replaceLongestFirst replaces in text each old of the old, new pairs that occurs
// in it, a longer old before one it contains.
func replaceLongestFirst(text string, pairs []string) string {
	type pair struct{ old, new string }
	var ps []pair
	for i := 0; i+1 < len(pairs); i += 2 {
		if old := pairs[i]; old != "" && old != pairs[i+1] && strings.Contains(text, old) {
			ps = append(ps, pair{old, pairs[i+1]})
		}
	}
	if len(ps) == 0 {
		return text
	}
	sort.SliceStable(ps, func(i, j int) bool { return len(ps[i].old) > len(ps[j].old) })
	args := make([]string, 0, 2*len(ps))
	for _, p := range ps {
		args = append(args, p.old, p.new)
	}
	return strings.NewReplacer(args...).Replace(text)
}

// minPiece is the shortest piece of a secret that redactText looks for on its own.
const minPiece = 3

// secretsOf returns what in the URL p may be a secret, parsed or not: whatever
// stands before the last @ of its authority (the password after a user name's
// colon, else all of it: a bare token), as written and decoded, and the values of
// query parameters that carry credentials.
func secretsOf(p string) []string {
	var out []string
	both := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		d, err := url.PathUnescape(s)
		if err == nil && d != s {
			out = append(out, d)
		}
		// As net/url writes it back in a user part (a library may parse the URL and
		// show it again).
		out = append(out, strings.TrimPrefix(url.UserPassword("", d).String(), ":"))
		// A parser that took a character of the secret for the end of a part of the
		// URL quotes a piece of it ("invalid port \":pa\"" for pa/ss): the pieces go
		// too, but for the shortest, which would only garble the text.
		for _, v := range []string{s, d} {
			for _, piece := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(":/?#@[]", r) }) {
				if len(piece) >= minPiece && piece != v {
					out = append(out, piece)
				}
			}
		}
	}
	rest := p
	if i := strings.Index(p, "://"); i >= 0 {
		rest = p[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at > 0 {
		cred := rest[:at]
		if _, pass, ok := strings.Cut(cred, ":"); ok {
			both(pass)
		} else {
			both(cred)
		}
	}
	if _, query, ok := strings.Cut(rest, "?"); ok {
		query, _, _ = strings.Cut(query, "#")
		for _, kv := range strings.Split(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if isSecretParam(k) {
				both(v)
				if d, err := url.QueryUnescape(v); err == nil && d != v {
					out = append(out, d, url.QueryEscape(d))
				}
			}
		}
	}
	return out
}
