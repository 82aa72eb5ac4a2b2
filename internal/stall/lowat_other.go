//go:build !linux

package stall

import "net"

// setLowat does nothing where TCP_NOTSENT_LOWAT is not set here: a large write on a
// slow link shows its progress later and may be judged stalled sooner.
func setLowat(net.Conn) {}
