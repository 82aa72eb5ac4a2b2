package verify

import (
	"crypto/sha1" //nolint:gosec // a sender's choice, as an HMAC key; collisions do not forge an HMAC
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// HMACConfig is the generic scheme's settings, named as in a senders file.
type HMACConfig struct {
	Header         string // the signature header; required
	Algorithm      string // "sha256" (default), "sha512" or "sha1"
	Encoding       string // "hex" (default; any case accepted) or "base64" (standard, padded)
	Prefix         string // when set, the header must start with it (matched exactly); stripped before decoding
	DeliveryHeader string // the delivery id's header; required
	EventHeader    string // the event's header, or
	EventField     string // the event's top-level body field: exactly one of the two
}

// The defaults of HMACConfig, and the values it takes.
const (
	DefaultAlgorithm = "sha256"
	DefaultEncoding  = "hex"
	algorithms       = "sha256, sha512, sha1"
	encodings        = "hex, base64"
)

// maxPrefix and maxEventField bound settings that are matched per request.
const (
	maxPrefix     = 64
	maxEventField = 128
)

// hmacSpec is an HMACConfig checked and resolved.
type hmacSpec struct {
	header   string
	newHash  func() hash.Hash
	size     int
	base64   bool
	prefix   string
	identity Identity
}

// resolve checks c; an error is an *OptionError naming the setting.
func (c HMACConfig) resolve() (hmacSpec, error) {
	var sp hmacSpec
	if err := checkHeaderName("hmac.header", c.Header); err != nil {
		return sp, err
	}
	if err := checkHeaderName("hmac.delivery_header", c.DeliveryHeader); err != nil {
		return sp, err
	}
	switch c.Algorithm {
	case "", "sha256":
		sp.newHash, sp.size = sha256.New, sha256.Size
	case "sha512":
		sp.newHash, sp.size = sha512.New, sha512.Size
	case "sha1":
		sp.newHash, sp.size = sha1.New, sha1.Size
	default:
		return sp, &OptionError{"hmac.algorithm", "must be one of " + algorithms}
	}
	switch c.Encoding {
	case "", "hex":
	case "base64":
		sp.base64 = true
	default:
		return sp, &OptionError{"hmac.encoding", "must be one of " + encodings}
	}
	if len(c.Prefix) > maxPrefix || !printableASCII(c.Prefix) {
		return sp, &OptionError{"hmac.prefix", "must be at most 64 printable ASCII characters"}
	}
	sp.header, sp.prefix = http.CanonicalHeaderKey(c.Header), c.Prefix
	sp.identity = Identity{Signature: sp.header, Delivery: Source{Header: http.CanonicalHeaderKey(c.DeliveryHeader)}}
	if sp.identity.Delivery.Header == sp.header {
		return sp, &OptionError{"hmac.delivery_header", "must differ from hmac.header"}
	}
	switch {
	case c.EventHeader != "" && c.EventField != "":
		return sp, &OptionError{"hmac.event_header", "and hmac.event_field exclude each other: set one"}
	case c.EventHeader != "":
		if err := checkHeaderName("hmac.event_header", c.EventHeader); err != nil {
			return sp, err
		}
		sp.identity.Event = Source{Header: http.CanonicalHeaderKey(c.EventHeader)}
	case c.EventField != "":
		if len(c.EventField) > maxEventField || !utf8.ValidString(c.EventField) || strings.ContainsFunc(c.EventField, isControl) {
			return sp, &OptionError{"hmac.event_field", "must be at most 128 bytes of UTF-8 without control characters"}
		}
		sp.identity.Event = Source{Field: c.EventField}
	default:
		return sp, &OptionError{"hmac.event_header", "or hmac.event_field is required"}
	}
	return sp, nil
}

// checkHeaderName accepts a header field name of RFC 9110 (a token).
func checkHeaderName(option, name string) error {
	if name == "" {
		return &OptionError{option, "is required"}
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return &OptionError{option, "must be a header name (letters, digits and !#$%&'*+-.^_`|~)"}
		}
	}
	return nil
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 }

// HMAC is the generic scheme for a sender that signs the body alone: a
// configured header holds the prefix (when one is configured) and the MAC in hex
// or base64. The delivery id is a configured header; the event a configured
// header or top-level body field.
type HMAC struct {
	spec hmacSpec
	keys keyring
}

var _ interface {
	Scheme
	Signer
} = (*HMAC)(nil)

// NewHMAC returns the scheme for cfg with its secrets (SetSecrets). An error in
// cfg is an *OptionError.
func NewHMAC(cfg HMACConfig, secrets []string) (*HMAC, error) {
	sp, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	s := &HMAC{spec: sp, keys: keyring{newHash: sp.newHash}}
	if err := s.SetSecrets(secrets); err != nil {
		return nil, err
	}
	return s, nil
}

// SetSecrets implements Scheme: each secret is the key as written.
func (s *HMAC) SetSecrets(secrets []string) error {
	keys, err := rawKeys(secrets)
	if err != nil {
		return err
	}
	s.keys.store(keys)
	return nil
}

// Verify implements Scheme.
func (s *HMAC) Verify(h http.Header, body [][]byte, _ time.Time) error {
	sig := first(h, s.spec.header)
	if sig == "" {
		return ErrMissingSignature
	}
	mac, ok := strings.CutPrefix(sig, s.spec.prefix)
	if !ok {
		return ErrBadSignature
	}
	var want [maxMAC]byte
	if s.spec.base64 {
		ok = decodeBase64(want[:s.spec.size], mac)
	} else {
		ok = decodeHex(want[:s.spec.size], mac)
	}
	if !ok || !s.keys.match(nil, body, [][]byte{want[:s.spec.size]}) {
		return ErrBadSignature
	}
	return nil
}

// Identity implements Scheme.
func (s *HMAC) Identity() Identity { return s.spec.identity }

// Sign implements Signer.
func (s *HMAC) Sign(h http.Header, secret string, body []byte, _ time.Time) error {
	h.Set(s.spec.header, s.SignValue(secret, body))
	return nil
}

// SignValue returns the signature header's value of body: the prefix and the MAC
// in the configured encoding (lowercase hex).
func (s *HMAC) SignValue(secret string, body []byte) string {
	mac := sum(s.spec.newHash, []byte(secret), nil, body)
	if s.spec.base64 {
		return s.spec.prefix + base64.StdEncoding.EncodeToString(mac)
	}
	return s.spec.prefix + hex.EncodeToString(mac)
}
