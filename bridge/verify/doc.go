// Package verify authenticates webhook deliveries, one Scheme per way senders
// sign them: audiospliter, standard-webhooks, github, stripe and a configurable
// hmac (the senders section of the contract). It imports no broker and parses
// no JSON.
//
// The ingress reads the body in pieces, then calls Scheme.Verify with the
// request's headers, those pieces and the time of receipt, before parsing
// anything: Verify finds the scheme's headers, parses them linearly and within
// fixed bounds (MaxSignatures, 18-digit timestamps), checks a timestamp against
// the tolerance, and compares the HMAC of the signed content under every secret
// (pooled keyed HMACs, hmac.Equal over decoded bytes, no allocation). A refusal
// is one of a few Err* values, whose Reason goes to the log; the client only
// ever hears "invalid signature". Then Scheme.Identity tells the ingress where
// the delivery id and the event are — a header or a top-level body field — for
// its one walk over the body. SetSecrets swaps a scheme's secrets at once when
// a secret file changes; Signer and the Sign* functions are the sending side,
// for tests and the load tool.
package verify
