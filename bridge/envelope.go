package bridge

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// parseEnvelope reads the two fields the bridge needs from the body. It returns a
// non-empty msg, fit for the client, and a fixed reason for the log, when the body
// is not valid UTF-8 or not a JSON object with a non-empty string "event". A jobId
// that is not a plain string is ignored.
//
// UTF-8 comes first: encoding/json accepts invalid bytes inside strings, and a
// broker client (the SQS SDK) would replace them, so the broker would store a body
// other than the one that was signed.
//
// The body is validated and its top level walked in one pass (jsonscan.go):
// json.Unmarshal would validate it and then decode it, two passes over every byte,
// to use two short strings. Keys match exactly (encoding/json would also take
// "EVENT"); the last of repeated keys wins, as in encoding/json.
func parseEnvelope(body []byte) (event, jobID, msg, reason string) {
	if !utf8.Valid(body) {
		return "", "", "body must be valid UTF-8", reasonNotUTF8
	}
	i := skipSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		if end := scanValue(body, i, 0); end < 0 || skipSpace(body, end) != len(body) {
			return "", "", "body must be a JSON object", reasonInvalidJSON
		}
		return "", "", "body must be a JSON object", reasonNotObject
	}
	var rawEvent, rawJob []byte
	if i = skipSpace(body, i+1); i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			keyStart := i
			if i = scanMember(body, i); i < 0 {
				return "", "", "body must be a JSON object", reasonInvalidJSON
			}
			valStart := skipSpace(body, i)
			valEnd := scanValue(body, valStart, 1)
			if valEnd < 0 {
				return "", "", "body must be a JSON object", reasonInvalidJSON
			}
			key := body[keyStart:skipString(body, keyStart)]
			switch {
			case keyIs(key, "event"):
				rawEvent = body[valStart:valEnd]
			case keyIs(key, "jobId"):
				rawJob = body[valStart:valEnd]
			}
			if i = skipSpace(body, valEnd); i < len(body) && body[i] == ',' {
				i = skipSpace(body, i+1)
				continue
			}
			if i >= len(body) || body[i] != '}' {
				return "", "", "body must be a JSON object", reasonInvalidJSON
			}
			i++
			break
		}
	}
	if skipSpace(body, i) != len(body) {
		return "", "", "body must be a JSON object", reasonInvalidJSON
	}
	return finishEnvelope(rawEvent, rawJob)
}

func finishEnvelope(rawEvent, rawJob []byte) (event, jobID, msg, reason string) {
	if len(rawEvent) == 0 || rawEvent[0] == 'n' {
		return "", "", `body must have a string "event"`, reasonMissingEvent
	}
	if rawEvent[0] != '"' {
		return "", "", `"event" must be a string`, reasonBadEvent
	}
	event = decodeString(rawEvent)
	if event == "" {
		return "", "", `"event" must not be empty`, reasonMissingEvent
	}
	if hasControl(event) {
		return "", "", `"event" must not contain control characters`, reasonBadEvent
	}
	if len(rawJob) > 0 && rawJob[0] == '"' {
		if jobID = decodeString(rawJob); hasControl(jobID) {
			jobID = ""
		}
	}
	return event, jobID, "", ""
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
