package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// CheckReady asks the bridge that listens on port of this host for /readyz, over
// HTTPS when useTLS, and returns nil when it answers 200 within 3 s. It is what
// `bridge healthcheck` runs, so that a container health check needs no shell or
// curl.
func CheckReady(ctx context.Context, port string, useTLS bool) error {
	scheme := "http"
	client := &http.Client{Timeout: 3 * time.Second}
	if useTLS {
		// The certificate names the public host, not 127.0.0.1: this is a
		// liveness probe of our own process, not a trust decision.
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // G402: a probe of our own process on loopback, not a trust decision
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort("127.0.0.1", port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("/readyz answered %d %s", resp.StatusCode, body)
	}
	return nil
}
