package verify_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// vectors is testdata/senders.json, the test vectors of the contract's senders
// section, computed outside this code.
type vectors struct {
	StandardWebhooks struct {
		Secret    string `json:"secret"`
		ID        string `json:"webhook-id"`
		Timestamp string `json:"webhook-timestamp"`
		Body      string `json:"body"`
		Signature string `json:"webhook-signature"`
	} `json:"standard-webhooks"`
	GitHub struct {
		Secret    string `json:"secret"`
		Body      string `json:"body"`
		Signature string `json:"X-Hub-Signature-256"`
	} `json:"github"`
	Stripe struct {
		Secret    string `json:"secret"`
		T         string `json:"t"`
		Body      string `json:"body"`
		Signature string `json:"Stripe-Signature"`
	} `json:"stripe"`
}

func loadVectors(t testing.TB) vectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/senders.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The AudioSpliter vector is the seed payload of bridge/testdata/signatures.json
// (HMAC-SHA256 computed with openssl).
const (
	asSecret = "whsec-test-0123456789abcdef"
	asBody   = `{"event":"job.completed","jobId":"job_8f3a2c1e","data":{"segments":[{"index":0,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/0.mp3","duration":12.5},{"index":1,"downloadUrl":"https://cdn.audiospliter.example/job_8f3a2c1e/1.mp3","duration":9.75}]}}`
	asSig    = "54e9dc332635ed15fe9264714f2d8ad9a0a35cb7363ade3ea33e28071b55542b"
)

// today is a fixed "now" long after the vectors' own timestamps.
var today = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func mustNew(t testing.TB, scheme string, secrets []string, opts verify.Options) verify.Scheme {
	t.Helper()
	s, err := verify.New(scheme, secrets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// wantErr returns an assertion that Verify failed with want (nil: succeeded).
func wantErr(want error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Fatalf("Verify = %v, want %v", err, want)
		}
		if err != nil && !errors.Is(err, verify.ErrInvalidSignature) {
			t.Fatalf("%v does not wrap ErrInvalidSignature", err)
		}
	}
}

func TestVectors(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	sw, gh, st := v.StandardWebhooks, v.GitHub, v.Stripe
	swAt := time.Unix(1614265330, 0)
	stAt := time.Unix(1700000000, 0)
	swHeaders := func(ts, sig string) http.Header {
		return headers("webhook-id", sw.ID, "webhook-timestamp", ts, "webhook-signature", sig)
	}
	resigned, err := verify.SignStandardWebhooks(sw.Secret, sw.ID, today, []byte(sw.Body))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		scheme verify.Scheme
		h      http.Header
		body   string
		now    time.Time
		check  func(*testing.T, error)
	}{
		{"audiospliter", mustNew(t, "audiospliter", []string{asSecret}, verify.Options{}),
			headers("X-AudioSpliter-Signature", asSig), asBody, today, wantErr(nil)},
		{"audiospliter sha256= prefix", mustNew(t, "audiospliter", []string{asSecret}, verify.Options{}),
			headers("X-AudioSpliter-Signature", "sha256="+strings.ToUpper(asSig)), asBody, today, wantErr(nil)},
		{"audiospliter body changed", mustNew(t, "audiospliter", []string{asSecret}, verify.Options{}),
			headers("X-AudioSpliter-Signature", asSig), asBody + " ", today, wantErr(verify.ErrBadSignature)},

		{"standard-webhooks at its own time", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(sw.Timestamp, sw.Signature), sw.Body, swAt, wantErr(nil)},
		{"standard-webhooks 4m59s later", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(sw.Timestamp, sw.Signature), sw.Body, swAt.Add(4*time.Minute + 59*time.Second), wantErr(nil)},
		{"standard-webhooks 4m59s earlier", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(sw.Timestamp, sw.Signature), sw.Body, swAt.Add(-4*time.Minute - 59*time.Second), wantErr(nil)},
		{"standard-webhooks 5m1s later", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(sw.Timestamp, sw.Signature), sw.Body, swAt.Add(5*time.Minute + time.Second), wantErr(verify.ErrTimestampOutOfTolerance)},
		{"standard-webhooks today: a replay", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(sw.Timestamp, sw.Signature), sw.Body, today, wantErr(verify.ErrTimestampOutOfTolerance)},
		{"standard-webhooks re-signed today", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(strconv.FormatInt(today.Unix(), 10), resigned), sw.Body, today, wantErr(nil)},
		{"standard-webhooks with a tolerance of 6 years", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{Tolerance: 6 * 365 * 24 * time.Hour}),
			swHeaders(sw.Timestamp, sw.Signature), sw.Body, today, wantErr(nil)},
		{"standard-webhooks among other entries", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(sw.Timestamp, "v1a,"+strings.Repeat("A", 88)+" v2,x  v1,AAAA "+sw.Signature), sw.Body, swAt, wantErr(nil)},
		{"standard-webhooks other id", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			headers("webhook-id", sw.ID+"x", "webhook-timestamp", sw.Timestamp, "webhook-signature", sw.Signature), sw.Body, swAt, wantErr(verify.ErrBadSignature)},
		{"standard-webhooks other timestamp", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders("1614265331", sw.Signature), sw.Body, swAt, wantErr(verify.ErrBadSignature)},
		{"standard-webhooks v2 only", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			swHeaders(sw.Timestamp, "v2"+strings.TrimPrefix(sw.Signature, "v1")), sw.Body, swAt, wantErr(verify.ErrBadSignature)},
		{"standard-webhooks no id", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			headers("webhook-timestamp", sw.Timestamp, "webhook-signature", sw.Signature), sw.Body, swAt, wantErr(verify.ErrMissingSignature)},
		{"standard-webhooks no timestamp", mustNew(t, "standard-webhooks", []string{sw.Secret}, verify.Options{}),
			headers("webhook-id", sw.ID, "webhook-signature", sw.Signature), sw.Body, swAt, wantErr(verify.ErrBadTimestamp)},

		{"github", mustNew(t, "github", []string{gh.Secret}, verify.Options{}),
			headers("X-Hub-Signature-256", gh.Signature), gh.Body, today, wantErr(nil)},
		{"github without sha256=", mustNew(t, "github", []string{gh.Secret}, verify.Options{}),
			headers("X-Hub-Signature-256", strings.TrimPrefix(gh.Signature, "sha256=")), gh.Body, today, wantErr(verify.ErrBadSignature)},
		{"github SHA-1 header only", mustNew(t, "github", []string{gh.Secret}, verify.Options{}),
			headers("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"), gh.Body, today, wantErr(verify.ErrMissingSignature)},

		{"stripe at its own time", mustNew(t, "stripe", []string{st.Secret}, verify.Options{}),
			headers("Stripe-Signature", st.Signature), st.Body, stAt, wantErr(nil)},
		{"stripe today: a replay", mustNew(t, "stripe", []string{st.Secret}, verify.Options{}),
			headers("Stripe-Signature", st.Signature), st.Body, today, wantErr(verify.ErrTimestampOutOfTolerance)},
		{"stripe with v0 and a second v1", mustNew(t, "stripe", []string{st.Secret}, verify.Options{}),
			headers("Stripe-Signature", "t=1700000000,v1="+strings.Repeat("0", 64)+",v1="+strings.TrimPrefix(st.Signature, "t=1700000000,v1=")+",v0=abc"), st.Body, stAt, wantErr(nil)},
		{"stripe secret without whsec_", mustNew(t, "stripe", []string{strings.TrimPrefix(st.Secret, "whsec_")}, verify.Options{}),
			headers("Stripe-Signature", st.Signature), st.Body, stAt, wantErr(verify.ErrBadSignature)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.check(t, c.scheme.Verify(c.h, [][]byte{[]byte(c.body)}, c.now))
		})
	}
}

// The Sign functions reproduce the published vectors.
func TestSignReproducesVectors(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	sw, err := verify.SignStandardWebhooks(v.StandardWebhooks.Secret, v.StandardWebhooks.ID, time.Unix(1614265330, 0), []byte(v.StandardWebhooks.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"audiospliter", verify.SignAudioSpliter(asSecret, []byte(asBody)), asSig},
		{"standard-webhooks", sw, v.StandardWebhooks.Signature},
		{"github", verify.SignGitHub(v.GitHub.Secret, []byte(v.GitHub.Body)), v.GitHub.Signature},
		{"stripe", verify.SignStripe(v.Stripe.Secret, time.Unix(1700000000, 0), []byte(v.Stripe.Body)), v.Stripe.Signature},
	} {
		if c.got != c.want {
			t.Errorf("%s: signed %q, want %q", c.name, c.got, c.want)
		}
	}
}

// A body that arrived in pieces verifies as the same body in one piece.
func TestBodyInPieces(t *testing.T) {
	t.Parallel()
	body := []byte(asBody)
	s := mustNew(t, "audiospliter", []string{asSecret}, verify.Options{})
	h := headers("X-AudioSpliter-Signature", asSig)
	for _, split := range [][]int{{0}, {1}, {10, 20}, {len(body)}, {0, 0, len(body)}} {
		var parts [][]byte
		prev := 0
		for _, at := range split {
			parts = append(parts, body[prev:at])
			prev = at
		}
		parts = append(parts, body[prev:])
		if err := s.Verify(h, parts, today); err != nil {
			t.Errorf("split at %v: %v", split, err)
		}
	}
	if err := s.Verify(h, nil, today); !errors.Is(err, verify.ErrBadSignature) {
		t.Errorf("no body: %v", err)
	}
}

// The contract's table of schemes: where each scheme's delivery id and event are.
func TestIdentity(t *testing.T) {
	t.Parallel()
	partner := verify.Options{HMAC: verify.HMACConfig{Header: "x-partner-signature", DeliveryHeader: "X-Partner-Delivery", EventField: "kind"}}
	partnerHeader := verify.Options{HMAC: verify.HMACConfig{Header: "X-Partner-Signature", DeliveryHeader: "X-Partner-Delivery", EventHeader: "x-partner-event"}}
	cases := []struct {
		scheme string
		opts   verify.Options
		want   verify.Identity
	}{
		{"audiospliter", verify.Options{}, verify.Identity{Signature: "X-Audiospliter-Signature", Delivery: verify.Source{Header: "X-Audiospliter-Delivery"}, Event: verify.Source{Field: "event"}}},
		{"standard-webhooks", verify.Options{}, verify.Identity{Signature: "Webhook-Signature", Delivery: verify.Source{Header: "Webhook-Id"}, Event: verify.Source{Field: "type"}}},
		{"github", verify.Options{}, verify.Identity{Signature: "X-Hub-Signature-256", Delivery: verify.Source{Header: "X-Github-Delivery"}, Event: verify.Source{Header: "X-Github-Event"}}},
		{"stripe", verify.Options{}, verify.Identity{Signature: "Stripe-Signature", Delivery: verify.Source{Field: "id"}, Event: verify.Source{Field: "type"}}},
		{"hmac", partner, verify.Identity{Signature: "X-Partner-Signature", Delivery: verify.Source{Header: "X-Partner-Delivery"}, Event: verify.Source{Field: "kind"}}},
		{"hmac", partnerHeader, verify.Identity{Signature: "X-Partner-Signature", Delivery: verify.Source{Header: "X-Partner-Delivery"}, Event: verify.Source{Header: "X-Partner-Event"}}},
	}
	for _, c := range cases {
		secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		if got := mustNew(t, c.scheme, []string{secret}, c.opts).Identity(); got != c.want {
			t.Errorf("%s: Identity() = %+v, want %+v", c.scheme, got, c.want)
		}
	}
}

func TestReason(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		nil:                                 "",
		verify.ErrMissingSignature:          "missing_signature",
		verify.ErrBadSignature:              "bad_signature",
		verify.ErrBadTimestamp:              "bad_timestamp",
		verify.ErrTimestampOutOfTolerance:   "timestamp_out_of_tolerance",
		verify.ErrTooManySignatures:         "too_many_signatures",
		errors.New("from somewhere else"):   "bad_signature",
		verify.ErrInvalidSignature:          "bad_signature",
		errors.Join(verify.ErrBadTimestamp): "bad_timestamp",
	} {
		if got := verify.Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}
