package bridge

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// envelope names the top-level fields of the body the bridge reads, besides
// jobId: the event's, and the delivery id's for a scheme that carries it in the
// body (Stripe's "id"). An empty name means that value comes from a header.
type envelope struct{ event, delivery string }

// audiospliterEnvelope is the single sender's: the event in "event", the
// delivery id in a header.
var audiospliterEnvelope = envelope{event: "event"}

// parsed is what parseEnvelope read from a body.
type parsed struct{ event, delivery, jobID string }

// parseEnvelope reads the fields env names, and jobId, from the body. It returns a
// non-empty msg, fit for the client, and a fixed reason for the log, when the body
// is not valid UTF-8 or not a JSON object, when a delivery id env names is not a
// valid one, or when the event env names is not a non-empty string. A jobId that
// is not a plain string is ignored.
//
// UTF-8 comes first: encoding/json accepts invalid bytes inside strings, and a
// broker client (the SQS SDK) would replace them, so the broker would store a body
// other than the one that was signed.
//
// The body is validated and its top level walked in one pass (jsonscan.go):
// json.Unmarshal would validate it and then decode it, two passes over every byte,
// to use a few short strings. Keys match exactly (encoding/json would also take
// "EVENT"); the last of repeated keys wins, as in encoding/json.
func parseEnvelope(body []byte, env envelope) (p parsed, msg, reason string) {
	if !utf8.Valid(body) {
		return p, "body must be valid UTF-8", reasonNotUTF8
	}
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		if end := scanValue(body, i, 0); end < 0 || skipSpace(body, end) != len(body) {
			return p, "body must be a JSON object", reasonInvalidJSON
		}
		return p, "body must be a JSON object", reasonNotObject
	}
	var rawEvent, rawJob, rawDelivery []byte
	if i = skipSpace(body, i+1); i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			keyStart := i
			if i = scanMember(body, i); i < 0 {
				return p, "body must be a JSON object", reasonInvalidJSON
			}
			valStart := skipSpace(body, i)
			valEnd := scanValue(body, valStart, 1)
			if valEnd < 0 {
				return p, "body must be a JSON object", reasonInvalidJSON
			}
			key := body[keyStart:skipString(body, keyStart)]
			// Each name on its own: a configured event field may be "jobId" or "id".
			if env.event != "" && keyIs(key, env.event) {
				rawEvent = body[valStart:valEnd]
			}
			if keyIs(key, "jobId") {
				rawJob = body[valStart:valEnd]
			}
			if env.delivery != "" && keyIs(key, env.delivery) {
				rawDelivery = body[valStart:valEnd]
			}
			if i = skipSpace(body, valEnd); i < len(body) && body[i] == ',' {
				i = skipSpace(body, i+1)
				continue
			}
			if i >= len(body) || body[i] != '}' {
				return p, "body must be a JSON object", reasonInvalidJSON
			}
			i++
			break
		}
	}
	if skipSpace(body, i) != len(body) {
		return p, "body must be a JSON object", reasonInvalidJSON
	}
	return finishEnvelope(env, rawEvent, rawJob, rawDelivery)
}

// finishEnvelope checks and decodes the raw values: the delivery id first (the
// contract's order: delivery, then event), then the event, then jobId.
func finishEnvelope(env envelope, rawEvent, rawJob, rawDelivery []byte) (p parsed, msg, reason string) {
	if env.delivery != "" {
		if len(rawDelivery) == 0 || rawDelivery[0] == 'n' {
			return p, `body must have a string "` + env.delivery + `" (the delivery id)`, reasonNoDelivery
		}
		if rawDelivery[0] == '"' {
			p.delivery = decodeString(rawDelivery)
		}
		if !validDeliveryID(p.delivery) {
			return parsed{}, `"` + env.delivery + `" (the delivery id) must be a string of 1-128 characters of A-Z a-z 0-9 . _ : -`, reasonBadDelivery
		}
	}
	if env.event != "" {
		if len(rawEvent) == 0 || rawEvent[0] == 'n' {
			return parsed{}, eventMissing(env.event), reasonMissingEvent
		}
		if rawEvent[0] != '"' {
			return parsed{}, `"` + env.event + `" must be a string`, reasonBadEvent
		}
		p.event = decodeString(rawEvent)
		if p.event == "" {
			return parsed{}, `"` + env.event + `" must not be empty`, reasonMissingEvent
		}
		if hasControl(p.event) {
			return parsed{}, `"` + env.event + `" must not contain control characters`, reasonBadEvent
		}
	}
	if len(rawJob) > 0 && rawJob[0] == '"' {
		if p.jobID = decodeString(rawJob); hasControl(p.jobID) {
			p.jobID = ""
		}
	}
	return p, "", ""
}

func eventMissing(field string) string {
	if field == "event" {
		return `body must have a string "event"`
	}
	return `body must have a string "` + field + `" (the event)`
}

// keyIs compares a raw (quoted) key with name; an escaped key is decoded first.
func keyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return len(raw) == len(name)+2 && string(raw[1:len(raw)-1]) == name
	}
	return decodeString(raw) == name
}

// decodeString decodes a valid JSON string literal as encoding/json does, invalid
// UTF-8 becoming U+FFFD.
func decodeString(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s) // raw is valid: json.Valid passed
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}
