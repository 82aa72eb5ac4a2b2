package bridge_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/sinks/sinktest"
)

// FuzzIngress drives the whole request path. Whatever arrives, the bridge must not
// panic, never answer 410, answer JSON, and never answer 2xx — nor publish — unless
// the signature is valid for the body under the secret and the body is valid UTF-8.
//
// signIt lets the fuzzer reach the checks behind the signature: when true the test
// signs the body itself, so the invariants below the signature get exercised too.
//
// Each input also goes to every path of a bridge with a senders file (one sender
// per scheme), signed by that sender's scheme when signIt is set (sig is the
// signature header otherwise; the delivery id in its header where the scheme has
// one), with the same invariants under the sender's scheme.
func FuzzIngress(f *testing.F) {
	f.Add("POST", sample, true, "", "d-1")
	f.Add("POST", sample, false, "sha256=00", "d-1")
	f.Add("GET", sample, true, "", "d-1")
	f.Add("POST", []byte(`{"event":""}`), true, "", "d-1")
	f.Add("POST", []byte(`{"event":"a","jobId":{"x":1}}`), true, "", "x:y.z_1-2")
	f.Add("POST", []byte(`[]`), true, "", "d")
	f.Add("POST", []byte(`{"event":"a"}`), true, "", "")
	f.Add("POST", []byte(` {"event":"\u0000"}`), true, "", "d")
	f.Add("POST", []byte("{\"event\":\"job.completed\",\"n\":\"caf\xe9\"}"), true, "", "d-utf8")
	f.Add("POST", []byte("{\"event\":\"\xed\xa0\x80\"}"), true, "", "d-surrogate")
	f.Add("POST", []byte("{\"event\":\"e\xf4\x90\x80\x80\"}"), true, "", "d-beyond-max")
	// What the other schemes read: Stripe's id and type, the hmac sender's kind.
	f.Add("POST", []byte(`{"id":"evt_1","type":"invoice.paid","kind":"order.created","event":"e"}`), true, "", "msg_1")
	f.Add("POST", []byte(`{"id":7,"type":"x"}`), true, "", "msg_2")

	sink := sinktest.NewMemory()
	b, err := bridge.New(bridge.Config{
		Secrets:        []string{secret},
		MaxBodyBytes:   1 << 16,
		PublishTimeout: time.Second,
		DedupTTL:       time.Minute,
		Sink:           sink,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	verifier := bridge.NewVerifier([]string{secret})
	five := bridgetest.FiveSenders()
	multiSink := sinktest.NewMemory()
	multi, err := bridge.New(bridge.Config{
		Senders: func() (out []bridge.Sender) {
			for i := range five {
				out = append(out, five[i].Bridge())
			}
			return out
		}(),
		MaxBodyBytes:   1 << 16,
		PublishTimeout: time.Second,
		DedupTTL:       time.Minute,
		Sink:           multiSink,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, method string, body []byte, signIt bool, sig, delivery string) {
		if signIt {
			sig = bridge.Sign(secret, body)
		}
		req, err := http.NewRequest(method, "/webhooks", bytes.NewReader(body))
		if err != nil {
			return // not a request net/http would deliver
		}
		req.Header.Set(bridge.SignatureHeader, sig)
		req.Header.Set(bridge.DeliveryHeader, delivery)
		before := sink.Calls()
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, req)

		status := rec.Code
		if status == http.StatusGone {
			t.Fatal("410 tells senders to disable the endpoint")
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body.Bytes())
		}
		valid := verifier.Verify(body, sig) == nil
		if status/100 == 2 && !valid {
			t.Fatalf("answered %d without a valid signature", status)
		}
		if sink.Calls() != before && !valid {
			t.Fatal("published without a valid signature")
		}
		if status == http.StatusOK {
			if !utf8.Valid(body) {
				t.Fatal("200 for a body that is not valid UTF-8")
			}
			var env struct{ Event any }
			if json.Unmarshal(body, &env) != nil {
				t.Fatal("200 for a body that is not JSON")
			}
			if s, ok := env.Event.(string); !ok || s == "" {
				t.Fatalf("200 for an event %v", env.Event)
			}
		}

		for i := range five {
			fuzzSender(t, multi, multiSink, five[i].Bridge(), five[i].Secret, method, body, signIt, sig, delivery)
		}
	})
}

// fuzzSender is FuzzIngress's round on one sender's path.
func fuzzSender(t *testing.T, b *bridge.Bridge, sink *sinktest.Memory, s bridge.Sender, secret, method string, body []byte, signIt bool, sig, delivery string) {
	id := s.Scheme.Identity()
	now := time.Now()
	h := http.Header{}
	if id.Delivery.Header != "" {
		h.Set(id.Delivery.Header, delivery)
	}
	if id.Event.Header != "" {
		h.Set(id.Event.Header, "fuzz.event")
	}
	h.Set(id.Signature, sig)
	if signIt {
		_ = s.Scheme.(verify.Signer).Sign(h, secret, body, now) // a Standard Webhooks id "" cannot be signed: sig stays
	}
	req, err := http.NewRequest(method, s.Path, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header = h
	before := sink.Calls()
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	status := rec.Code
	if status == http.StatusGone {
		t.Fatalf("%s: 410 tells senders to disable the endpoint", s.Name)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s: answer is not JSON: %q", s.Name, rec.Body.Bytes())
	}
	valid := s.Scheme.Verify(h, [][]byte{body}, now) == nil
	if status/100 == 2 && !valid {
		t.Fatalf("%s: answered %d without a valid signature", s.Name, status)
	}
	if sink.Calls() != before && !valid {
		t.Fatalf("%s: published without a valid signature", s.Name)
	}
	if status != http.StatusOK {
		return
	}
	var m map[string]any
	if !utf8.Valid(body) || json.Unmarshal(body, &m) != nil || m == nil {
		t.Fatalf("%s: 200 for a body that is not a JSON object in UTF-8", s.Name)
	}
	if f := id.Event.Field; f != "" {
		if ev, ok := m[f].(string); !ok || ev == "" {
			t.Fatalf("%s: 200 for an event %v", s.Name, m[f])
		}
	}
	if f := id.Delivery.Field; f != "" {
		if d, ok := m[f].(string); !ok || d == "" {
			t.Fatalf("%s: 200 for a delivery id %v", s.Name, m[f])
		}
	}
}
