package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StripeSignatureHeader is Stripe's signature header, canonical.
const StripeSignatureHeader = "Stripe-Signature"

// Stripe is the scheme of Stripe webhooks: Stripe-Signature is
// "t=<unix seconds>,v1=<hex HMAC-SHA256>", with one v1 per secret Stripe signs
// with (several while a secret is rolled) and possibly a v0 (test mode), which
// is skipped. The signed content is "<t>.<body>"; t must be within the
// tolerance of now, either way (Stripe's libraries check the past only: a
// timestamp in the future is no less a replay risk). The delivery id is the
// body's "id", the event its "type".
type Stripe struct {
	keys      keyring
	tolerance time.Duration
}

var _ interface {
	Scheme
	Signer
} = (*Stripe)(nil)

// NewStripe returns the scheme with its secrets (SetSecrets) and a positive
// tolerance.
func NewStripe(secrets []string, tolerance time.Duration) (*Stripe, error) {
	if err := checkTolerance(tolerance); err != nil {
		return nil, err
	}
	s := &Stripe{keys: keyring{newHash: sha256.New}, tolerance: tolerance}
	if err := s.SetSecrets(secrets); err != nil {
		return nil, err
	}
	return s, nil
}

// SetSecrets implements Scheme: each secret is the key as written, "whsec_"
// included (Stripe does not decode it).
func (s *Stripe) SetSecrets(secrets []string) error {
	keys, err := rawKeys(secrets)
	if err != nil {
		return err
	}
	s.keys.store(keys)
	return nil
}

// Verify implements Scheme. Items are "key=value" separated by commas; empty
// ones are skipped but count in MaxSignatures (a run of commas costs no more
// than one scan); one without "=" or a second t makes the header unusable. The
// timestamp is checked before the MAC: a replay is refused without hashing its
// body.
func (s *Stripe) Verify(h http.Header, body [][]byte, now time.Time) error {
	sig := first(h, StripeSignatureHeader)
	if sig == "" {
		return ErrMissingSignature
	}
	var raw [MaxSignatures][sha256.Size]byte
	var wants [MaxSignatures][]byte
	var ts string
	n, items, haveT := 0, 0, false
	for rest, more := sig, true; more; {
		var item string
		item, rest, more = strings.Cut(rest, ",")
		if items++; items > MaxSignatures {
			return ErrTooManySignatures
		}
		if item == "" {
			continue
		}
		key, value, ok := strings.Cut(item, "=")
		switch {
		case !ok:
			return ErrBadSignature
		case key == "t":
			if haveT {
				return ErrBadTimestamp // which one was signed?
			}
			ts, haveT = value, true
		case key == "v1":
			if decodeHex(raw[n][:], value) {
				wants[n] = raw[n][:]
				n++
			}
		}
	}
	t, ok := parseUnix(ts)
	if !ok {
		return ErrBadTimestamp
	}
	if !within(now, t, s.tolerance) {
		return ErrTimestampOutOfTolerance
	}
	if n == 0 || !s.keys.match([]string{ts}, body, wants[:n]) {
		return ErrBadSignature
	}
	return nil
}

// Identity implements Scheme.
func (s *Stripe) Identity() Identity {
	return Identity{
		Signature: StripeSignatureHeader,
		Delivery:  Source{Field: "id"},
		Event:     Source{Field: "type"},
	}
}

// Sign implements Signer.
func (s *Stripe) Sign(h http.Header, secret string, body []byte, now time.Time) error {
	h.Set(StripeSignatureHeader, SignStripe(secret, now, body))
	return nil
}

// SignStripe returns the Stripe-Signature value of body sent at t:
// "t=<unix>,v1=<hex>".
func SignStripe(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(sum(sha256.New, []byte(secret), []string{ts}, body))
}
