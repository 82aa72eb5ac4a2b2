package verify_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// BenchmarkVerify verifies a 1 KiB delivery per scheme, one secret, as
// docs/performance.md reports it next to the single-sender BenchmarkVerify of
// package bridge.
func BenchmarkVerify(b *testing.B) {
	body, err := os.ReadFile("testdata/body-1k.json")
	if err != nil {
		b.Fatal(err)
	}
	parts := [][]byte{body}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			s := mustNew(b, k.scheme, []string{secretA}, k.opts)
			h := signed(b, k, secretA, body, today)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Verify(h, parts, today); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRefuse is the cost of a delivery that fails: a bad signature hashes
// the body like a good one; a replay does not, nor a header of 64 KiB, which
// costs a scan of its bytes at most.
func BenchmarkRefuse(b *testing.B) {
	body, err := os.ReadFile("testdata/body-1k.json")
	if err != nil {
		b.Fatal(err)
	}
	parts := [][]byte{body}
	stripe := mustNew(b, "stripe", []string{secretA}, verify.Options{})
	for _, c := range []struct {
		name string
		h    http.Header
	}{
		{"bad_signature", signed(b, kinds[3], secretB, body, today)},
		{"timestamp_out_of_tolerance", signed(b, kinds[3], secretA, body, today.AddDate(-1, 0, 0))},
		{"too_many_signatures_64KiB", http.Header{"Stripe-Signature": {strings.Repeat("v1=x,", 13<<10)}}},
		{"commas_64KiB", http.Header{"Stripe-Signature": {strings.Repeat(",", 64<<10)}}},
	} {
		b.Run("stripe/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if stripe.Verify(c.h, parts, today) == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
