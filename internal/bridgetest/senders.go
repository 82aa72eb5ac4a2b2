package bridgetest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/loadgen"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// Sender is one sender of the senders files the tests write: its entry's
// settings, its secret, and what it sends.
type Sender struct {
	Name, Path, Scheme string
	Secret             string
	Route              string         // "" : the default, {sender}.{event}
	HMAC               string         // its hmac: block, indented under the entry
	Options            verify.Options // the same settings, for verify.New
	Destination        string         // a destination: block, indented under the entry ("" : none)
	Body               []byte         // a delivery it sends (loadgen.SampleBody)
	scheme             verify.Scheme  // built on first use
}

// FiveSenders returns one sender per scheme, each with a secret of its own:
// audiospliter (route {event}, as without a senders file), svix (Standard
// Webhooks), github, billing (Stripe) and partner (the contract's hmac example:
// sha512, base64, a prefix, the event in a body field).
func FiveSenders() []Sender {
	ss := []Sender{
		{Name: "audiospliter", Path: "/webhooks/audiospliter", Scheme: verify.SchemeAudioSpliter,
			Secret: "as-secret-0123456789abcdef", Route: "{event}"},
		{Name: "svix", Path: "/webhooks/svix", Scheme: verify.SchemeStandardWebhooks,
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{Name: "github", Path: "/webhooks/github", Scheme: verify.SchemeGitHub,
			Secret: "It's a Secret to Everybody"},
		{Name: "billing", Path: "/webhooks/stripe", Scheme: verify.SchemeStripe,
			Secret: "whsec_test_secret_0123456789"},
		{Name: "partner", Path: "/webhooks/partner", Scheme: verify.SchemeHMAC,
			Secret: "partner-secret-0123456789",
			HMAC: "header: X-Partner-Signature\nalgorithm: sha512\nencoding: base64\nprefix: \"sha512=\"\n" +
				"delivery_header: X-Partner-Delivery\nevent_field: kind",
			Options: verify.Options{HMAC: verify.HMACConfig{
				Header: "X-Partner-Signature", Algorithm: "sha512", Encoding: "base64", Prefix: "sha512=",
				DeliveryHeader: "X-Partner-Delivery", EventField: "kind",
			}}},
	}
	for i := range ss {
		ss[i].Body = loadgen.SampleBody(ss[i].verifier())
	}
	return ss
}

// Another returns a sender like s under another name, path and secret, with a
// scheme of its own and the default route.
func (s Sender) Another(name, path, secret string) Sender {
	// The default route: a senders file allows {event} before a route's first '.'
	// to one sender only.
	s.Name, s.Path, s.Secret, s.Route, s.scheme = name, path, secret, "", nil
	return s
}

// verifier is the sender's scheme with its secret, built once: Bridge and Signer
// share it, so that SetSecrets on one shows in the other.
func (s *Sender) verifier() verify.Scheme {
	if s.scheme == nil {
		v, err := verify.New(s.Scheme, []string{s.Secret}, s.Options)
		if err != nil {
			panic("bridgetest: " + s.Name + ": " + err.Error())
		}
		s.scheme = v
	}
	return s.scheme
}

// Bridge is the sender as bridge.Config takes it.
func (s *Sender) Bridge() bridge.Sender {
	tmpl := s.Route
	if tmpl == "" {
		tmpl = senders.DefaultRoute
	}
	r, err := senders.ParseRoute(tmpl)
	if err != nil {
		panic("bridgetest: " + s.Name + ": route: " + err.Error())
	}
	return bridge.Sender{Name: s.Name, Path: s.Path, Scheme: s.verifier(), Route: r}
}

// Signer signs the sender's deliveries, as sendhook does.
func (s *Sender) Signer() *loadgen.Sender {
	return &loadgen.Sender{Scheme: s.verifier(), Secret: s.Secret, Body: s.Body, Event: "push", Name: s.Name}
}

// Delivery returns the headers and body of the sender's delivery id, signed at
// now with its secret.
func (s *Sender) Delivery(t testing.TB, id string, now time.Time) (http.Header, []byte) {
	t.Helper()
	h, body, err := s.Signer().Request(id, now)
	if err != nil {
		t.Fatal(err)
	}
	return h, body
}

// WriteSendersFile writes a senders file of ss, and each sender's secret file
// beside it (<name>.secret, named relative to the file), into dir; it returns the
// senders file's path.
func WriteSendersFile(t testing.TB, dir string, ss []Sender) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("senders:\n")
	for _, s := range ss {
		b.WriteString("  - name: " + s.Name + "\n")
		b.WriteString("    path: " + s.Path + "\n")
		b.WriteString("    scheme: " + s.Scheme + "\n")
		b.WriteString("    secret_file: " + s.Name + ".secret\n")
		if s.Route != "" {
			b.WriteString("    route: \"" + s.Route + "\"\n")
		}
		for _, block := range []struct{ key, body string }{{"hmac", s.HMAC}, {"destination", s.Destination}} {
			if block.body == "" {
				continue
			}
			b.WriteString("    " + block.key + ":\n")
			for line := range strings.Lines(block.body) {
				b.WriteString("      " + strings.TrimRight(line, "\n") + "\n")
			}
		}
		if err := os.WriteFile(filepath.Join(dir, s.Name+".secret"), []byte(s.Secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "senders.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
