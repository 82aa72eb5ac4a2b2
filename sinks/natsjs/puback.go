package natsjs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A JetStream publish is a NATS request whose reply is the PubAck, JSON. The
// jetstream package decodes it with encoding/json (reflection: a tenth of the
// bridge's CPU per webhook) and retries "no responders" twice after 250 ms. The
// sink sends the request itself and reads the one answer it needs: an error, or a
// PubAck from the expected stream, duplicate or not. The server writes the PubAck
// from a struct (encoding/json), so its form is fixed; anything else takes the slow
// path, which decodes it as the jetstream package does.

// pubAck is what a publish learned from the server.
type pubAck struct {
	duplicate bool
	seq       []byte // the sequence as the server wrote it, for the debug log
}

var (
	ackStream    = []byte(`{"stream":"`)
	ackDuplicate = []byte(`"duplicate":true`)
	ackError     = []byte(`"error"`)
	ackSeq       = []byte(`"seq":`)
)

// publishMsg sends m, which carries Nats-Msg-Id and Nats-Expected-Stream, and waits
// for its PubAck within ctx.
func (s *Sink) publishMsg(ctx context.Context, m *nats.Msg) (pubAck, error) {
	resp, err := s.nc.RequestMsgWithContext(ctx, m)
	if errors.Is(err, nats.ErrNoResponders) {
		// No stream listens on the subject (deleted, or a restarted server still
		// bringing JetStream up): what the jetstream package calls so.
		return pubAck{}, fmt.Errorf("%w (%w)", jetstream.ErrNoStreamResponse, err)
	}
	if err != nil {
		return pubAck{}, err
	}
	return parsePubAck(resp.Data, s.cfg.Stream)
}

// parsePubAck reads a PubAck for stream, or the error the server answered with.
func parsePubAck(data []byte, stream string) (pubAck, error) {
	if bytes.HasPrefix(data, ackStream) && !bytes.Contains(data, ackError) {
		rest := data[len(ackStream):]
		if len(rest) > len(stream) && string(rest[:len(stream)]) == stream && rest[len(stream)] == '"' {
			var ack pubAck
			ack.duplicate = bytes.Contains(rest, ackDuplicate)
			if i := bytes.Index(rest, ackSeq); i >= 0 {
				seq := rest[i+len(ackSeq):]
				j := 0
				for j < len(seq) && '0' <= seq[j] && seq[j] <= '9' {
					j++
				}
				ack.seq = seq[:j]
			}
			return ack, nil
		}
	}
	var resp struct {
		Error  *jetstream.APIError `json:"error"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
		Dup    bool                `json:"duplicate"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return pubAck{}, jetstream.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return pubAck{}, fmt.Errorf("nats: %w", resp.Error)
	}
	if resp.Stream != stream {
		// Nats-Expected-Stream makes the server refuse this; an ack from another
		// stream is not one for the message the bridge published.
		return pubAck{}, fmt.Errorf("%w: acknowledged by stream %q, not %q", jetstream.ErrInvalidJSAck, resp.Stream, stream)
	}
	return pubAck{duplicate: resp.Dup, seq: fmt.Appendf(nil, "%d", resp.Seq)}, nil
}
