package natsjs

import (
	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// HeaderBlockSize is the size of the header block the sink sends with msg, for
// tests at the edge of max_payload.
func (s *Sink) HeaderBlockSize(msg sinks.Message) int {
	own := headerSize(jetstream.MsgIDHeader, msg.ID) + headerSize(jetstream.ExpectedStreamHeader, s.cfg.Stream)
	return sinks.MeasureHeaders(msg.Headers, headerBlock, headerSize).Exact + own
}
