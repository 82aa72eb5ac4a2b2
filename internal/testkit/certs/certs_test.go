package certs_test

import (
	"crypto/tls"
	"io"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
)

// A client trusting the CA completes a mutual-TLS handshake with a server certificate
// it issued; a client trusting another CA does not.
func TestHandshake(t *testing.T) {
	t.Parallel()
	ca := certs.NewCA(t, "test CA")
	other := certs.NewCA(t, "other CA")
	srv := ca.Server(t)
	cli := ca.Client(t, "bridge")

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srv.TLS},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()

	dial := func(roots *certs.CA, pair *certs.Pair) error {
		cfg := &tls.Config{RootCAs: roots.Pool(), ServerName: "localhost"}
		if pair != nil {
			cfg.Certificates = []tls.Certificate{pair.TLS}
		}
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = io.ReadAll(c)
		return err
	}
	if err := dial(ca, &cli); err != nil {
		t.Fatalf("trusted CA and client certificate: %v", err)
	}
	if err := dial(other, &cli); err == nil {
		t.Fatal("a client trusting another CA verified the server")
	}
	if err := dial(ca, nil); err == nil {
		t.Fatal("the server accepted a client without a certificate")
	}
}
