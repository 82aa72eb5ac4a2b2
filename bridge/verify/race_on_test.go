//go:build race

package verify_test

// raceEnabled: under the race detector sync.Pool drops objects at random, so a
// verification may build a keyed HMAC and allocate.
const raceEnabled = true
