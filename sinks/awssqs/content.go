package awssqs

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// What SQS can carry as it is. A body or attribute outside this set is either
// refused by SQS or, worse, silently changed on the way (the SDK's JSON encoder turns
// invalid UTF-8 into U+FFFD), so that the stored message no longer matches its
// signature. Such a message is refused here, before any call, so that it fails
// alone and never takes a batch down with it.

// sqsChar reports whether SQS accepts r in a message body or attribute value:
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func sqsChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return true
	case r >= 0x20 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// checkText returns nil when SQS stores s byte for byte, else why not. what names
// the part (body, an attribute) for the error; the content itself is never quoted.
func checkText[T string | []byte](what string, s T) error {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf { // ASCII, most of every body: no decoding
			if c < 0x20 && c != 0x9 && c != 0xA && c != 0xD {
				return badChar(what, rune(c), i)
			}
			i++
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("awssqs: %w: %s is not valid UTF-8 (byte %d)", sinks.ErrInvalidContent, what, i)
		}
		if !sqsChar(r) {
			return badChar(what, r, i)
		}
		i += size
	}
	return nil
}

func decodeRune[T string | []byte](s T) (rune, int) {
	var buf [utf8.UTFMax]byte
	n := copy(buf[:], s)
	return utf8.DecodeRune(buf[:n])
}

func badChar(what string, r rune, at int) error {
	return fmt.Errorf("awssqs: %w: %s has character %U at byte %d, which SQS does not accept", sinks.ErrInvalidContent, what, r, at)
}

// maxAttributes is how many message attributes SQS takes on one message.
const maxAttributes = 10

// isAttribute reports whether header h travels as a message attribute: SQS refuses
// empty values, and the trace context goes as the AWSTraceHeader system attribute
// (the ten attributes are taken).
func isAttribute(h sinks.Header) bool {
	return h.Value != "" && h.Name != sinks.HeaderTraceParent && h.Name != sinks.HeaderTraceState
}

// attributes tells which headers of one message travel as message attributes:
// those isAttribute takes, less audiospliter-sender when the others already make
// SQS's ten (ce-source carries the same name).
type attributes struct{ dropSender bool }

func attributesOf(headers []sinks.Header) attributes {
	n := 0
	for _, h := range headers {
		if isAttribute(h) && h.Name != sinks.HeaderSender {
			n++
		}
	}
	return attributes{dropSender: n >= maxAttributes}
}

func (a attributes) has(h sinks.Header) bool {
	return isAttribute(h) && !(a.dropSender && h.Name == sinks.HeaderSender)
}

// size is what header name: value counts toward the message's size as a String
// attribute (its name, data type and value), 0 when it is not sent as one.
func (a attributes) size(name, value string) int {
	if !a.has(sinks.Header{Name: name, Value: value}) {
		return 0
	}
	return len(name) + len("String") + len(value)
}

// checkMessage checks what SQS would refuse or change in msg, whose queue is a FIFO
// queue when fifo is set: the body, the attributes (how many, their names, their
// values) and the deduplication id. Sizes are checked by the caller.
func checkMessage(msg sinks.Message, fifo bool) error {
	if err := checkText("body", msg.Body); err != nil {
		return err
	}
	a := attributesOf(msg.Headers)
	n := 0
	for _, h := range msg.Headers {
		if !a.has(h) {
			continue
		}
		if n++; n > maxAttributes {
			return fmt.Errorf("awssqs: %w: more than %d message attributes", sinks.ErrInvalid, maxAttributes)
		}
		if err := checkAttributeName(h.Name); err != nil {
			return err
		}
		if checkText("", h.Value) != nil {
			return checkText("attribute "+h.Name, h.Value) // named only when it fails
		}
	}
	// A delivery id is 1-128 of [A-Za-z0-9._:-], which SQS takes, and a longer
	// message id ("<sender>:<delivery id>") is hashed (dedupID); the check keeps
	// the rule next to the others should ids ever be made otherwise.
	if fifo && !validGroupID(dedupID(msg.ID)) {
		return fmt.Errorf("awssqs: %w: the message id is not 1-128 ASCII letters, digits or punctuation, as SQS wants a MessageDeduplicationId", sinks.ErrInvalid)
	}
	return nil
}

// checkAttributeName applies SQS's rules for a message attribute name: up to 256
// characters of letters, digits, '-', '_' and '.', no '.' first, last or twice in a
// row, not starting with AWS. or Amazon. (any case).
func checkAttributeName(name string) error {
	bad := len(name) == 0 || len(name) > 256 || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..")
	for i := 0; i < len(name) && !bad; i++ {
		c := name[i]
		bad = !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.')
	}
	lower := strings.ToLower(name)
	if bad || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		return fmt.Errorf("awssqs: %w: %q is not a name SQS takes for a message attribute", sinks.ErrInvalid, name)
	}
	return nil
}

// groupID maps a jobId (or event) to a FIFO MessageGroupId. SQS takes 1 to 128
// characters of ASCII letters, digits and punctuation; anything else becomes "h-"
// and the first 32 hex digits of its SHA-256, so that the same job always lands in
// the same group and its order is kept.
func groupID(s string) string {
	if validGroupID(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h-" + hex.EncodeToString(sum[:16])
}

// dedupID maps a message id to a FIFO MessageDeduplicationId. SQS takes at most
// 128 characters; a longer id (a sender's name, ':' and a delivery id of up to 128
// characters) becomes "h-" and the 64 hex digits of its SHA-256: the same id
// always maps to the same key, and two ids to two keys.
func dedupID(id string) string {
	if len(id) <= 128 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "h-" + hex.EncodeToString(sum[:])
}

func validGroupID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '!' || s[i] > '~' { // printable ASCII without the space
			return false
		}
	}
	return true
}

// md5Hex is the digest SQS returns as MD5OfMessageBody.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// md5OfAttributes is the digest SQS returns as MD5OfMessageAttributes: over the
// attributes sorted by name, each as length-prefixed name, length-prefixed data
// type, transport type 1 (string) and length-prefixed value. Empty without
// attributes. Only String attributes are sent by this sink.
func md5OfAttributes(attrs map[string]types.MessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	var n [4]byte
	put := func(s string) {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, name := range names {
		v := attrs[name]
		put(name)
		put(aws.ToString(v.DataType))
		h.Write([]byte{1})
		put(aws.ToString(v.StringValue))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// verifyStored compares what SQS says it stored with what was sent. A mismatch
// means the stored message is not the signed one: that entry is not confirmed.
// A digest the server left out is not checked (SQS always sends both; the SDK's
// own check skips them too).
func verifyStored(e types.SendMessageBatchRequestEntry, md5Body, md5Attrs *string) error {
	if got, want := aws.ToString(md5Body), md5Hex(aws.ToString(e.MessageBody)); md5Body != nil && got != want {
		return fmt.Errorf("awssqs: SQS stored a different body than was sent (MD5 %q, want %s)", got, want)
	}
	if want := md5OfAttributes(e.MessageAttributes); md5Attrs != nil && aws.ToString(md5Attrs) != want {
		return fmt.Errorf("awssqs: SQS stored different attributes than were sent (MD5 %q, want %s)", aws.ToString(md5Attrs), want)
	}
	return nil
}
