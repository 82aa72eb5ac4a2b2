package connect

import (
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// NATS is how an example connects to a NATS server: the URL (nats:// or tls://, a
// token or user:password in it), a CA, a client certificate, and a .creds file or an
// NKey seed.
type NATS struct {
	URL                       string
	CAFile, CertFile, KeyFile string
	CredsFile, NkeyFile       string
}

// Flags registers -url, -ca, -cert, -key, -creds and -nkey.
func (n *NATS) Flags(fs *flag.FlagSet) {
	String(fs, &n.URL, "url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server(s), comma-separated: nats:// or tls://, with a token (nats://TOKEN@host) or user:password in the URL")
	String(fs, &n.CAFile, "ca", "NATS_TLS_CA_FILE", "", "PEM CA file that verifies the server; turns TLS on")
	String(fs, &n.CertFile, "cert", "NATS_TLS_CERT_FILE", "", "client certificate (PEM), with -key, for a server that verifies clients")
	String(fs, &n.KeyFile, "key", "NATS_TLS_KEY_FILE", "", "the client certificate's key (PEM)")
	String(fs, &n.CredsFile, "creds", "NATS_CREDS_FILE", "", ".creds file of the consumer's NATS user")
	String(fs, &n.NkeyFile, "nkey", "NATS_NKEY_FILE", "", "NKey seed file of the consumer's NATS user")
}

// Connect connects as name (shown by the server's connection reports), giving up
// after c.ConnectTimeout per server.
func (n *NATS) Connect(name string, c Common) (*nats.Conn, error) {
	fail := func(err error) error { return fmt.Errorf("cannot connect to NATS at %s: %w", Redact(n.URL), err) }
	opts := []nats.Option{nats.Name(name), nats.Timeout(c.ConnectTimeout)}
	if n.CAFile != "" {
		opts = append(opts, nats.RootCAs(n.CAFile))
	}
	if (n.CertFile == "") != (n.KeyFile == "") {
		return nil, fail(fmt.Errorf("a client certificate needs both -cert and -key (NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE)"))
	}
	if n.CertFile != "" {
		opts = append(opts, nats.ClientCert(n.CertFile, n.KeyFile))
	}
	switch {
	case n.CredsFile != "" && n.NkeyFile != "":
		return nil, fail(fmt.Errorf("give a .creds file or an NKey seed, not both"))
	case n.CredsFile != "":
		if _, err := os.Stat(n.CredsFile); err != nil {
			return nil, fail(err)
		}
		opts = append(opts, nats.UserCredentials(n.CredsFile))
	case n.NkeyFile != "":
		o, err := nats.NkeyOptionFromSeed(n.NkeyFile)
		if err != nil {
			return nil, fail(err)
		}
		opts = append(opts, o)
	}
	nc, err := nats.Connect(n.URL, opts...)
	if err != nil {
		return nil, fail(err)
	}
	return nc, nil
}
