// Package sinks defines the contract between the bridge and a message broker.
//
// The bridge builds one Message per verified webhook and hands it to exactly one
// Sink. A Sink returns nil from Publish only once its broker has durably accepted the
// message; the bridge answers 200 on nothing less. Sinks classify failures: an error
// that wraps ErrPermanent will fail again if retried, anything else may be retried.
// Sinks never read the environment: their configuration arrives as a struct literal.
package sinks

import (
	"context"
	"errors"
	"time"
)

// Header names every sink carries (docs/contract.md). They are CloudEvents 1.0 binary-mode
// attributes plus the AudioSpliter originals.
const (
	HeaderSpecVersion = "ce-specversion"
	HeaderID          = "ce-id"
	HeaderType        = "ce-type"
	HeaderSource      = "ce-source"
	HeaderTime        = "ce-time"
	HeaderContentType = "content-type"
	HeaderDelivery    = "audiospliter-delivery"
	HeaderEvent       = "audiospliter-event"
	HeaderSignature   = "audiospliter-signature"
	HeaderJobID       = "audiospliter-job-id"
	// HeaderSender names the sender of a bridge with a senders file (its name in
	// the file, as ce-source). SQS leaves it out of a message that already has ten
	// attributes: ce-source carries the same name.
	HeaderSender = "audiospliter-sender"
	// W3C trace context of the bridge's publish, present only while the bridge
	// traces (the CloudEvents distributed-tracing extension uses these names).
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// Message is one verified webhook delivery on its way to a broker.
type Message struct {
	// ID is the message id every sink uses as the broker's (AMQP message_id,
	// Nats-Msg-Id, SQS FIFO MessageDeduplicationId): the delivery id, or with a
	// senders file "<sender>:<delivery id>", so that two senders' deliveries never
	// share one.
	ID string
	// Event is the delivery's event; sinks route by it when Route is empty.
	Event string
	// Sender is the name of the sender in the bridge's senders file, or empty
	// without one. A sink that has a destination of its own for this sender (an
	// exchange, a queue: its Config) publishes there.
	Sender string
	// Route is the routing key (RabbitMQ) or subject suffix (NATS) rendered from
	// the sender's route; empty means the event, as without a senders file.
	Route string
	// JobID is the payload's "jobId", or empty when it has none.
	JobID string
	// Body is the request body, byte for byte as received. Sinks must not modify it.
	Body []byte
	// Headers holds the docs/contract.md headers (names above), ready to copy to the broker.
	Headers []Header
	// Received is when the bridge received the request.
	Received time.Time
	// AWSTraceHeader is the trace context in AWS X-Ray form, set while the bridge
	// traces. SQS carries it as the AWSTraceHeader system attribute, because its
	// ten message attributes are all taken; other sinks use the traceparent header.
	AWSTraceHeader string
}

// RouteKey returns the routing key or subject suffix of msg: its Route, else its
// event.
func (msg *Message) RouteKey() string {
	if msg.Route != "" {
		return msg.Route
	}
	return msg.Event
}

// Header is one name/value pair of Message.Headers. A slice keeps the order stable
// and costs less than a map on the hot path.
type Header struct {
	Name, Value string
}

// Sink publishes messages to one broker.
type Sink interface {
	// Publish returns nil only after the broker has durably accepted msg. It honours
	// ctx and is safe for concurrent use. An error wrapping ErrPermanent must not be
	// retried; after Close it returns an error wrapping ErrClosed.
	Publish(ctx context.Context, msg Message) error
	// Ready returns nil while the sink is connected and able to publish.
	Ready(ctx context.Context) error
	// Close stops new publishes and waits for in-flight ones. It is idempotent.
	Close() error
}

var (
	// ErrPermanent marks a failure that a retry of the same message cannot mend.
	ErrPermanent = errors.New("sinks: permanent failure")
	// ErrClosed is returned by Publish after Close. It is permanent for this sink.
	ErrClosed = permanent("sinks: sink is closed")
	// ErrTooLarge means the message is larger than the broker accepts.
	ErrTooLarge = permanent("sinks: message too large for the broker")
	// ErrInvalid means the broker cannot carry the message as it is, for example an
	// event that cannot be a routing key or subject, or headers over one of the
	// broker's limits (sinks/limits.go). A sink refuses such a message before it
	// writes anything, so that it fails alone.
	ErrInvalid = permanent("sinks: message not acceptable to the broker")
	// ErrInvalidRoute is the ErrInvalid of an event that cannot be this broker's
	// routing key or subject (too long, characters it does not allow).
	ErrInvalidRoute = invalid("sinks: the event cannot be a routing key or subject on this broker")
	// ErrInvalidContent is the ErrInvalid of a body or header with characters the
	// broker does not store (SQS's character set, invalid UTF-8).
	ErrInvalidContent = invalid("sinks: the body or a header has characters the broker does not store")
	// ErrRefused means the broker refused the publish for a reason that holds until
	// an operator changes something: a permission denied, no such exchange, stream
	// or queue. The bridge answers 502 at once and /readyz says broker_refused.
	ErrRefused = permanent("sinks: the broker refused the publish")
	// ErrUnroutable means the broker accepted the message but routed it to no
	// queue (RabbitMQ: no queue bound for its routing key). It is permanent for
	// the publish (a retry now routes no better); an operator binding a queue
	// mends it.
	ErrUnroutable = permanent("sinks: the broker routed the message to no queue")
	// ErrUnavailable means the sink has no connection to the broker right now (it
	// reconnects on its own). It is not permanent: the sender retries.
	ErrUnavailable = errors.New("sinks: the broker is not reachable")
	// ErrBackedUp means the broker is not keeping up: calls into its client that
	// ended at their deadlines are still under way, as many as the sink lets run.
	// It is not permanent: the sender retries.
	ErrBackedUp = errors.New("sinks: the broker is not keeping up")
)

// Permanent wraps err so that errors.Is(result, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

func (e *permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

func permanent(msg string) error { return &permanentError{errors.New(msg)} }

// Classify returns err, reading as it does, as an error of kind too (ErrRefused,
// ErrUnavailable, …): errors.Is finds both, and the text stays the sink's own
// words, without the kind's.
func Classify(err, kind error) error {
	if err == nil {
		return nil
	}
	return &classified{err, kind}
}

type classified struct{ err, kind error }

func (e *classified) Error() string { return e.err.Error() }

func (e *classified) Unwrap() []error { return []error{e.err, e.kind} }

// invalid is a kind of ErrInvalid: errors.Is holds for both.
func invalid(msg string) error { return &invalidError{msg} }

type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func (e *invalidError) Unwrap() error { return ErrInvalid }
