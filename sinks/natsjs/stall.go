package natsjs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/wire"
)

// nats.go writes under its connection lock and looks at no context while it writes:
// when the server stops reading the socket (a frozen process, a network that
// silently drops), a publish, a stream lookup, even Status wait for the write, and
// nats.go's own write timeout is a minute. So every socket it dials is a wire.Conn,
// and a call that outlives its context while a write is blocked cuts the connection;
// nats.go then reconnects. The embedded server is reached in process, not through a
// socket, and is not watched.

// dialer is nats.go's CustomDialer: it remembers the latest socket, the one the
// connection uses once its handshake succeeded. nats.go hands a custom dialer the
// server's name unresolved (SkipHostLookup), and the dialer does what nats.go does
// for its own: tries the name's addresses in random order, so that bridges spread
// over the servers behind one name, and splits the connect timeout among them, so
// that addresses that drop the dial cannot hold a connect for their sum.
type dialer struct {
	timeout time.Duration
	log     *slog.Logger
	latest  *atomic.Pointer[wire.Conn]
}

func (d dialer) Dial(network, address string) (net.Conn, error) {
	// One deadline for the lookup and every dial, as nats.go's own dialer has.
	deadline := time.Now().Add(d.timeout)
	addrs := []string{address}
	if host, port, err := net.SplitHostPort(address); err == nil && net.ParseIP(host) == nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		cancel()
		if err != nil {
			return nil, err
		}
		if len(ips) > 0 {
			addrs = addrs[:0]
			for _, ip := range ips {
				addrs = append(addrs, net.JoinHostPort(ip, port))
			}
			rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
		}
	}
	var conn net.Conn
	var err error
	for i, addr := range addrs {
		// What is left, shared among the addresses not yet tried.
		per := time.Until(deadline) / time.Duration(len(addrs)-i)
		if per <= 0 { // a zero Timeout would mean none
			err = fmt.Errorf("dial %s %s: %w", network, addr, os.ErrDeadlineExceeded)
			break
		}
		conn, err = (&net.Dialer{Timeout: per}).Dial(network, addr)
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	w := wire.New(conn, d.log, "nats")
	d.latest.Store(w)
	return w, nil
}

// stuckFor is how long the socket's write in progress has been blocked.
func (s *Sink) stuckFor() time.Duration {
	if w := s.sock.Load(); w != nil {
		return w.StuckFor()
	}
	return 0
}

// bound makes a call into nats.go end near ctx's end: once ctx is over, a write
// blocked for wire.Stalled cuts the socket. Call the returned func when the call
// has returned.
func (s *Sink) bound(ctx context.Context) (returned func()) {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		if w := s.sock.Load(); w != nil {
			w.AbortIfStalled(done)
		}
	})
	return func() {
		close(done)
		stop()
	}
}

// within runs call, a call into nats.go, and returns its error, or ctx's once ctx
// is over. A blocked write is cut (bound); but nats.go also holds its lock while it
// reconnects, for up to the connect timeout per server when a server accepts the
// connection and says nothing (a frozen process) or the network drops the dial. The
// call is then left to finish on its own (sinks.Detached, which also bounds how
// many are): a message it still sends carries its delivery id, and the stream's
// duplicate window absorbs the sender's retry.
func (s *Sink) within(ctx context.Context, call func() error) error {
	if err := s.detached.Refuse(); err != nil {
		return fmt.Errorf("natsjs: %w", err)
	}
	err, left := s.detached.Run(ctx, s.giveUp, func() error {
		defer s.bound(ctx)()
		return call()
	})
	switch {
	case errors.Is(err, sinks.ErrGaveUp):
		return fmt.Errorf("natsjs: %w while the server took no data", sinks.ErrClosed)
	case !left:
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("nats.go did not return in time: %w", ctx.Err())
	default:
		return fmt.Errorf("natsjs: %w while the server took no data", sinks.ErrClosed)
	}
}

// closeStall is how long closing the connection, once no publish is waiting, lets
// nats.go flush before the socket is cut.
const closeStall = 500 * time.Millisecond
