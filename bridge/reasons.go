package bridge

// Reasons name why a webhook was refused, in the log line's "reason" field. They
// are a small fixed set, so an operator can count and alert on them; none of them
// carries anything from the request.
const (
	reasonMethod        = "method"            // not POST
	reasonTooLarge      = "too_large"         // body over BRIDGE_MAX_BODY_BYTES
	reasonReadFailed    = "read_failed"       // the body did not arrive (client gone, read timeout)
	reasonStalledBody   = "stalled_body"      // body read cut: it had lasted a second, the longest, and another request waited
	reasonBodyReadsFull = "body_reads_full"   // no body read ended or could be cut within a second
	reasonNoSignature   = "missing_signature" // no signature header
	reasonBadSignature  = "bad_signature"     // signature matches no secret
	// With a senders file a refused signature may also be one of these, which
	// package verify gives (verify.Reason; TestVerifyReasonsAreListed):
	reasonBadTimestamp      = "bad_timestamp"              // the signed timestamp is absent, repeated, not a number of seconds, or absurd
	reasonOutOfTolerance    = "timestamp_out_of_tolerance" // the signed timestamp is further from now than the sender's tolerance: a replay, or a clock far off
	reasonTooManySignatures = "too_many_signatures"        // the signature header lists more than verify.MaxSignatures entries
	reasonNoDelivery        = "missing_delivery"           // no delivery header
	reasonBadDelivery       = "bad_delivery"               // delivery id outside 1-128 of [A-Za-z0-9._:-]
	reasonNotUTF8           = "not_utf8"                   // body is not valid UTF-8
	reasonInvalidJSON       = "invalid_json"               // body is not JSON
	reasonNotObject         = "not_object"                 // body is JSON but not an object
	reasonMissingEvent      = "missing_event"              // no event, null or ""
	reasonBadEvent          = "bad_event"                  // event not a string, not UTF-8, or with control characters
	reasonBusy              = "busy"                       // BRIDGE_MAX_IN_FLIGHT reached
	reasonClientGone        = "client_gone"                // a joiner's client hung up before the first publish ended
	reasonNotConfirmed      = "not_confirmed"              // no confirm within BRIDGE_PUBLISH_TIMEOUT: a slow broker, or a confirm lost
	reasonUnavailable       = "broker_unavailable"         // no connection to the broker until BRIDGE_PUBLISH_TIMEOUT: a broker down
	reasonBackedUp          = "backed_up"                  // calls into the broker's client past their deadlines fill every slot
	reasonShuttingDown      = "shutting_down"              // the sink is closing, or BRIDGE_SHUTDOWN_TIMEOUT ended
	reasonSinkTooLarge      = "broker_too_large"           // the broker refuses a body this large
	reasonSinkInvalid       = "broker_invalid"             // the event cannot be a routing key or subject, the body has characters the broker does not store, or a header is over the broker's limits
	reasonBrokerRefused     = "broker_refused"             // permission denied, no such exchange, stream or queue: an operator must act
	reasonBrokerRejected    = "broker_rejected"            // the broker refused the message for good for another reason
	reasonPanic             = "internal_error"             // the publish panicked: a bug, logged with its stack
	reasonUnknownPath       = "unknown_path"               // a POST to a path that is not the webhook path (nor a sender's)
	reasonUnroutable        = "unroutable"                 // with a senders file: the broker routed the message to no queue (503)
	// The reasons of a 200, on the requests metric only.
	reasonConfirmed = "confirmed" // the broker confirmed the message
	reasonDuplicate = "duplicate" // answered from the dedup cache or by an earlier publish of the same id
)
