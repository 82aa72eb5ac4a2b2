package verify_test

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the hmac scheme offers it
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// The fuzz tests check each header parser against an oracle written the plain
// way (strings.Split, strconv): whatever the header, Verify does not panic,
// every refusal is an ErrInvalidSignature, and it accepts exactly what the
// oracle accepts. "{sig}" in a fuzzed header becomes the valid signature, so the
// fuzzer reaches the accepting paths too.

func mac(newHash func() hash.Hash, key []byte, content ...string) []byte {
	h := hmac.New(newHash, key)
	for _, c := range content {
		h.Write([]byte(c))
	}
	return h.Sum(nil)
}

// oracleUnix is the timestamp rule: 1 to 18 decimal digits.
func oracleUnix(s string) (time.Time, bool) {
	if len(s) == 0 || len(s) > 18 || strings.Trim(s, "0123456789") != "" {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return time.Unix(n, 0), err == nil
}

func inTolerance(t time.Time) bool {
	d := today.Sub(t)
	return d <= verify.DefaultTolerance && d >= -verify.DefaultTolerance
}

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if err != nil && (!errors.Is(err, verify.ErrInvalidSignature) || verify.Reason(err) == "") {
		t.Fatalf("refusal %v is not one of the reasons", err)
	}
}

func FuzzStandardWebhooksSignature(f *testing.F) {
	now := strconv.FormatInt(today.Unix(), 10)
	f.Add("msg_1", now, "{sig}", []byte(`{"type":"a"}`))
	f.Add("msg_1", now, "v1a,xyz v1,{sig} v2,{sig}", []byte{})
	f.Add("msg_1", "0"+now, "  v1,{sig}  ", []byte("x"))
	f.Add("msg_1", now, strings.Repeat("v1,{sig} ", 17), []byte("x"))
	f.Add("", now, "v1,{sig}", []byte("x"))
	f.Add("msg_1", "1614265330", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte(`{"test": 2432232314}`))
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secretA, "whsec_"))
	s, err := verify.NewStandardWebhooks([]string{secretB, secretA}, verify.DefaultTolerance)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		valid := base64.StdEncoding.EncodeToString(mac(sha256.New, key, id, ".", ts, ".", string(body)))
		sig = strings.ReplaceAll(sig, "{sig}", valid)
		h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
		err := s.Verify(h, [][]byte{body}, today)
		checkRefusal(t, err)

		at, tsOK := oracleUnix(ts)
		entries := strings.Split(sig, " ")
		want := id != "" && sig != "" && tsOK && inTolerance(at) && len(entries) <= verify.MaxSignatures
		if want {
			want = false
			for _, e := range entries {
				if e == "v1,"+valid {
					want = true
				}
			}
		}
		if (err == nil) != want {
			t.Fatalf("Verify(id %q, ts %q, sig %q) = %v, oracle accepts: %v", id, ts, sig, err, want)
		}
	})
}

func FuzzStripeSignature(f *testing.F) {
	now := strconv.FormatInt(today.Unix(), 10)
	f.Add("t="+now+",v1={sig}", []byte(`{"id":"evt_1"}`))
	f.Add("t="+now+",v1=00,v1={sig},v0=ab", []byte{})
	f.Add("v1={sig},t="+now, []byte("x"))
	f.Add("t="+now+",t="+now+",v1={sig}", []byte("x"))
	f.Add(",,t="+now+",,v1={sig},", []byte("x"))
	f.Add(strings.Repeat(",", 20)+"t="+now+",v1={sig}", []byte("x"))
	f.Add("t="+now+",v1={sig},junk", []byte("x"))
	f.Add("t=1700000000,v1=34961433d6d697848f61db0c15fe2a6b181aac357da33cba70ede4be389e9350", []byte(`{"id":"evt_1","type":"invoice.paid"}`))
	s, err := verify.NewStripe([]string{secretB, secretA}, verify.DefaultTolerance)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		items := strings.Split(header, ",")
		var ts []string
		for _, it := range items {
			if v, ok := strings.CutPrefix(it, "t="); ok {
				ts = append(ts, v)
			}
		}
		if len(ts) > 0 {
			header = strings.ReplaceAll(header, "{sig}", hex.EncodeToString(mac(sha256.New, []byte(secretA), ts[0], ".", string(body))))
			items = strings.Split(header, ",")
		}
		err := s.Verify(http.Header{"Stripe-Signature": {header}}, [][]byte{body}, today)
		checkRefusal(t, err)

		want := len(ts) == 1 && len(items) <= verify.MaxSignatures
		if want {
			at, ok := oracleUnix(ts[0])
			want = ok && inTolerance(at)
		}
		matched := false
		for _, it := range items {
			k, v, ok := strings.Cut(it, "=")
			if !ok && it != "" {
				want = false
			}
			if k == "v1" && len(ts) > 0 && len(v) == 64 && strings.EqualFold(v, hex.EncodeToString(mac(sha256.New, []byte(secretA), ts[0], ".", string(body)))) {
				matched = true
			}
		}
		if want = want && matched; (err == nil) != want {
			t.Fatalf("Verify(%q) = %v, oracle accepts: %v", header, err, want)
		}
	})
}

// FuzzHMACSignature covers the configurable scheme's prefix and encodings, and
// GitHub's header, which is one of its configurations.
func FuzzHMACSignature(f *testing.F) {
	type config struct {
		scheme  verify.Scheme
		header  string
		prefix  string
		newHash func() hash.Hash
		base64  bool
	}
	var configs []config
	for _, c := range []struct {
		cfg     verify.HMACConfig
		newHash func() hash.Hash
	}{
		{verify.HMACConfig{Header: "X-Sig", DeliveryHeader: "D", EventField: "e"}, sha256.New},
		{partnerHMAC, sha512.New},
		{verify.HMACConfig{Header: "X-Sig", Algorithm: "sha1", Prefix: "sha1=", DeliveryHeader: "D", EventField: "e"}, sha1.New},
		{verify.HMACConfig{Header: "X-Sig", Algorithm: "sha256", Encoding: "base64", DeliveryHeader: "D", EventField: "e"}, sha256.New},
	} {
		s, err := verify.NewHMAC(c.cfg, []string{secretB, secretA})
		if err != nil {
			f.Fatal(err)
		}
		configs = append(configs, config{s, c.cfg.Header, c.cfg.Prefix, c.newHash, c.cfg.Encoding == "base64"})
	}
	gh, err := verify.NewGitHub([]string{secretA})
	if err != nil {
		f.Fatal(err)
	}
	configs = append(configs, config{gh, "X-Hub-Signature-256", "sha256=", sha256.New, false})

	for i := range configs {
		f.Add(uint8(i), "{sig}", []byte(`{"e":"a"}`))
		f.Add(uint8(i), configs[i].prefix+"{sig}", []byte{})
		f.Add(uint8(i), configs[i].prefix+configs[i].prefix+"{sig}", []byte("x"))
		f.Add(uint8(i), " "+configs[i].prefix+"{sig}", []byte("x"))
	}
	f.Fuzz(func(t *testing.T, which uint8, header string, body []byte) {
		c := configs[int(which)%len(configs)]
		m := mac(c.newHash, []byte(secretA), string(body))
		encoded := hex.EncodeToString(m)
		if c.base64 {
			encoded = base64.StdEncoding.EncodeToString(m)
		}
		header = strings.ReplaceAll(header, "{sig}", encoded)
		err := c.scheme.Verify(http.Header{http.CanonicalHeaderKey(c.header): {header}}, [][]byte{body}, today)
		checkRefusal(t, err)

		rest, ok := strings.CutPrefix(header, c.prefix)
		want := ok && (rest == encoded || !c.base64 && strings.EqualFold(rest, encoded))
		if (err == nil) != want {
			t.Fatalf("config %d: Verify(%q) = %v, oracle accepts: %v", int(which)%len(configs), header, err, want)
		}
	})
}
