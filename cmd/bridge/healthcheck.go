package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheck is `bridge healthcheck`: it asks the running bridge's /readyz on this
// host and exits 0 when it answers 200. Container health checks use it, so the image
// needs no shell or curl.
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
	scheme := "http"
	client := &http.Client{Timeout: 3 * time.Second}
	if os.Getenv("BRIDGE_TLS_CERT_FILE") != "" {
		// The certificate names the public host, not 127.0.0.1: this is a
		// liveness probe of our own process, not a trust decision.
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://127.0.0.1:"+port+"/readyz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(stderr, "healthcheck: /readyz answered %d %s\n", resp.StatusCode, body)
		return 1
	}
	return 0
}
