// Package admit bounds how many clients the bridge serves at once, connections
// (Listener) and request bodies being read (Reads), by one rule, the Pool's:
//
// A newcomer finding all n slots taken waits, behind earlier newcomers, until a
// slot frees or the holder whose turn began the earliest among those not being
// served has held its turn for Grace, and then takes that slot.
//
// A holder's turn begins when it gets its slot and again when it is marked: a
// connection at the first byte of each request and when it turns idle; a body
// read never. Being served takes a holder out of the line (a connection from the
// end of a request's headers until it turns idle), so it is never taken. Taking a
// slot evicts its holder: a connection's socket is closed, a body read is cut.
//
// So a client that sends its request within Grace of its first byte keeps its
// slot, and one that sends nothing, or trickles, gives it up after Grace once
// someone waits. The holders not served form a line in the order their turns
// began; only its front can be taken, and one timer, armed while newcomers wait,
// fires at the instant the front turns Grace old. No ticker, no polling.
package admit
