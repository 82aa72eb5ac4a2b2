package stall

import (
	"net"

	"golang.org/x/sys/unix"
)

// lowat is the most unsent data the kernel keeps queued for the socket before a
// write waits. Without it a write waits until a third of a send buffer of up to
// 4 MiB has drained, seconds on a slow link, which would look like a stall; with it
// a write moves as soon as a few tens of KiB have gone out.
const lowat = 64 << 10

func setLowat(conn net.Conn) {
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return
	}
	// Best effort: without it only slow links are judged more harshly.
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, lowat)
	})
}
