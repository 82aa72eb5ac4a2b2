// Package senders reads BRIDGE_SENDERS_FILE (the contract's senders section):
// the webhook senders one bridge serves, each on its own path with its own
// scheme, secrets and route.
//
// Load reads the file (at most 1 MiB) and hands it to Decode, which decodes the
// YAML strictly (go.yaml.in/yaml/v3 with KnownFields: an unknown key, a key given
// twice, a wrong type is an error) and applies the rules of the contract to each
// sender, filling in the defaults (tolerance 5m for timestamped schemes, route
// {sender}.{event}, hmac sha256 and hex). A path takes no trailing slash
// (net/http would serve everything below it), so /a and /a/ are never two
// senders. The scheme's own rules come from bridge/verify. Load then reads each secret_file (ReadSecretFile, the rules of
// BRIDGE_WEBHOOK_SECRET_FILE) and builds the sender's verify.Scheme with
// NewScheme. Every error is an *Error: file, line, sender, field, and never a
// secret. The app serves each Sender's Path with its Verifier and Route, and on
// a change of a secret file passes ReadSecretFile's result to SetSecrets.
package senders
