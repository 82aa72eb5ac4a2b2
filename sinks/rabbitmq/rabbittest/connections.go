package rabbittest

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// Connection is one client connection as the broker reports it.
type Connection struct {
	User          string  `json:"user"`
	AuthMechanism string  `json:"auth_mechanism"`
	SSL           bool    `json:"ssl"`
	SSLProtocol   string  `json:"ssl_protocol"`
	PeerCert      string  `json:"peer_cert_subject"`
	Props         [][]any `json:"client_properties"` // [name, type, value]
}

// Prop is the client property name, nil when the client did not send it.
func (c Connection) Prop(name string) any {
	for _, p := range c.Props {
		if len(p) == 3 && p[0] == name {
			return p[2]
		}
	}
	return nil
}

// BridgeConnections lists the node's connections that carry our connection_name.
func (n *Node) BridgeConnections(t testing.TB) []Connection {
	t.Helper()
	out := n.Ctl(t, "list_connections", "-q", "--formatter", "json",
		"user", "auth_mechanism", "ssl", "ssl_protocol", "peer_cert_subject", "client_properties")
	var all []Connection
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("list_connections: %v\n%s", err, out)
	}
	host, _ := os.Hostname()
	var ours []Connection
	for _, c := range all {
		if c.Prop("connection_name") == "audiospliter-bridge@"+host {
			ours = append(ours, c)
		}
	}
	return ours
}

// WaitConnection waits up to 20 s until the bridge has one connection to n, and
// want accepts it.
func (n *Node) WaitConnection(t testing.TB, want func(Connection) bool) Connection {
	t.Helper()
	var cs []Connection
	testkit.Eventually(t, 20*time.Second, func() bool {
		cs = n.BridgeConnections(t)
		return len(cs) == 1 && want(cs[0])
	}, "the bridge's connections: %+v", &cs)
	return cs[0]
}
