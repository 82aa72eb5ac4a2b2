package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/audiospliter/audiospliter-bridge/internal/app"
)

// healthcheck is `bridge healthcheck`: it asks the running bridge's /readyz on this
// host (the port of BRIDGE_LISTEN_ADDR, HTTPS when BRIDGE_TLS_CERT_FILE is set) and
// exits 0 when it answers 200. Container health checks use it, so the image needs no
// shell or curl.
func healthcheck(stderr io.Writer) int {
	addr := os.Getenv("BRIDGE_LISTEN_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: BRIDGE_LISTEN_ADDR %q: %v\n", addr, err)
		return 1
	}
	if err := app.CheckReady(context.Background(), port, os.Getenv("BRIDGE_TLS_CERT_FILE") != ""); err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	return 0
}
