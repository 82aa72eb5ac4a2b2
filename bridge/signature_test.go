package bridge_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/bridge"
)

// The vectors were computed independently of this code (see testdata/README).
func TestVerifierVectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/signatures.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Name, Secret, Body, Signature string
			Valid                         bool
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, secrets := range [][]string{{c.Secret}, {"another-secret-0000", c.Secret}, {c.Secret, "another-secret-0000"}} {
				err := bridge.NewVerifier(secrets).Verify([]byte(c.Body), c.Signature)
				if (err == nil) != c.Valid {
					t.Errorf("secrets %d: Verify = %v, want valid=%v", len(secrets), err, c.Valid)
				}
			}
			if err := bridge.NewVerifier([]string{"not-the-secret-000"}).Verify([]byte(c.Body), c.Signature); err == nil {
				t.Error("verified under a secret that did not sign it")
			}
		})
	}
}

func TestVerifierRejectsMalformedHeaders(t *testing.T) {
	t.Parallel()
	v := bridge.NewVerifier([]string{"whsec-test-0123456789abcdef"})
	body := []byte(`{"event":"job.completed"}`)
	good := bridge.Sign("whsec-test-0123456789abcdef", body)
	for _, h := range []string{"", "sha256=", "sha1=" + good, "sha256=sha256=" + good, good + "00", good[:63] + "g", " " + good, "SHA256=" + good} {
		if err := v.Verify(body, h); err == nil {
			t.Errorf("Verify(%q) = nil, want an error", h)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	body, _ := os.ReadFile("testdata/job.completed.json")
	v := bridge.NewVerifier([]string{"whsec-test-0123456789abcdef"})
	sig := bridge.Sign("whsec-test-0123456789abcdef", body)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(body, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleSign() {
	body := []byte(`{"event":"job.completed","jobId":"jé","data":{}}`)
	sig := bridge.Sign("whsec-test-0123456789abcdef", body)
	fmt.Println(sig)
	fmt.Println(bridge.NewVerifier([]string{"old-secret-0123456789", "whsec-test-0123456789abcdef"}).Verify(body, "sha256="+sig))
	// Output:
	// 91aeb85f23ad501f0e5d81ce91160c1f2299063b12f76e5049e78e63c032041a
	// <nil>
}

// FuzzVerify: the signature parser never panics, and accepts exactly the valid
// signature of the body (with or without the sha256= prefix, any hex case).
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"event":"job.completed"}`), "sha256=00")
	f.Add([]byte{}, "790a340977542d7f5f84c34a348cea17da28d682a3b7f0cedc8c42559bc6b616")
	f.Add([]byte("x"), "sha256=sha256=")
	v := bridge.NewVerifier([]string{"whsec-test-0123456789abcdef", "second-secret-0123456789"})
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		err := v.Verify(body, header)
		want := strings.ToLower(strings.TrimPrefix(header, "sha256="))
		valid := want == bridge.Sign("whsec-test-0123456789abcdef", body) || want == bridge.Sign("second-secret-0123456789", body)
		if (err == nil) != valid {
			t.Fatalf("Verify(%q, %q) = %v, valid %v", body, header, err, valid)
		}
	})
}
