package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// GitHub's headers, canonical.
const (
	GitHubSignatureHeader = "X-Hub-Signature-256"
	GitHubDeliveryHeader  = "X-Github-Delivery"
	GitHubEventHeader     = "X-Github-Event"
)

// GitHub is the scheme of GitHub webhooks: X-Hub-Signature-256 is "sha256=" and
// the hex HMAC-SHA256 of the body. X-Hub-Signature (HMAC-SHA1) is never read:
// a delivery that has only that one is missing its signature. The delivery id
// and the event are headers.
type GitHub struct {
	keys keyring
}

var _ interface {
	Scheme
	Signer
} = (*GitHub)(nil)

// NewGitHub returns the scheme with its secrets (SetSecrets).
func NewGitHub(secrets []string) (*GitHub, error) {
	s := &GitHub{keys: keyring{newHash: sha256.New}}
	if err := s.SetSecrets(secrets); err != nil {
		return nil, err
	}
	return s, nil
}

// SetSecrets implements Scheme: each secret is the key as written.
func (s *GitHub) SetSecrets(secrets []string) error {
	keys, err := rawKeys(secrets)
	if err != nil {
		return err
	}
	s.keys.store(keys)
	return nil
}

// Verify implements Scheme.
func (s *GitHub) Verify(h http.Header, body [][]byte, _ time.Time) error {
	sig := first(h, GitHubSignatureHeader)
	if sig == "" {
		return ErrMissingSignature
	}
	mac, ok := strings.CutPrefix(sig, "sha256=")
	var want [sha256.Size]byte
	if !ok || !decodeHex(want[:], mac) || !s.keys.match(nil, body, [][]byte{want[:]}) {
		return ErrBadSignature
	}
	return nil
}

// Identity implements Scheme.
func (s *GitHub) Identity() Identity {
	return Identity{
		Signature: GitHubSignatureHeader,
		Delivery:  Source{Header: GitHubDeliveryHeader},
		Event:     Source{Header: GitHubEventHeader},
	}
}

// Sign implements Signer.
func (s *GitHub) Sign(h http.Header, secret string, body []byte, _ time.Time) error {
	h.Set(GitHubSignatureHeader, SignGitHub(secret, body))
	return nil
}

// SignGitHub returns the X-Hub-Signature-256 value of body: "sha256=<hex>".
func SignGitHub(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(sum(sha256.New, []byte(secret), nil, body))
}
