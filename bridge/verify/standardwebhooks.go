package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks' headers (https://www.standardwebhooks.com), canonical.
const (
	StandardWebhooksIDHeader        = "Webhook-Id"
	StandardWebhooksTimestampHeader = "Webhook-Timestamp"
	StandardWebhooksSignatureHeader = "Webhook-Signature"
)

// standardSecretPrefix marks a Standard Webhooks secret; the base64 key follows.
const standardSecretPrefix = "whsec_"

// StandardWebhooks is the scheme of the Standard Webhooks specification (Svix
// and the senders built on it): webhook-signature lists space-separated
// "v1,<base64 HMAC-SHA256>" entries, any of which may match, over
// "<webhook-id>.<webhook-timestamp>.<body>"; entries of other versions (v1a,
// asymmetric) are skipped. The timestamp must be within the tolerance of now,
// either way. The delivery id is webhook-id, the event the body's "type".
type StandardWebhooks struct {
	keys      keyring
	tolerance time.Duration
}

var _ interface {
	Scheme
	Signer
} = (*StandardWebhooks)(nil)

// NewStandardWebhooks returns the scheme with its secrets (SetSecrets) and a
// positive tolerance.
func NewStandardWebhooks(secrets []string, tolerance time.Duration) (*StandardWebhooks, error) {
	if err := checkTolerance(tolerance); err != nil {
		return nil, err
	}
	s := &StandardWebhooks{keys: keyring{newHash: sha256.New}, tolerance: tolerance}
	if err := s.SetSecrets(secrets); err != nil {
		return nil, err
	}
	return s, nil
}

// SetSecrets implements Scheme: each secret is "whsec_" and the key in
// standard base64. The prefix may be left out, as the specification's reference
// libraries allow; a secret that is not base64 after it is refused.
func (s *StandardWebhooks) SetSecrets(secrets []string) error {
	if len(secrets) == 0 {
		return errNoSecret
	}
	keys := make([][]byte, len(secrets))
	for i, sec := range secrets {
		key, err := standardKey(sec)
		if err != nil {
			return secretError(i, len(secrets), err.Error())
		}
		keys[i] = key
	}
	s.keys.store(keys)
	return nil
}

// standardKey decodes a secret; its errors never quote it.
func standardKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, standardSecretPrefix))
	switch {
	case err != nil:
		return nil, errors.New("is not whsec_ followed by a key in standard base64")
	case len(key) == 0:
		return nil, errors.New("has an empty key")
	}
	return key, nil
}

// Verify implements Scheme. Entries are what lies between single spaces, empty
// ones included in MaxSignatures, so that a run of spaces costs no more than
// one scan. The timestamp is checked before the MAC: a replay is refused
// without hashing its body.
func (s *StandardWebhooks) Verify(h http.Header, body [][]byte, now time.Time) error {
	id := first(h, StandardWebhooksIDHeader)
	sig := first(h, StandardWebhooksSignatureHeader)
	if id == "" || sig == "" {
		return ErrMissingSignature
	}
	ts := first(h, StandardWebhooksTimestampHeader)
	t, ok := parseUnix(ts)
	if !ok {
		return ErrBadTimestamp
	}
	if !within(now, t, s.tolerance) {
		return ErrTimestampOutOfTolerance
	}
	var raw [MaxSignatures][sha256.Size]byte
	var wants [MaxSignatures][]byte
	n, entries := 0, 0
	for rest, more := sig, true; more; {
		var entry string
		entry, rest, more = strings.Cut(rest, " ")
		if entries++; entries > MaxSignatures {
			return ErrTooManySignatures
		}
		version, mac, _ := strings.Cut(entry, ",")
		if version == "v1" && decodeBase64(raw[n][:], mac) {
			wants[n] = raw[n][:]
			n++
		}
	}
	if n == 0 || !s.keys.match([]string{id, ts}, body, wants[:n]) {
		return ErrBadSignature
	}
	return nil
}

// Identity implements Scheme.
func (s *StandardWebhooks) Identity() Identity {
	return Identity{
		Signature: StandardWebhooksSignatureHeader,
		Delivery:  Source{Header: StandardWebhooksIDHeader},
		Event:     Source{Field: "type"},
	}
}

// Sign implements Signer: it reads webhook-id from h and sets webhook-timestamp
// and webhook-signature.
func (s *StandardWebhooks) Sign(h http.Header, secret string, body []byte, now time.Time) error {
	id := h.Get(StandardWebhooksIDHeader)
	if id == "" {
		return errors.New("verify: set " + StandardWebhooksIDHeader + " before signing")
	}
	sig, err := SignStandardWebhooks(secret, id, now, body)
	if err != nil {
		return err
	}
	h.Set(StandardWebhooksTimestampHeader, strconv.FormatInt(now.Unix(), 10))
	h.Set(StandardWebhooksSignatureHeader, sig)
	return nil
}

// SignStandardWebhooks returns the webhook-signature value ("v1,<base64>") of
// body sent with id at t, under a whsec_ secret.
func SignStandardWebhooks(secret, id string, t time.Time, body []byte) (string, error) {
	key, err := standardKey(secret)
	if err != nil {
		return "", errors.New("verify: secret " + err.Error())
	}
	mac := sum(sha256.New, key, []string{id, strconv.FormatInt(t.Unix(), 10)}, body)
	return "v1," + base64.StdEncoding.EncodeToString(mac), nil
}
