package rabbitmq

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// A message's properties, its headers table included, travel in one AMQP content
// header frame. amqp091-go never splits that frame and never checks it against the
// frame_max the broker announced: RabbitMQ answers a frame over frame_max by closing
// the whole connection (FRAME_ERROR), failing every publish that shares it, and the
// sender's retry does it again. A property that does not fit an AMQP short string
// (255 bytes) fails inside amqp091-go after the publish's method frame is already
// buffered, which closes the connection too. So both are checked before anything
// is written, and such a message fails alone with sinks.ErrInvalid.

// AMQP framing (0-9-1 §4.2.3, §4.2.6): a frame is type, channel, payload size,
// payload and an end octet; a content header's payload starts with class id,
// weight, body size and the property flags.
const (
	frameOverhead  = 1 + 2 + 4 + 1
	headerFixed    = 2 + 2 + 8 + 2
	maxShortString = 255
)

// checkProperties returns nil when p's content header frame fits frameMax (the
// negotiated frame_max; 0: no limit) and every short string fits, else an error
// wrapping sinks.ErrInvalid that names the property or header, never its value.
func checkProperties(p amqp.Publishing, frameMax int) error {
	f, err := headerFrame(p)
	if err != nil {
		return err
	}
	if frameMax > 0 && f.size > frameMax {
		return fmt.Errorf("rabbitmq: %w: its headers make a content header frame of %d bytes (%s alone %d), over the broker's frame_max of %d",
			sinks.ErrInvalid, f.size, f.largest, f.largestLen, frameMax)
	}
	return nil
}

// frameSize is what headerFrame learns of a content header frame.
type frameSize struct {
	size       int    // the whole frame, as amqp091-go writes it (write.go, headerFrame)
	largest    string // the header with the longest value
	largestLen int
}

// headerFrame measures the content header frame of p, or says which short string
// is too long.
func headerFrame(p amqp.Publishing) (frameSize, error) {
	size := frameOverhead + headerFixed
	for _, prop := range []struct{ name, value string }{
		{"content_type", p.ContentType}, {"content_encoding", p.ContentEncoding},
		{"correlation_id", p.CorrelationId}, {"reply_to", p.ReplyTo}, {"expiration", p.Expiration},
		{"message_id", p.MessageId}, {"type", p.Type}, {"user_id", p.UserId}, {"app_id", p.AppId},
	} {
		if len(prop.value) > maxShortString {
			return frameSize{}, fmt.Errorf("rabbitmq: %w: the %s property is %d bytes; AMQP allows %d", sinks.ErrInvalid, prop.name, len(prop.value), maxShortString)
		}
		if prop.value != "" {
			size += 1 + len(prop.value)
		}
	}
	if p.DeliveryMode > 0 {
		size++
	}
	if p.Priority > 0 {
		size++
	}
	if !p.Timestamp.IsZero() {
		size += 8
	}
	f := frameSize{}
	if len(p.Headers) > 0 {
		size += 4 // the table's length
		for name, v := range p.Headers {
			if len(name) > maxShortString {
				return frameSize{}, fmt.Errorf("rabbitmq: %w: a header name is %d bytes; AMQP allows %d", sinks.ErrInvalid, len(name), maxShortString)
			}
			s, ok := v.(string)
			if !ok { // the sink puts only strings in the table
				return frameSize{}, fmt.Errorf("rabbitmq: %w: header %s is a %T, not a string", sinks.ErrInvalid, name, v)
			}
			size += 1 + len(name) + 1 + 4 + len(s) // name, type tag, long string
			if len(s) > f.largestLen {
				f.largest, f.largestLen = name, len(s)
			}
		}
	}
	f.size = size
	return f, nil
}
