package verify

import (
	"encoding/base64"
	"time"
)

// MaxSignatures bounds the entries of a signature header that lists several
// (Standard Webhooks, Stripe). A sender lists one per secret it signs with —
// two while it rotates — and Standard Webhooks may add as many asymmetric (v1a)
// ones, Stripe a t= and a v0=: 16 is several times what any sender sends. Empty
// entries count too. Past it the delivery is refused (too_many_signatures)
// without reading further, so a header costs at most 17 steps of a scan of its
// bytes and 16 comparisons per secret, however many thousands of entries (or
// separators) were sent.
const MaxSignatures = 16

// maxTimestampDigits keeps a timestamp within int64 while parsing: a Unix time
// in seconds has 10 digits until the year 2286, and more than 18 is only an
// attempt to overflow.
const maxTimestampDigits = 18

// parseUnix parses a timestamp of Unix seconds: 1 to 18 decimal digits, no sign,
// no space. It stops at the 19th byte, so a long header costs nothing more.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTimestampDigits {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// within reports whether the Unix time t is at most tol from now, either way.
// Time.Sub saturates, so an absurd t is simply far.
func within(now time.Time, t int64, tol time.Duration) bool {
	d := now.Sub(time.Unix(t, 0))
	return d <= tol && d >= -tol
}

// decodeHex decodes s, of any case, into dst, which it must fill exactly.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// b64 is standard, padded base64. Strict refuses non-zero padding bits, so one
// MAC has one encoding, as for the senders that compare encoded strings.
var b64 = base64.StdEncoding.Strict()

// decodeBase64 decodes s into dst, which it must fill exactly.
func decodeBase64(dst []byte, s string) bool {
	if len(s) != b64.EncodedLen(len(dst)) {
		return false
	}
	// Copies on the stack: decoding from []byte(s), or straight into dst (which
	// Decode may overrun by up to two bytes), would allocate or panic.
	var in [(maxMAC + 2) / 3 * 4]byte
	var out [maxMAC + 3]byte
	n := copy(in[:], s)
	m, err := b64.Decode(out[:], in[:n])
	if err != nil || m != len(dst) {
		return false
	}
	copy(dst, out[:m])
	return true
}
