package bridge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrInvalidSignature is the only thing a caller learns about a failed
// verification: not which secret, not whether the header was malformed.
var ErrInvalidSignature = errors.New("bridge: invalid signature")

// Verifier checks X-AudioSpliter-Signature: lowercase (or any case) hex of
// HMAC-SHA256 over the raw body, optionally prefixed "sha256=", against every
// configured secret, so a secret can be rotated without downtime. The set of
// secrets can be replaced while requests are verified (SetSecrets): each
// verification uses one whole set, the old or the new.
type Verifier struct {
	keys atomic.Pointer[keySet]
}

// keySet is one set of secrets, never changed once built.
type keySet struct {
	pools []sync.Pool // one pool of keyed HMACs per secret: hmac.New costs allocations
}

// NewVerifier returns a verifier for the given secrets. It panics on an empty list
// or an empty secret: configuration must have refused those already.
func NewVerifier(secrets []string) *Verifier {
	v := &Verifier{}
	if err := v.SetSecrets(secrets); err != nil {
		panic(err.Error())
	}
	return v
}

// SetSecrets replaces the set of secrets at once; the next verification uses the
// new set. An empty list or an empty secret is refused and the set is unchanged.
func (v *Verifier) SetSecrets(secrets []string) error {
	if len(secrets) == 0 {
		return errors.New("bridge: no webhook secret")
	}
	ks := &keySet{pools: make([]sync.Pool, len(secrets))}
	for i, s := range secrets {
		if s == "" {
			return errors.New("bridge: empty webhook secret")
		}
		key := []byte(s)
		ks.pools[i].New = func() any { return hmac.New(sha256.New, key) }
	}
	v.keys.Store(ks)
	return nil
}

// Verify returns nil when header is a valid signature of body under any secret.
// The comparison is constant-time in the signature; every secret is tried, so the
// time taken does not tell which one matched.
func (v *Verifier) Verify(body []byte, header string) error {
	return v.verify(header, body)
}

// verify is Verify over a body that arrived in pieces.
func (v *Verifier) verify(header string, parts ...[]byte) error {
	header = strings.TrimPrefix(header, "sha256=")
	if len(header) != 2*sha256.Size {
		return ErrInvalidSignature
	}
	var want [sha256.Size]byte
	if _, err := hex.Decode(want[:], []byte(header)); err != nil {
		return ErrInvalidSignature
	}
	var sum [sha256.Size]byte
	ok := false
	ks := v.keys.Load()
	for i := range ks.pools {
		h := ks.pools[i].Get().(hash.Hash)
		h.Reset()
		for _, p := range parts {
			h.Write(p)
		}
		got := h.Sum(sum[:0])
		ks.pools[i].Put(h)
		if hmac.Equal(got, want[:]) {
			ok = true
		}
	}
	if !ok {
		return ErrInvalidSignature
	}
	return nil
}

// Sign returns the signature header value for body under secret. Tests, the load
// tool and examples use it; the bridge itself only verifies.
func Sign(secret string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}
