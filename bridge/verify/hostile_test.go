package verify_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// Hostile headers are refused for the right reason, without a panic and without
// allocating: what a request costs before it is authenticated is what it sent.
// Not parallel: AllocsPerRun counts the whole process's allocations.
func TestHostileHeaders(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	ts := strconv.FormatInt(today.Unix(), 10)
	swSig, err := verify.SignStandardWebhooks(secretA, "msg_1", today, body)
	if err != nil {
		t.Fatal(err)
	}
	stSig := verify.SignStripe(secretA, today, body)
	stMAC := strings.TrimPrefix(stSig, "t="+ts+",")
	sw := func(ts, sig string) http.Header {
		return headers("webhook-id", "msg_1", "webhook-timestamp", ts, "webhook-signature", sig)
	}
	st := func(v string) http.Header { return headers("Stripe-Signature", v) }
	big := strings.Repeat("A", 60<<10)
	cases := []struct {
		name   string
		scheme string
		h      http.Header
		want   error
	}{
		{"sw: timestamp not a number", "standard-webhooks", sw("yesterday", swSig), verify.ErrBadTimestamp},
		{"sw: timestamp negative", "standard-webhooks", sw("-"+ts, swSig), verify.ErrBadTimestamp},
		{"sw: timestamp with a sign", "standard-webhooks", sw("+"+ts, swSig), verify.ErrBadTimestamp},
		{"sw: timestamp with a space", "standard-webhooks", sw(ts+" ", swSig), verify.ErrBadTimestamp},
		{"sw: timestamp in exponent form", "standard-webhooks", sw("1.7e9", swSig), verify.ErrBadTimestamp},
		{"sw: timestamp overflowing int64", "standard-webhooks", sw("99999999999999999999999", swSig), verify.ErrBadTimestamp},
		{"sw: timestamp of 60 KiB", "standard-webhooks", sw(strings.Repeat("9", 60<<10), swSig), verify.ErrBadTimestamp},
		{"sw: timestamp of 18 nines", "standard-webhooks", sw(strings.Repeat("9", 18), swSig), verify.ErrTimestampOutOfTolerance},
		{"sw: timestamp zero", "standard-webhooks", sw("0", swSig), verify.ErrTimestampOutOfTolerance},
		{"sw: timestamp 10 minutes ahead", "standard-webhooks", sw(strconv.FormatInt(today.Unix()+600, 10), swSig), verify.ErrTimestampOutOfTolerance},
		{"sw: 17 entries, the valid one first", "standard-webhooks", sw(ts, swSig+strings.Repeat(" v1,x", 16)), verify.ErrTooManySignatures},
		{"sw: 16 entries, the valid one last", "standard-webhooks", sw(ts, strings.Repeat("v1,x ", 15)+swSig), nil},
		{"sw: thousands of entries", "standard-webhooks", sw(ts, strings.Repeat(swSig+" ", 1300)), verify.ErrTooManySignatures},
		{"sw: thousands of spaces", "standard-webhooks", sw(ts, strings.Repeat(" ", 60<<10)+swSig), verify.ErrTooManySignatures},
		{"sw: 15 spaces", "standard-webhooks", sw(ts, strings.Repeat(" ", 15)+swSig), nil},
		{"sw: one entry of 60 KiB", "standard-webhooks", sw(ts, "v1,"+big), verify.ErrBadSignature},
		{"sw: a version of 60 KiB", "standard-webhooks", sw(ts, big+","+big), verify.ErrBadSignature},
		{"sw: odd bytes", "standard-webhooks", sw(ts, "v1,\x00\xff\xfe"+strings.Repeat("\x80", 41)), verify.ErrBadSignature},
		{"sw: base64 with newlines", "standard-webhooks", sw(ts, "v1,"+strings.TrimPrefix(swSig, "v1,")[:20]+"\n"+strings.TrimPrefix(swSig, "v1,")[21:]), verify.ErrBadSignature},
		{"sw: url-safe base64", "standard-webhooks", sw(ts, strings.NewReplacer("+", "-", "/", "_").Replace(swSig)), verify.ErrBadSignature},
		{"sw: entry without a comma", "standard-webhooks", sw(ts, "v1"), verify.ErrBadSignature},

		{"stripe: no t", "stripe", st(stMAC), verify.ErrBadTimestamp},
		{"stripe: two t", "stripe", st("t=" + ts + "," + stSig), verify.ErrBadTimestamp},
		{"stripe: t not a number", "stripe", st("t=now," + stMAC), verify.ErrBadTimestamp},
		{"stripe: t overflowing", "stripe", st("t=" + strings.Repeat("9", 40) + "," + stMAC), verify.ErrBadTimestamp},
		{"stripe: t an hour ahead", "stripe", st("t=" + strconv.FormatInt(today.Unix()+3600, 10) + "," + stMAC), verify.ErrTimestampOutOfTolerance},
		{"stripe: an item without =", "stripe", st(stSig + ",v1"), verify.ErrBadSignature},
		{"stripe: thousands of v1", "stripe", st(stSig + strings.Repeat(","+stMAC, 2000)), verify.ErrTooManySignatures},
		{"stripe: 16 items, the valid one last", "stripe", st("t=" + ts + strings.Repeat(",v0=x", 14) + "," + stMAC), nil},
		{"stripe: thousands of commas", "stripe", st(strings.Repeat(",", 60<<10) + stSig), verify.ErrTooManySignatures},
		{"stripe: 14 commas", "stripe", st(strings.Repeat(",", 14) + stSig), nil},
		{"stripe: one v1 of 60 KiB", "stripe", st("t=" + ts + ",v1=" + big), verify.ErrBadSignature},
		{"stripe: no v1", "stripe", st("t=" + ts + ",v0=" + strings.TrimPrefix(stMAC, "v1=")), verify.ErrBadSignature},
		{"stripe: odd bytes", "stripe", st("t=" + ts + ",v1=\x00\xff" + strings.Repeat("\x80", 62)), verify.ErrBadSignature},

		{"github: 60 KiB", "github", headers("X-Hub-Signature-256", "sha256="+big), verify.ErrBadSignature},
		{"github: uppercase prefix", "github", headers("X-Hub-Signature-256", "SHA256="+strings.Repeat("0", 64)), verify.ErrBadSignature},
		{"audiospliter: 60 KiB", "audiospliter", headers("X-AudioSpliter-Signature", big), verify.ErrBadSignature},
		{"audiospliter: prefix twice", "audiospliter", headers("X-AudioSpliter-Signature", "sha256=sha256="+verify.SignAudioSpliter(secretA, body)), verify.ErrBadSignature},
		{"hmac: prefix missing", "hmac", headers("X-Partner-Signature", strings.Repeat("A", 86)+"=="), verify.ErrBadSignature},
		{"hmac: 60 KiB", "hmac", headers("X-Partner-Signature", "sha512="+big), verify.ErrBadSignature},
		{"hmac: hex instead of base64", "hmac", headers("X-Partner-Signature", "sha512="+strings.Repeat("ab", 64)), verify.ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := verify.Options{}
			if c.scheme == "hmac" {
				opts.HMAC = partnerHMAC
			}
			s := mustNew(t, c.scheme, []string{secretA}, opts)
			parts := [][]byte{body} // as the ingress holds it, built before
			err := s.Verify(c.h, parts, today)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
			if raceEnabled {
				return
			}
			if n := testing.AllocsPerRun(20, func() { _ = s.Verify(c.h, parts, today) }); n != 0 {
				t.Errorf("%v allocations per verification", n)
			}
		})
	}
}

// Verifying allocates nothing, accepted or refused, in every scheme.
func TestVerifyAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops objects at random under the race detector")
	}
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	for _, k := range kinds {
		s := mustNew(t, k.scheme, []string{secretB, secretA}, k.opts)
		good := signed(t, k, secretA, body, today)
		bad := signed(t, k, secretC, body, today)
		parts := [][]byte{body}
		for name, h := range map[string]http.Header{"valid": good, "invalid": bad, "empty": {}} {
			if n := testing.AllocsPerRun(50, func() { _ = s.Verify(h, parts, today) }); n != 0 {
				t.Errorf("%s, %s delivery: %v allocations per verification", k.name, name, n)
			}
		}
	}
}

// A verification sees the old set of secrets or the new one, never a mix, while
// SetSecrets runs.
func TestSetSecretsWhileVerifying(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1","type":"x"}`)
	for _, k := range kinds {
		s := mustNew(t, k.scheme, []string{secretA}, k.opts)
		h := signed(t, k, secretA, body, today)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 200 {
				if err := s.SetSecrets([]string{secretB, secretA}); err != nil {
					t.Error(err)
				}
				if err := s.SetSecrets([]string{secretA}); err != nil {
					t.Error(err)
				}
			}
		}()
		for range 400 {
			if err := s.Verify(h, [][]byte{body}, today); err != nil {
				t.Fatalf("%s: %v while the set changed", k.name, err)
			}
		}
		<-done
	}
}

func TestSignerNeedsTheStandardWebhooksID(t *testing.T) {
	t.Parallel()
	s, err := verify.NewStandardWebhooks([]string{secretA}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sign(http.Header{}, secretA, nil, today); err == nil {
		t.Error("signed without webhook-id")
	}
}
