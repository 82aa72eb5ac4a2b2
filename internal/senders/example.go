package senders

import _ "embed"

// Example is a senders file with one sender of each scheme and every key, as
// `bridge -h` and docs/configuration.md show it (a test keeps the three equal,
// and one decodes it).
//
//go:embed example.yaml
var Example string
