package bridge

import (
	"errors"

	"github.com/audiospliter/audiospliter-bridge/bridge/verify"
)

// ErrInvalidSignature is the only thing a caller learns about a failed
// verification: not which secret, not whether the header was malformed.
var ErrInvalidSignature = errors.New("bridge: invalid signature")

// Verifier checks X-AudioSpliter-Signature: lowercase (or any case) hex of
// HMAC-SHA256 over the raw body, optionally prefixed "sha256=", against every
// configured secret, so a secret can be rotated without downtime. The set of
// secrets can be replaced while requests are verified (SetSecrets): each
// verification uses one whole set, the old or the new.
//
// It is the audiospliter scheme of package verify, which the several senders of
// a senders file share; this type keeps the single sender's API.
type Verifier struct {
	scheme *verify.AudioSpliter
}

// NewVerifier returns a verifier for the given secrets. It panics on an empty list
// or an empty secret: configuration must have refused those already.
func NewVerifier(secrets []string) *Verifier {
	s, err := verify.NewAudioSpliter(secrets)
	if err != nil {
		panic(err.Error())
	}
	return &Verifier{scheme: s}
}

// SetSecrets replaces the set of secrets at once; the next verification uses the
// new set. An empty list or an empty secret is refused and the set is unchanged.
func (v *Verifier) SetSecrets(secrets []string) error {
	return v.scheme.SetSecrets(secrets)
}

// Verify returns nil when header is a valid signature of body under any secret.
// The comparison is constant-time in the signature; every secret is tried, so the
// time taken does not tell which one matched.
func (v *Verifier) Verify(body []byte, header string) error {
	return v.verify(header, body)
}

// verify is Verify over a body that arrived in pieces.
func (v *Verifier) verify(header string, parts ...[]byte) error {
	if v.scheme.VerifyHeader(header, parts) != nil {
		return ErrInvalidSignature
	}
	return nil
}

// Sign returns the signature header value for body under secret. Tests, the load
// tool and examples use it; the bridge itself only verifies.
func Sign(secret string, body []byte) string {
	return verify.SignAudioSpliter(secret, body)
}
