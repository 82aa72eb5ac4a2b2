package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// AudioSpliter's headers (docs/contract.md, the request), canonical.
const (
	AudioSpliterSignatureHeader = "X-Audiospliter-Signature"
	AudioSpliterDeliveryHeader  = "X-Audiospliter-Delivery"
)

// AudioSpliter is the scheme of the bridge's first sender: the header is the hex
// HMAC-SHA256 of the body (any case; a "sha256=" prefix is tolerated). The
// delivery id is a header, the event the body's "event".
type AudioSpliter struct {
	keys keyring
}

var _ interface {
	Scheme
	Signer
} = (*AudioSpliter)(nil)

// NewAudioSpliter returns the scheme with its secrets (SetSecrets).
func NewAudioSpliter(secrets []string) (*AudioSpliter, error) {
	s := &AudioSpliter{keys: keyring{newHash: sha256.New}}
	if err := s.SetSecrets(secrets); err != nil {
		return nil, err
	}
	return s, nil
}

// SetSecrets implements Scheme: each secret is the key as written.
func (s *AudioSpliter) SetSecrets(secrets []string) error {
	keys, err := rawKeys(secrets)
	if err != nil {
		return err
	}
	s.keys.store(keys)
	return nil
}

// Verify implements Scheme.
func (s *AudioSpliter) Verify(h http.Header, body [][]byte, _ time.Time) error {
	return s.VerifyHeader(first(h, AudioSpliterSignatureHeader), body)
}

// VerifyHeader is Verify given the signature header's value: the bridge's
// single-sender ingress reads the header itself.
func (s *AudioSpliter) VerifyHeader(sig string, body [][]byte) error {
	if sig == "" {
		return ErrMissingSignature
	}
	var want [sha256.Size]byte
	if !decodeHex(want[:], strings.TrimPrefix(sig, "sha256=")) {
		return ErrBadSignature
	}
	if !s.keys.match(nil, body, [][]byte{want[:]}) {
		return ErrBadSignature
	}
	return nil
}

// Identity implements Scheme.
func (s *AudioSpliter) Identity() Identity {
	return Identity{
		Signature: AudioSpliterSignatureHeader,
		Delivery:  Source{Header: AudioSpliterDeliveryHeader},
		Event:     Source{Field: "event"},
	}
}

// Sign implements Signer.
func (s *AudioSpliter) Sign(h http.Header, secret string, body []byte, _ time.Time) error {
	h.Set(AudioSpliterSignatureHeader, SignAudioSpliter(secret, body))
	return nil
}

// SignAudioSpliter returns the X-AudioSpliter-Signature value of body: lowercase
// hex, without the prefix.
func SignAudioSpliter(secret string, body []byte) string {
	return hex.EncodeToString(sum(sha256.New, []byte(secret), nil, body))
}
