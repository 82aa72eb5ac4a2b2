package senders_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// FuzzDecode: whatever the file, Decode does not panic, fails with one *Error on
// one line, and what it accepts keeps the rules.
func FuzzDecode(f *testing.F) {
	f.Add(contractExample)
	f.Add(one(base...))
	f.Add(one(with("destination: {rabbitmq: {exchange: x, durable: true}}")...))
	f.Add(one("path: /a", "scheme: github", "path: /b", "secret_file: s"))
	f.Add(one("path: /a", "scheme: stripe", "secret_file: s", "tolerance: 300"))
	f.Add("senders:\n  - a\n")
	f.Add("- name: a\n")
	f.Add("senders:\n  - &x {name: a, path: /a, scheme: github, secret_file: s}\n  - *x\n")
	f.Add("senders:\n  - <<: {name: a, path: /a}\n    scheme: github\n    secret_file: s\n")
	f.Add(one(base...) + "---\nsenders: []\n")
	f.Fuzz(func(t *testing.T, yaml string) {
		got, err := senders.Decode([]byte(yaml))
		if err != nil {
			var e *senders.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error on several lines: %q", err)
			}
			return
		}
		names, paths := map[string]bool{}, map[string]bool{}
		for _, s := range got {
			if names[s.Name] || paths[s.Path] || s.Name == "" || !strings.HasPrefix(s.Path, "/") || strings.HasSuffix(s.Path, "/") || s.SecretFile == "" {
				t.Fatalf("accepted %+v", s)
			}
			names[s.Name], paths[s.Path] = true, true
			if err := verify.CheckOptions(s.Scheme, s.Options()); err != nil {
				t.Fatalf("accepted %+v: %v", s, err)
			}
			if (s.Tolerance > 0) != verify.Timestamped(s.Scheme) {
				t.Fatalf("accepted %+v with tolerance %v", s, s.Tolerance)
			}
			if _, err := senders.ParseRoute(s.Route.String()); err != nil {
				t.Fatalf("accepted route %q: %v", s.Route, err)
			}
		}
	})
}
