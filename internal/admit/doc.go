// Package admit bounds how many clients the bridge serves at once, connections
// (Listener) and request bodies being read (Reads), by one rule, the Pool's:
//
// A newcomer finding all n slots taken takes the slot of the holder whose turn
// began the earliest among those not being served, once that turn has lasted
// Grace; until then a connection waits (behind earlier newcomers) for that or a
// freed slot, and a body read is refused.
//
// A holder's turn begins when it gets its slot and again when it is marked: a
// connection at the first byte of each request and when its handler returns; a
// body read never. Being served takes a holder out of the line (a connection from
// the end of a request's headers until its handler returns), so it is never taken. Taking a
// slot evicts its holder: a connection's socket is closed, a body read is cut.
//
// So a client that sends its request within Grace of its first byte keeps its
// slot, and one that sends nothing, or trickles, gives it up after Grace once a
// newcomer comes. A body read never waits: a request waiting would hold its
// connection's buffers and goroutine, and a flood of them the process's memory.
//
// The holders not served form a line in the order their turns began; only its
// front can be taken, and one timer, armed while newcomers wait, fires at the
// instant the front turns Grace old. No ticker, no polling.
package admit
