// Package natstest runs real NATS JetStream servers (nats-server/v2, in the test
// process) on random ports with temporary stores, and reads streams back, for the
// tests of the NATS sink and of the bridge.
package natstest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a JetStream server that a test can stop and start again on the same
// port and store, as a restarted production server would come back.
type Server struct {
	Port int
	opts *server.Options
	sec  Secure
	srv  *server.Server
}

// Start runs a server on a random loopback port until t ends.
func Start(t testing.TB) *Server { return StartSecure(t, Secure{}) }

// StartSecure runs a server with TLS and/or authentication until t ends.
func StartSecure(t testing.TB, sec Secure) *Server {
	t.Helper()
	o := &server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
	}
	s := &Server{Port: -1, opts: o, sec: sec}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	s.Port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server on its port and store.
func (s *Server) Start() error {
	o := s.opts.Clone()
	o.Port = s.Port
	if err := s.sec.apply(o); err != nil {
		return err
	}
	srv, err := server.NewServer(o)
	if err != nil {
		return err
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return errors.New("natstest: server did not start")
	}
	s.srv = srv
	return nil
}

// Stop shuts the server down; Start brings it back with its data.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}

// Restart stops and starts the server.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
}

// URL is the server's client URL: tls:// when it serves TLS.
func (s *Server) URL() string {
	scheme := "nats"
	if s.sec.Cert != nil {
		scheme = "tls"
	}
	return scheme + "://127.0.0.1:" + strconv.Itoa(s.Port)
}

// SetSecure replaces the server's TLS and authentication from its next Start on,
// as an operator changes a server's configuration and restarts it.
func (s *Server) SetSecure(sec Secure) { s.sec = sec }

// ClientOptions are what a consumer of this server presents (Secure.Client).
func (s *Server) ClientOptions() []nats.Option { return s.sec.Client }

// Server is the running nats-server, for tests that inspect it.
func (s *Server) Server() *server.Server { return s.srv }

// ReadStream returns every message of a stream, as a consumer sees it, waiting up to
// ten seconds for at least atLeast of them. opts are the consumer's connection
// options (credentials, CA). It reads with an ordered consumer in batches: one
// request per message would take longer than any fixed budget for the tens of
// thousands of messages a load test leaves behind.
func ReadStream(t testing.TB, url, stream string, atLeast int, opts ...nats.Option) []*jetstream.RawStreamMsg {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var st jetstream.Stream
	if !testkit.Poll(10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err = js.Stream(ctx, stream)
		return err == nil && st.CachedInfo().State.Msgs >= uint64(atLeast)
	}) {
		t.Fatalf("stream %s: want %d messages: %v", stream, atLeast, err)
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return nil
	}
	cons, err := st.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("stream %s: ordered consumer: %v", stream, err)
	}
	// A fetch returns early only when its batch is full, so ask for exactly what
	// is left: the stream's count, read above, is what this loop must see.
	out := make([]*jetstream.RawStreamMsg, 0, state.Msgs)
	for uint64(len(out)) < state.Msgs {
		want := min(state.Msgs-uint64(len(out)), 1000)
		got := 0
		// Each fetch of an ordered consumer makes a new consumer from where the last
		// left off; on a cluster whose nodes were just restarted it may not answer
		// yet (no responders): that fetch is made again.
		if !testkit.Poll(10*time.Second, func() bool {
			batch, err := cons.Fetch(int(want), jetstream.FetchMaxWait(10*time.Second))
			if err == nil {
				for m := range batch.Messages() {
					got++
					meta, err := m.Metadata()
					if err != nil {
						t.Fatalf("stream %s: metadata: %v", stream, err)
					}
					out = append(out, &jetstream.RawStreamMsg{
						Subject: m.Subject(), Sequence: meta.Sequence.Stream, Header: m.Headers(), Data: m.Data(), Time: meta.Timestamp,
					})
				}
				err = batch.Error()
			}
			if got == 0 && errors.Is(err, nats.ErrNoResponders) {
				return false
			}
			if err != nil {
				t.Fatalf("stream %s: fetch after %d messages: %v", stream, len(out), err)
			}
			return true
		}) {
			t.Fatalf("stream %s: fetch after %d messages: no responders for 10s", stream, len(out))
		}
		if got == 0 {
			t.Fatalf("stream %s: read %d of %d messages, then nothing for 10s", stream, len(out), state.Msgs)
		}
	}
	return out
}

// CloseClients makes the server close every client connection at once, as an
// operator kicking clients does; the server stays up.
func (s *Server) CloseClients(t testing.TB) {
	t.Helper()
	cz, err := s.srv.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if err := s.srv.DisconnectClientByID(c.Cid); err != nil {
			t.Logf("natstest: disconnect client %d: %v", c.Cid, err)
		}
	}
}

// StreamInfo returns the stream's info once it has a cluster leader (a single
// server is its own), waiting up to 15 s.
func StreamInfo(t testing.TB, js jetstream.JetStream, stream string) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	var err error
	if !testkit.Poll(15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		var st jetstream.Stream
		if st, err = js.Stream(ctx, stream); err == nil {
			info, err = st.Info(ctx)
		}
		return err == nil && info.Cluster != nil && info.Cluster.Leader != ""
	}) {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	return info
}
