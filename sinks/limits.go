package sinks

import "fmt"

// A message travels with headers whose values partly come from the sender: the
// jobId, the signature header as received, the event (in ce-type), the caller's
// tracestate. Every broker bounds what headers may hold, and some count them against
// the message's size. A sink checks its broker's limits before it writes anything,
// so that such a message fails its own request (ErrInvalid, 400) and never the
// connection or batch other publishes share.
//
// When headers and body together exceed a size limit, the blame is decided once,
// here, for every sink: the body is too large (ErrTooLarge, 413) when it would not
// fit even with ordinary headers; otherwise the headers are (ErrInvalid, 400).

// OrdinaryHeaderValue is the longest header value that counts as ordinary when a
// message is over a size limit: it holds any event, jobId, signature or W3C
// tracestate (of which 512 characters are what propagators must keep) a sender
// usually sends.
const OrdinaryHeaderValue = 512

// HeaderSizes is what a broker's encoding makes of a message's headers.
type HeaderSizes struct {
	// Exact is the headers' encoded size.
	Exact int
	// Ordinary is their size were every value cut to OrdinaryHeaderValue bytes.
	Ordinary int
	// Largest names the header with the longest value, and LargestLen is its
	// length: what an error points at (never the value itself).
	Largest    string
	LargestLen int
}

// MeasureHeaders sums size(name, value) over headers, as they are and with every
// value cut to OrdinaryHeaderValue bytes. fixed is the encoding's own overhead,
// counted once in both.
func MeasureHeaders(headers []Header, fixed int, size func(name, value string) int) HeaderSizes {
	hs := HeaderSizes{Exact: fixed, Ordinary: fixed}
	for _, h := range headers {
		hs.Exact += size(h.Name, h.Value)
		v := h.Value
		if len(v) > OrdinaryHeaderValue {
			v = v[:OrdinaryHeaderValue]
		}
		hs.Ordinary += size(h.Name, v)
		if len(h.Value) > hs.LargestLen {
			hs.Largest, hs.LargestLen = h.Name, len(h.Value)
		}
	}
	return hs
}

// Add counts n more bytes of headers that are not in Message.Headers (a broker's
// own, such as Nats-Msg-Id), of which ordinary is their ordinary size.
func (hs HeaderSizes) Add(n, ordinary int) HeaderSizes {
	hs.Exact += n
	hs.Ordinary += ordinary
	return hs
}

// CheckSize returns nil when a body of body bytes with these headers fits limit.
// Otherwise it returns ErrTooLarge when the body would not fit even with ordinary
// headers, and ErrInvalid, naming the largest header, when the headers are to
// blame. who prefixes the error (the sink's name); limit names what was exceeded.
func (hs HeaderSizes) CheckSize(who string, body, limit int, what string) error {
	if body+hs.Exact <= limit {
		return nil
	}
	if body+hs.Ordinary > limit {
		return fmt.Errorf("%s: %w: a body of %d bytes with %d bytes of headers is over %s of %d bytes",
			who, ErrTooLarge, body, hs.Exact, what, limit)
	}
	return fmt.Errorf("%s: %w: its headers take %d bytes (%s alone %d), which leaves no room for the body of %d bytes under %s of %d bytes",
		who, ErrInvalid, hs.Exact, hs.Largest, hs.LargestLen, body, what, limit)
}
