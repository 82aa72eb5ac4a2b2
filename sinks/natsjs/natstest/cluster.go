package natstest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is a JetStream cluster of nodes in this process, on loopback ports fixed
// for its life, each with its own file store, so a node stopped and started again
// comes back as the same member with its data, as a restarted production server
// does.
type Cluster struct {
	Nodes []*Server
}

// StartCluster runs n nodes joined by routes and waits until JetStream has elected
// its meta leader and every node is current.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	clientPorts, routePorts := freePorts(t, n), freePorts(t, n)
	routes := make([]*url.URL, n)
	for i := range n {
		routes[i] = &url.URL{Scheme: "nats-route", Host: "127.0.0.1:" + strconv.Itoa(routePorts[i])}
	}
	c := &Cluster{}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1", JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true,
			Cluster: server.ClusterOpts{Name: "audiospliter-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  routes,
		}
		c.Nodes = append(c.Nodes, &Server{Port: clientPorts[i], opts: o})
	}
	for _, s := range c.Nodes {
		if err := s.startNoWait(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
	}
	for _, s := range c.Nodes {
		if !s.srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("natstest: node %s did not start", s.opts.ServerName)
		}
	}
	c.WaitCurrent(t)
	return c
}

// URLs is the comma-separated client URL list of every node, as an operator gives
// it to a client.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.Nodes {
		urls = append(urls, s.URL())
	}
	return strings.Join(urls, ",")
}

// Node returns the node with the given server name, nil when there is none.
func (c *Cluster) Node(name string) *Server {
	for _, s := range c.Nodes {
		if s.opts.ServerName == name {
			return s
		}
	}
	return nil
}

// Running returns the nodes that are up.
func (c *Cluster) Running() []*Server {
	var out []*Server
	for _, s := range c.Nodes {
		if s.srv != nil && s.srv.Running() {
			out = append(out, s)
		}
	}
	return out
}

// WaitCurrent waits up to 30 s until a running node leads the JetStream meta group,
// knows every running node as an online peer, and every running node is current.
func (c *Cluster) WaitCurrent(t testing.TB) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, func() bool {
		running := c.Running()
		leader, current := false, true
		for _, s := range running {
			// The leader lists the peers it has current stats from: until every
			// running node is among them, placing replicas fails.
			if s.srv.JetStreamIsLeader() {
				leader = len(s.srv.JetStreamClusterPeers()) == len(running)
			}
			current = current && s.srv.JetStreamIsCurrent()
		}
		return leader && current
	}, "natstest: the JetStream cluster did not elect a meta leader")
}

// Name is the node's server name.
func (s *Server) Name() string { return s.opts.ServerName }

// startNoWait starts the server without waiting for it to accept clients: the nodes
// of a cluster wait for each other's routes.
func (s *Server) startNoWait() error {
	o := s.opts.Clone()
	o.Port = s.Port
	srv, err := server.NewServer(o)
	if err != nil {
		return err
	}
	srv.Start()
	s.srv = srv
	return nil
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	if len(ports) != n {
		t.Fatal(errors.New("natstest: no free ports"))
	}
	return ports
}
