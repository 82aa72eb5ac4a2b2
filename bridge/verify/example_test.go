package verify_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// A Standard Webhooks delivery, signed and verified with the specification's own
// test vector: it verifies at the time it was signed, and is a replay five
// years later.
func ExampleStandardWebhooks() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	sent := time.Unix(1614265330, 0)

	sig, err := verify.SignStandardWebhooks(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", sent, body)
	if err != nil {
		panic(err)
	}
	fmt.Println(sig)

	s, err := verify.NewStandardWebhooks([]string{"whsec_c2Vjb25kLXNlY3JldC0wMTIzNDU2Nzg5", secret}, 5*time.Minute)
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", sig)
	parts := [][]byte{body[:8], body[8:]} // as the ingress read it
	fmt.Println(s.Verify(h, parts, sent.Add(time.Minute)))
	err = s.Verify(h, parts, sent.AddDate(5, 0, 0))
	fmt.Println(err, verify.Reason(err))
	fmt.Println(s.Identity().Delivery, "/", s.Identity().Event)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// <nil>
	// verify: invalid signature (timestamp_out_of_tolerance) timestamp_out_of_tolerance
	// header Webhook-Id / body field type
}

// Signing with a Signer, as the load tool will for every scheme.
func ExampleSigner() {
	s, err := verify.New("stripe", []string{"whsec_test_secret_0123456789"}, verify.Options{})
	if err != nil {
		panic(err)
	}
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	sent := time.Unix(1700000000, 0)
	h := http.Header{}
	if err := s.(verify.Signer).Sign(h, "whsec_test_secret_0123456789", body, sent); err != nil {
		panic(err)
	}
	fmt.Println(h.Get("Stripe-Signature"))
	fmt.Println(s.Verify(h, [][]byte{body}, sent))
	// Output:
	// t=1700000000,v1=34961433d6d697848f61db0c15fe2a6b181aac357da33cba70ede4be389e9350
	// <nil>
}
