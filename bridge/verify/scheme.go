package verify

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Names of the schemes, as a senders file spells them (the senders section of the contract).
const (
	SchemeAudioSpliter     = "audiospliter"
	SchemeStandardWebhooks = "standard-webhooks"
	SchemeGitHub           = "github"
	SchemeStripe           = "stripe"
	SchemeHMAC             = "hmac"
)

// Schemes lists every scheme name, in the order of the contract's table.
func Schemes() []string {
	return []string{SchemeAudioSpliter, SchemeStandardWebhooks, SchemeGitHub, SchemeStripe, SchemeHMAC}
}

// Timestamped reports whether the scheme signs a timestamp, and so takes a
// tolerance: a captured delivery cannot be replayed outside it.
func Timestamped(scheme string) bool {
	return scheme == SchemeStandardWebhooks || scheme == SchemeStripe
}

// DefaultTolerance is how far a signed timestamp may be from now, either way,
// when a timestamped scheme is given none: the value Stripe's and Standard
// Webhooks' own libraries use.
const DefaultTolerance = 5 * time.Minute

// Scheme verifies the deliveries of one sender. It is safe for concurrent use,
// SetSecrets included.
type Scheme interface {
	// Verify returns nil when the request's headers and its body, as it arrived
	// (in pieces, in order), carry a valid signature under any secret of the
	// current set, with a timestamp (for the schemes that sign one) within the
	// tolerance of now. Otherwise it returns one of the Err* values of this
	// package: errors.Is(err, ErrInvalidSignature) holds for all of them, and
	// Reason(err) names the cause for the log. It reads only the headers it needs,
	// never parses the body, and does not allocate.
	Verify(h http.Header, body [][]byte, now time.Time) error

	// SetSecrets replaces the set of secrets at once, as written in the secret
	// file: the next Verify uses the new set, one already running the old one. An
	// empty list, an empty secret or one the scheme cannot use (a Standard
	// Webhooks secret that is not base64) is refused, and the set is unchanged.
	// The error never contains a secret.
	SetSecrets(secrets []string) error

	// Identity says where a verified delivery carries its delivery id and event,
	// and which header is its signature (forwarded as audiospliter-signature).
	Identity() Identity
}

// Signer is the sending side of a scheme, for tests and the load tool: Sign sets
// on h the headers that Verify checks, for body signed with secret at now. A
// scheme that signs its delivery id (Standard Webhooks) reads it from h, where
// the caller has set it.
type Signer interface {
	Sign(h http.Header, secret string, body []byte, now time.Time) error
}

// Identity describes a scheme's deliveries to the ingress, which reads headers
// and walks the body's top level once: it takes each Source from the header or
// from the top-level string field it names.
type Identity struct {
	Signature string // canonical name of the signature header
	Delivery  Source // the delivery id, the idempotency key
	Event     Source // the event, for routing
}

// Source is where one value of a delivery comes from: a header or a top-level
// string field of the JSON body. Exactly one of the two is set.
type Source struct {
	Header string // canonical header name (http.CanonicalHeaderKey)
	Field  string // top-level field of the JSON object body, matched exactly
}

func (s Source) String() string {
	if s.Header != "" {
		return "header " + s.Header
	}
	return "body field " + s.Field
}

// Options are the settings a scheme may take besides its secrets.
type Options struct {
	// Tolerance applies to the timestamped schemes only (Timestamped); zero
	// means DefaultTolerance.
	Tolerance time.Duration
	// HMAC configures scheme hmac, and only it.
	HMAC HMACConfig
}

// OptionError is a setting a scheme cannot take. Option is spelled as in a
// senders file ("tolerance", "hmac", "hmac.algorithm"), so the configuration can
// name the field.
type OptionError struct {
	Option  string
	Problem string
}

func (e *OptionError) Error() string { return "verify: " + e.Option + ": " + e.Problem }

// CheckOptions returns an *OptionError when scheme cannot take opts, or an error
// when scheme is not one of Schemes. It reads no secret, so a configuration can
// be checked before its secret files are.
func CheckOptions(scheme string, opts Options) error {
	if !slices.Contains(Schemes(), scheme) {
		return fmt.Errorf("verify: unknown scheme %q", scheme)
	}
	switch {
	case opts.Tolerance < 0:
		return &OptionError{"tolerance", "must be positive"}
	case opts.Tolerance != 0 && !Timestamped(scheme):
		return &OptionError{"tolerance", "applies only to " + SchemeStandardWebhooks + " and " + SchemeStripe}
	}
	if scheme != SchemeHMAC {
		if opts.HMAC != (HMACConfig{}) {
			return &OptionError{"hmac", "applies only to scheme " + SchemeHMAC}
		}
		return nil
	}
	_, err := opts.HMAC.resolve()
	return err
}

// New returns the scheme of that name with its secrets.
func New(scheme string, secrets []string, opts Options) (Scheme, error) {
	if err := CheckOptions(scheme, opts); err != nil {
		return nil, err
	}
	tol := opts.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	switch scheme {
	case SchemeAudioSpliter:
		return asScheme(NewAudioSpliter(secrets))
	case SchemeStandardWebhooks:
		return asScheme(NewStandardWebhooks(secrets, tol))
	case SchemeGitHub:
		return asScheme(NewGitHub(secrets))
	case SchemeStripe:
		return asScheme(NewStripe(secrets, tol))
	default:
		return asScheme(NewHMAC(opts.HMAC, secrets))
	}
}

// asScheme keeps a failed constructor's nil pointer out of the interface: a nil
// *Stripe in a Scheme is not a nil Scheme.
func asScheme[S Scheme](s S, err error) (Scheme, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// checkTolerance guards the constructors called directly; New has checked.
func checkTolerance(tol time.Duration) error {
	if tol <= 0 {
		return errors.New("verify: tolerance must be positive")
	}
	return nil
}

// first is h.Get for a canonical key: it skips the canonicalisation, which would
// allocate for a key written otherwise.
func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
