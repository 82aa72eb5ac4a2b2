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
package bridge
