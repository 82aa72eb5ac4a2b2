package rabbittest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
)

// TLSNode is a private node with a TLS listener as production brokers have one: its
// certificate issued by a private CA, client certificates verified against the same
// CA (verify_peer; a client may also come without one and log in with PLAIN), and
// SASL EXTERNAL enabled, taking the user name from the certificate's common name.
// Its plain listener (Node.URL, guest) stays for the test's own reading.
type TLSNode struct {
	*Node
	TLSAddr string    // host:port of the amqps listener
	CA      *certs.CA // signed the node's certificate; verifies client certificates
}

// StartTLSNode starts a TLS node for this test alone.
func StartTLSNode(t testing.TB) *TLSNode {
	t.Helper()
	ca := certs.NewCA(t, "rabbittest CA")
	server := ca.Server(t)
	files := map[string][]byte{}
	for name, path := range map[string]string{"ca.pem": ca.File, "server.pem": server.CertFile, "server.key": server.KeyFile} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	addr, err := testkit.PickFreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	n := StartNode(t, Options{
		Conf: []string{
			"listeners.ssl.default = " + addr,
			"ssl_options.cacertfile = {dir}/ca.pem",
			"ssl_options.certfile = {dir}/server.pem",
			"ssl_options.keyfile = {dir}/server.key",
			"ssl_options.verify = verify_peer",
			"ssl_options.fail_if_no_peer_cert = false",
			"auth_mechanisms.1 = PLAIN",
			"auth_mechanisms.2 = EXTERNAL",
			"ssl_cert_login_from = common_name",
		},
		Files:   files,
		Plugins: []string{"rabbitmq_auth_mechanism_ssl"},
	})
	return &TLSNode{Node: n, TLSAddr: addr, CA: ca}
}

// AMQPS returns the node's amqps URL with userinfo ("user:password", or empty for
// EXTERNAL) and the host name its certificate carries.
func (n *TLSNode) AMQPS(userinfo string) string {
	_, port, _ := net.SplitHostPort(n.TLSAddr)
	if userinfo != "" {
		userinfo += "@"
	}
	return fmt.Sprintf("amqps://%slocalhost:%s/", userinfo, port)
}

// AddUser creates a user with every permission on the default vhost and returns its
// password. A user for SASL EXTERNAL is named after a certificate's common name; its
// password is never used.
func (n *Node) AddUser(t testing.TB, name string) string {
	t.Helper()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	password := hex.EncodeToString(b)
	n.Ctl(t, "add_user", name, password)
	n.Ctl(t, "set_permissions", "-p", "/", name, ".*", ".*", ".*")
	return password
}
