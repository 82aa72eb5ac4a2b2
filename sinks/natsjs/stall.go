package natsjs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/stall"
	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// nats.go writes under its connection lock and looks at no context while it writes
// or reconnects (it holds the lock while it dials). So every socket it uses is a
// stall.Conn, on which a write that moves nothing for the stall interval fails and
// makes nats.go reconnect; every call into it runs in stall.Calls, which returns at
// the call's deadline whatever nats.go does; and Close cuts the sockets when
// nats.go does not let go in time. The embedded server is reached in process, not
// through a socket.

// dialer is nats.go's CustomDialer. nats.go hands a custom dialer the server's name
// unresolved (SkipHostLookup), and the dialer does what nats.go does for its own:
// tries the name's addresses in random order, so that bridges spread over the
// servers behind one name, and splits the connect timeout among them, so that
// addresses that drop the dial cannot hold a connect for their sum.
type dialer struct {
	timeout time.Duration
	sockets *stall.Sockets
	last    *dialError // the last dial's failure, which nats.go does not report
}

// dialError keeps the last failure of a dial. nats.go reports a first connect
// whose every dial was refused as "no servers available for connection"; the
// sink says what the dial met instead (connection refused, no such host).
type dialError struct {
	mu  sync.Mutex
	err error
}

func (e *dialError) set(err error) {
	e.mu.Lock()
	e.err = err
	e.mu.Unlock()
}

func (e *dialError) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

func (d dialer) Dial(network, address string) (c net.Conn, err error) {
	defer func() {
		if err != nil && d.last != nil {
			d.last.set(err)
		}
	}()
	// One deadline for the lookup and every dial, as nats.go's own dialer has.
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	addrs := []string{address}
	if host, port, err := net.SplitHostPort(address); err == nil && net.ParseIP(host) == nil {
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
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
	for i, addr := range addrs {
		// What is left, shared among the addresses not yet tried.
		per := time.Until(deadline) / time.Duration(len(addrs)-i)
		if per <= 0 { // a zero timeout would mean none
			return nil, fmt.Errorf("dial %s %s: %w", network, addr, os.ErrDeadlineExceeded)
		}
		var conn *stall.Conn
		if conn, err = d.sockets.Dial(ctx, network, addr, per); err == nil {
			return conn, nil
		}
	}
	return nil, err
}

// within runs call, a call into nats.go, and returns its error, or one wrapping
// ctx's error once ctx is over; a call left running then finishes on its own (a
// message it still sends carries its delivery id, and the stream's duplicate window
// absorbs the sender's retry).
func (s *Sink) within(ctx context.Context, call func() error) error {
	err := s.calls.Run(ctx, call)
	switch {
	case errors.Is(err, stall.ErrBackedUp):
		return fmt.Errorf("natsjs: %w (%w)", sinks.ErrBackedUp, err)
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return fmt.Errorf("natsjs: nats.go did not return in time: %w", err)
	}
	return err
}

// closeGrace is how long closing the connection, once no publish is waiting, lets
// nats.go flush before its sockets are cut.
const closeGrace = 500 * time.Millisecond
