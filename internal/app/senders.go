package app

import (
	"log/slog"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// bridgeSenders are the senders of the senders file as the bridge takes them:
// each with the scheme Load built (whose SetSecrets the reloader calls) and its
// route. Nil without a senders file.
func bridgeSenders(ss []senders.Sender) []bridge.Sender {
	if ss == nil {
		return nil
	}
	out := make([]bridge.Sender, len(ss))
	for i, s := range ss {
		out[i] = bridge.Sender{Name: s.Name, Path: s.Path, Scheme: s.Verifier, Route: s.Route}
	}
	return out
}

// senderExchanges and senderQueues are the senders' own destinations on RabbitMQ
// and SQS, by sender; nil when no sender has one. NATS has none: a sender's
// subjects are <prefix>.<route> in the bridge's stream.
func senderExchanges(ss []senders.Sender) map[string]string {
	return destinations(ss, func(d senders.Destination) string { return d.RabbitMQExchange })
}

func senderQueues(ss []senders.Sender) map[string]string {
	return destinations(ss, func(d senders.Destination) string { return d.SQSQueueURL })
}

func destinations(ss []senders.Sender, of func(senders.Destination) string) map[string]string {
	var out map[string]string
	for _, s := range ss {
		if d := of(s.Destination); d != "" {
			if out == nil {
				out = make(map[string]string)
			}
			out[s.Name] = d
		}
	}
	return out
}

// warnShortSenderSecrets warns, per sender, of secrets shorter than 16 bytes, as
// for BRIDGE_WEBHOOK_SECRET. A Standard Webhooks secret is a base64 key with its
// whsec_ prefix: its length is that of what was written.
func warnShortSenderSecrets(log *slog.Logger, ss []senders.Sender) {
	for _, s := range ss {
		if n := config.CountShort(s.Secrets()); n > 0 {
			log.Warn("BRIDGE_SENDERS_FILE: sender "+s.Name+": a secret shorter than 16 bytes is easy to guess", "sender", s.Name, "count", n)
		}
	}
}
