package verify

import "errors"

// ErrInvalidSignature is all a client may learn about a refused delivery (401
// "invalid signature"): every error Verify returns wraps it.
var ErrInvalidSignature = errors.New("verify: invalid signature")

// Verify's errors, one per reason. They are values, so a refusal allocates
// nothing, and a small closed set, so an operator can count and alert on them.
// None carries anything from the request.
var (
	// ErrMissingSignature: the signature header is absent or empty, or, for
	// Standard Webhooks, the webhook-id it signs.
	ErrMissingSignature = &Error{"missing_signature"}
	// ErrBadSignature: the signature is malformed (wrong length, encoding or
	// prefix, no entry of the scheme's version) or matches no secret. The two
	// are one reason, as they were for the single AudioSpliter sender.
	ErrBadSignature = &Error{"bad_signature"}
	// ErrBadTimestamp: the signed timestamp is absent, repeated, not a decimal
	// number of seconds, or longer than 18 digits.
	ErrBadTimestamp = &Error{"bad_timestamp"}
	// ErrTimestampOutOfTolerance: the timestamp is further from now than the
	// tolerance, in the past (a replay) or in the future.
	ErrTimestampOutOfTolerance = &Error{"timestamp_out_of_tolerance"}
	// ErrTooManySignatures: the signature header lists more than MaxSignatures
	// entries.
	ErrTooManySignatures = &Error{"too_many_signatures"}
)

// Error is one reason for refusing a delivery.
type Error struct{ reason string }

func (e *Error) Error() string { return "verify: invalid signature (" + e.reason + ")" }

// Unwrap makes every reason an ErrInvalidSignature.
func (e *Error) Unwrap() error { return ErrInvalidSignature }

// Reason returns the reason's name for the log, such as "bad_signature".
func (e *Error) Reason() string { return e.reason }

// Reason returns the log reason of an error from Verify, "bad_signature" for an
// error from elsewhere, and "" for nil.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.reason
	}
	return ErrBadSignature.reason
}
