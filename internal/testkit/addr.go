package testkit

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback host:port nothing listens on right now, for a server
// a test starts (the embedded NATS server, the bridge's own listener), or for an
// address that must refuse connections.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := PickFreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// PickFreeAddr is FreeAddr for code that has no testing.TB at hand (a server booted
// once per test binary). Another process may take the port before it is used; the
// kernel hands out ephemeral ports in turn, so that is rare on loopback.
func PickFreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
