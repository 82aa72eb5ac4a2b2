// Package stall bounds what a broker client can block on. Neither amqp091-go nor
// nats.go looks at a publish's context while it writes to its socket or waits for
// one of its own locks (nats.go holds its lock while it reconnects), so a broker that
// stops reading, or a link slower than the load, would hold publishes past their
// deadlines. Three small mechanisms, each stated in one sentence, keep the bounds of
// the contract without any goroutine that polls:
//
//   - Conn: a write that moves no data for the interval fails by itself. Writes go to
//     the kernel in pieces, each with a deadline of now + interval, and the socket
//     keeps little unsent (TCP_NOTSENT_LOWAT), so a slow link shows progress and
//     only a stalled one reaches a deadline. (Precisely, each piece must be taken
//     within the interval: a link slower than a piece per interval counts as
//     stalled.) The client sees a write error, gives
//     the connection up and reconnects.
//   - Calls: at most n calls into a client run at once; Run returns when its
//     context ends, leaving a call that has not returned to finish in its slot, so at
//     most n calls are ever left running, each holding its message.
//   - Sockets: every connection a sink dials; Cut closes them all and refuses new
//     dials, so a client blocked on a socket or a reconnect lets go at once when its
//     sink closes.
package stall
