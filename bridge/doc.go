// Package bridge is the HTTP side of audiospliter-bridge: it turns a signed
// AudioSpliter webhook into one confirmed broker message, or into an answer that
// makes the sender retry.
//
// A POST to the webhook path flows through ingress.go in the order of docs/contract.md:
// method → body bounded by MaxBodyBytes → signature (signature.go: HMAC-SHA256
// against every secret, the audiospliter scheme of bridge/verify) → delivery id → envelope (envelope.go: a JSON object with a
// string event) → in-flight limit → dedup (dedup.go: ids confirmed within the TTL are
// answered as duplicates; concurrent requests for one id share one publish) →
// sinks.Message with the docs/contract.md headers → Sink.Publish, retried with backoff
// (retry.go) inside PublishTimeout → 200 only on the sink's confirm. metrics.go
// counts it all for /metrics. The package reads no environment and imports no broker.
//
// With a senders file (Config.Senders, senders.go) each sender has its own path,
// matched exactly, and the same order of checks with its own scheme of
// bridge/verify: signature (Scheme.Verify, reasons such as bad_timestamp), the
// delivery id from its header, the body (envelope.go reads the event and, for
// Stripe, the delivery id from the body in the same one walk, so Stripe's
// missing delivery comes after the body's checks), the event (a body field or a
// header). The message id, the dedup key, is "<sender>:<delivery id>"; ce-id keeps
// the delivery id, ce-source and audiospliter-sender name the sender, and the
// sender's route becomes sinks.Message.Route. Metrics and log lines carry the
// sender; without senders nothing of this shows.
package bridge
