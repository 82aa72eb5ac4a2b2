package natsjs

import (
	"fmt"
	"net/textproto"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// A NATS message's header block counts against the server's max_payload (announced
// in its INFO, again on every reconnect) and the stream's max_msg_size, with the
// body. nats.go refuses a message over max_payload before writing it, but says only
// "maximum payload exceeded", which the bridge must answer 413 (the body) or 400
// (the headers: a jobId or signature far larger than any sender needs): the check
// here decides, by sinks.HeaderSizes.CheckSize, before nats.go is called.
//
// JetStream also refuses a header block over 65535 bytes (maxHeaderBlock, whatever
// max_payload says), with an API error the sink would otherwise retry until the
// publish timeout: that is the headers' fault alone.

// limits are the size limits the sink knows of.
type limits struct {
	maxPayload atomic.Int64 // the connected server's max_payload; 0: unknown
	maxMsgSize atomic.Int64 // the stream's max_msg_size; <= 0: none
}

// noteServer reads the connected server's max_payload (on connect and reconnect,
// from nats.go's callbacks, which hold no lock of its own).
func (l *limits) noteServer(nc *nats.Conn) { l.maxPayload.Store(nc.MaxPayload()) }

// noteStream records the stream's max_msg_size.
func (l *limits) noteStream(cfg jetstream.StreamConfig) { l.maxMsgSize.Store(int64(cfg.MaxMsgSize)) }

// maxHeaderBlock is the largest header block a JetStream stream stores (the server
// refuses one longer than an unsigned 16-bit length, err_code 10097).
const maxHeaderBlock = 1<<16 - 1

// errCodeHeaderExceedsMaximum is that refusal's JetStream error code.
const errCodeHeaderExceedsMaximum jetstream.ErrorCode = 10097

// headerBlock is the size of the "NATS/1.0\r\n" line and the empty line that ends
// the block; each header adds "name: value\r\n", the value trimmed as nats.go
// trims it.
const headerBlock = len("NATS/1.0\r\n") + len("\r\n")

func headerSize(name, value string) int { return len(name) + 2 + len(textproto.TrimString(value)) + 2 }

// checkSize refuses msg before anything is written when its body and headers
// (its own and the two of JetStream the sink adds) are over a limit.
func (s *Sink) checkSize(msg sinks.Message) error {
	own := headerSize(jetstream.MsgIDHeader, msg.ID) + headerSize(jetstream.ExpectedStreamHeader, s.cfg.Stream)
	hs := sinks.MeasureHeaders(msg.Headers, headerBlock, headerSize).Add(own, own)
	if hs.Exact > maxHeaderBlock {
		return fmt.Errorf("natsjs: %w: its headers take %d bytes (%s alone %d); JetStream stores at most %d",
			sinks.ErrInvalid, hs.Exact, hs.Largest, hs.LargestLen, maxHeaderBlock)
	}
	limit, what := s.limits.maxPayload.Load(), "the server's max_payload"
	if m := s.limits.maxMsgSize.Load(); m > 0 && (limit <= 0 || m < limit) {
		limit, what = m, "the stream's max_msg_size"
	}
	if limit <= 0 {
		return nil
	}
	return hs.CheckSize("natsjs", len(msg.Body), int(limit), what)
}
