package verify_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// partnerHMAC is the hmac sender of the contract's example file.
var partnerHMAC = verify.HMACConfig{
	Header: "X-Partner-Signature", Algorithm: "sha512", Encoding: "base64", Prefix: "sha512=",
	DeliveryHeader: "X-Partner-Delivery", EventField: "kind",
}

// kind is one configured scheme, signable.
type kind struct {
	name   string
	scheme string
	opts   verify.Options
}

var kinds = []kind{
	{"audiospliter", "audiospliter", verify.Options{}},
	{"standard-webhooks", "standard-webhooks", verify.Options{}},
	{"github", "github", verify.Options{}},
	{"stripe", "stripe", verify.Options{}},
	{"hmac", "hmac", verify.Options{HMAC: partnerHMAC}}, // the contract's example: sha512, base64, a prefix
	{"hmac-sha256-hex", "hmac", verify.Options{HMAC: verify.HMACConfig{Header: "X-Signature", DeliveryHeader: "X-Delivery", EventHeader: "X-Event"}}},
	{"hmac-sha1-hex", "hmac", verify.Options{HMAC: verify.HMACConfig{Header: "X-Signature", Algorithm: "sha1", DeliveryHeader: "X-Delivery", EventHeader: "X-Event"}}},
}

// Secrets usable by every scheme: Standard Webhooks needs whsec_ and base64.
const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_c2Vjb25kLXNlY3JldC0wMTIzNDU2Nzg5"
	secretC = "whsec_cmV0aXJlZC1zZWNyZXQtMDEyMzQ1Njc4OQ=="
)

// signed returns the headers of a delivery of body signed by k with secret.
func signed(t testing.TB, k kind, secret string, body []byte, now time.Time) http.Header {
	t.Helper()
	s := mustNew(t, k.scheme, []string{secretA}, k.opts)
	h := http.Header{}
	h.Set("Webhook-Id", "msg_1")
	if err := s.(verify.Signer).Sign(h, secret, body, now); err != nil {
		t.Fatal(err)
	}
	return h
}

// A delivery signed for one scheme is refused by every other, even one that
// holds the same secret; and by its own scheme under another secret.
func TestEachSchemeRefusesTheOthers(t *testing.T) {
	t.Parallel()
	body := [][]byte{[]byte(`{"event":"a","type":"a","id":"evt_1","kind":"a"}`)}
	for _, from := range kinds {
		h := signed(t, from, secretA, body[0], today)
		for _, to := range kinds {
			err := mustNew(t, to.scheme, []string{secretA}, to.opts).Verify(h, body, today)
			if to == from {
				if err != nil {
					t.Errorf("%s refuses its own delivery: %v", to.name, err)
				}
				if err := mustNew(t, to.scheme, []string{secretB}, to.opts).Verify(h, body, today); !errors.Is(err, verify.ErrBadSignature) {
					t.Errorf("%s under another secret: %v, want bad_signature", to.name, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s accepts a delivery signed for %s", to.name, from.name)
			}
		}
	}
}

// Any secret of the set may match; a replaced set applies at once; a refused
// set leaves the old one in place.
func TestRotation(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"x"}`)
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := mustNew(t, k.scheme, []string{secretA, secretB}, k.opts)
			check := func(secret string, want error) {
				t.Helper()
				err := s.Verify(signed(t, k, secret, body, today), [][]byte{body}, today)
				if !errors.Is(err, want) || (want == nil) != (err == nil) {
					t.Errorf("signed with %s…: %v, want %v", secret[:10], err, want)
				}
			}
			check(secretA, nil)
			check(secretB, nil)
			check(secretC, verify.ErrBadSignature)
			if err := s.SetSecrets([]string{secretB, secretC}); err != nil {
				t.Fatal(err)
			}
			check(secretA, verify.ErrBadSignature)
			check(secretC, nil)
			for _, bad := range [][]string{nil, {}, {secretA, ""}} {
				if s.SetSecrets(bad) == nil {
					t.Errorf("SetSecrets(%q) accepted", bad)
				}
			}
			check(secretB, nil)
		})
	}
}

// A Standard Webhooks secret is base64 after whsec_ (which may be left out); one
// that is not is a configuration error that does not quote it.
func TestStandardWebhooksSecrets(t *testing.T) {
	t.Parallel()
	if _, err := verify.NewStandardWebhooks([]string{strings.TrimPrefix(secretA, "whsec_")}, time.Minute); err != nil {
		t.Errorf("without whsec_: %v", err)
	}
	for _, bad := range []string{"whsec_not base64 SECRETVALUE", "whsec_", "whsec_QUJD=", "whsec_test_secret_0123456789"} {
		_, err := verify.NewStandardWebhooks([]string{secretA, bad}, time.Minute)
		if err == nil {
			t.Errorf("secret %q accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "secret 2 of 2") {
			t.Errorf("error %q does not say which secret", err)
		}
		if key := strings.TrimPrefix(bad, "whsec_"); key != "" && strings.Contains(err.Error(), key) {
			t.Errorf("error %q quotes the secret", err)
		}
	}
	if _, err := verify.SignStandardWebhooks("whsec_!SECRETVALUE", "id", today, nil); err == nil || strings.Contains(err.Error(), "SECRETVALUE") {
		t.Errorf("SignStandardWebhooks with a bad secret: %v", err)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		scheme string
		opts   verify.Options
		option string // the *OptionError's Option; "" for success, "-" for another error
	}{
		{"stripe", verify.Options{Tolerance: time.Second}, ""},
		{"standard-webhooks", verify.Options{}, ""},
		{"github", verify.Options{Tolerance: time.Second}, "tolerance"},
		{"stripe", verify.Options{Tolerance: -time.Second}, "tolerance"},
		{"github", verify.Options{HMAC: partnerHMAC}, "hmac"},
		{"hmac", verify.Options{HMAC: partnerHMAC}, ""},
		{"hmac", verify.Options{}, "hmac.header"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "X Sig", DeliveryHeader: "D", EventField: "e"}}, "hmac.header"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", EventField: "e"}}, "hmac.delivery_header"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "s", EventField: "e"}}, "hmac.delivery_header"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D"}}, "hmac.event_header"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D", EventHeader: "E", EventField: "e"}}, "hmac.event_header"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D", EventHeader: "E:"}}, "hmac.event_header"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D", EventField: "a\nb"}}, "hmac.event_field"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D", EventField: "e", Algorithm: "md5"}}, "hmac.algorithm"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D", EventField: "e", Algorithm: "SHA256"}}, "hmac.algorithm"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D", EventField: "e", Encoding: "base64url"}}, "hmac.encoding"},
		{"hmac", verify.Options{HMAC: verify.HMACConfig{Header: "S", DeliveryHeader: "D", EventField: "e", Prefix: "é="}}, "hmac.prefix"},
		{"nope", verify.Options{}, "-"},
	}
	for _, c := range cases {
		err := verify.CheckOptions(c.scheme, c.opts)
		var oe *verify.OptionError
		switch {
		case c.option == "" && err != nil:
			t.Errorf("%s %+v: %v", c.scheme, c.opts, err)
		case c.option == "-" && (err == nil || errors.As(err, &oe)):
			t.Errorf("%s %+v: %v, want a plain error", c.scheme, c.opts, err)
		case c.option != "" && c.option != "-" && (!errors.As(err, &oe) || oe.Option != c.option):
			t.Errorf("%s %+v: %v, want an error on %s", c.scheme, c.opts, err, c.option)
		}
		if _, nerr := verify.New(c.scheme, []string{secretA}, c.opts); (nerr == nil) != (err == nil) {
			t.Errorf("%s %+v: New = %v, CheckOptions = %v", c.scheme, c.opts, nerr, err)
		}
	}
	// A failed constructor yields a nil Scheme, not a nil pointer in one.
	if s, err := verify.New("stripe", nil, verify.Options{}); s != nil || err == nil {
		t.Errorf("New without secrets = %v, %v", s, err)
	}
}
