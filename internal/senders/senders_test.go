package senders_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// contractExample is the example of the contract's senders section, as written there.
const contractExample = `senders:
  - name: audiospliter
    path: /webhooks/audiospliter
    scheme: audiospliter
    secret_file: /run/secrets/audiospliter
    route: "{event}"
  - name: billing
    path: /webhooks/stripe
    scheme: stripe
    secret_file: /run/secrets/stripe
    tolerance: 5m
    destination:
      rabbitmq: { exchange: billing }
      sqs: { queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo }
  - name: partner
    path: /webhooks/partner
    scheme: hmac
    secret_file: /run/secrets/partner
    hmac:
      header: X-Partner-Signature
      algorithm: sha512
      encoding: base64
      prefix: "sha512="
      delivery_header: X-Partner-Delivery
      event_field: kind
`

// writeFile writes content to name under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The contract's example loads, with its secret files in a temporary directory,
// and each sender verifies what its scheme signs.
func TestLoadContractExample(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "audiospliter", "# rotated on 2026-04-01\nold-audiospliter-secret\n\nnew-audiospliter-secret\r\n")
	writeFile(t, dir, "stripe", "whsec_test_secret_0123456789\n")
	writeFile(t, dir, "partner", "partner-secret,with-a-comma\n")
	path := writeFile(t, dir, "senders.yaml", strings.ReplaceAll(contractExample, "/run/secrets/", dir+"/"))

	got, err := senders.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d senders, want 3", len(got))
	}
	as, billing, partner := got[0], got[1], got[2]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"names", []string{as.Name, billing.Name, partner.Name}, []string{"audiospliter", "billing", "partner"}},
		{"paths", []string{as.Path, billing.Path, partner.Path}, []string{"/webhooks/audiospliter", "/webhooks/stripe", "/webhooks/partner"}},
		{"schemes", []string{as.Scheme, billing.Scheme, partner.Scheme}, []string{"audiospliter", "stripe", "hmac"}},
		{"secret files", []string{as.SecretFile, partner.SecretFile}, []string{dir + "/audiospliter", dir + "/partner"}},
		{"routes", []string{as.Route.String(), billing.Route.String(), partner.Route.String()}, []string{"{event}", "{sender}.{event}", "{sender}.{event}"}},
		{"tolerances", []time.Duration{as.Tolerance, billing.Tolerance, partner.Tolerance}, []time.Duration{0, 5 * time.Minute, 0}},
		{"destination", billing.Destination, senders.Destination{RabbitMQExchange: "billing", SQSQueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"}},
		{"no destination", as.Destination, senders.Destination{}},
		{"hmac", partner.HMAC, verify.HMACConfig{Header: "X-Partner-Signature", Algorithm: "sha512", Encoding: "base64", Prefix: "sha512=", DeliveryHeader: "X-Partner-Delivery", EventField: "kind"}},
		{"lines", []int{as.Line, billing.Line, partner.Line}, []int{2, 7, 15}},
		{"partner's event", partner.Verifier.Identity().Event, verify.Source{Field: "kind"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}

	body := []byte(`{"id":"evt_1","type":"invoice.paid","event":"job.completed","kind":"order.created"}`)
	now := time.Now()
	for _, c := range []struct {
		s      senders.Sender
		secret string
	}{
		{as, "old-audiospliter-secret"},
		{as, "new-audiospliter-secret"},
		{billing, "whsec_test_secret_0123456789"},
		{partner, "partner-secret,with-a-comma"},
	} {
		h := http.Header{}
		if err := c.s.Verifier.(verify.Signer).Sign(h, c.secret, body, now); err != nil {
			t.Fatal(err)
		}
		if err := c.s.Verifier.Verify(h, [][]byte{body}, now); err != nil {
			t.Errorf("%s refuses a delivery signed with its secret: %v", c.s.Name, err)
		}
		for _, other := range got {
			if other.Name != c.s.Name && other.Verifier.Verify(h, [][]byte{body}, now) == nil {
				t.Errorf("%s accepts %s's delivery", other.Name, c.s.Name)
			}
		}
	}
}

// A relative secret_file is relative to the senders file.
func TestLoadRelativeSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "secrets"), "gh", "It's a Secret to Everybody\n")
	path := writeFile(t, dir, "senders.yaml", "senders:\n  - {name: gh, path: /gh, scheme: github, secret_file: secrets/gh}\n")
	got, err := senders.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "secrets", "gh"); got[0].SecretFile != want {
		t.Errorf("SecretFile = %q, want %q", got[0].SecretFile, want)
	}
	h := http.Header{"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}}
	if err := got[0].Verifier.Verify(h, [][]byte{[]byte("Hello, World!")}, time.Now()); err != nil {
		t.Error(err)
	}
}

// The secret files: each must be readable and hold a secret the scheme can use;
// the error names the sender and secret_file, never a secret.
func TestLoadSecretFileErrors(t *testing.T) {
	t.Parallel()
	const secret = "whsec_not-base64-SECRETVALUE"
	cases := []struct {
		name    string
		scheme  string
		content *string // nil: no file
		want    string
	}{
		{"missing", "github", nil, "no such file"},
		{"only comments", "github", ptr("# none yet\n\n"), "holds no secret"},
		{"too large", "github", ptr(strings.Repeat("x", 64<<10+1)), "larger than 65536 bytes"},
		{"a line too long", "github", ptr(strings.Repeat("x", 64<<10)), "too long"},
		{"not base64 for standard-webhooks", "standard-webhooks", ptr("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n" + secret + "\n"), "secret 2 of 2 is not whsec_ followed by a key in standard base64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if c.content != nil {
				writeFile(t, dir, "secret", *c.content)
			}
			path := writeFile(t, dir, "senders.yaml", "senders:\n  - name: a\n    path: /a\n    scheme: "+c.scheme+"\n    secret_file: secret\n")
			_, err := senders.Load(path)
			var e *senders.Error
			if !errors.As(err, &e) || e.Sender != `"a"` || e.Field != "secret_file" || e.Line != 5 || e.File != path || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load = %v (%+v), want an error on sender \"a\", secret_file, line 5: %s", err, e, c.want)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("the error quotes a secret: %v", err)
			}
		})
	}
	if _, err := senders.Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("Load of a missing senders file = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestReadSecretFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := writeFile(t, dir, "s", "  # comment\n\none,two\r\n\t three \n#another\n")
	got, err := senders.ReadSecretFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"one,two", "three"}) {
		t.Errorf("secrets %q", got)
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ template, want string }{
		{"{sender}.{event}", "billing.invoice.paid"},
		{"{event}", "invoice.paid"},
		{"in.{sender}-{event}.v1", "in.billing-invoice.paid.v1"},
		{"fixed", "fixed"},
		{"{event}{sender}{event}", "invoice.paidbillinginvoice.paid"},
	} {
		r, err := senders.ParseRoute(c.template)
		if err != nil {
			t.Errorf("%q: %v", c.template, err)
			continue
		}
		if got := r.Render("billing", "invoice.paid"); got != c.want || r.String() != c.template {
			t.Errorf("%q renders %q, want %q", c.template, got, c.want)
		}
	}
}
