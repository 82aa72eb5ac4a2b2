package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
)

// withLimits runs a test with shorter server limits, restored afterwards.
func withLimits(t *testing.T, edit func(*serverLimits)) {
	t.Helper()
	saved := limits
	edit(&limits)
	t.Cleanup(func() { limits = saved })
}

func embeddedEnv(t *testing.T) map[string]string {
	return map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": freeAddr(t), "BRIDGE_DATA_DIR": t.TempDir()}
}

// closedWithin reports whether the server closes c (or answers and closes) within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadAll(c)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func TestSlowHeadersAreCut(t *testing.T) {
	withLimits(t, func(l *serverLimits) { l.readHeader = 300 * time.Millisecond })
	b := startBridge(t, embeddedEnv(t))
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\nX-AudioSpliter-Deliv"))
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("a client that never finishes its headers kept the connection")
	}
}

func TestSlowBodyIsCut(t *testing.T) {
	withLimits(t, func(l *serverLimits) { l.read = 500 * time.Millisecond })
	b := startBridge(t, embeddedEnv(t))
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"event\":"))
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("a client that never finishes its body kept the connection")
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	withLimits(t, func(l *serverLimits) { l.idle = 300 * time.Millisecond })
	b := startBridge(t, embeddedEnv(t))
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("an idle keep-alive connection stayed open past the idle timeout")
	}
}

// Connections beyond the limit wait in the accept queue: they are served only when
// another one closes.
func TestConnectionsAreBounded(t *testing.T) {
	withLimits(t, func(l *serverLimits) { l.minConns, l.connsPerInFlight = 2, 0 })
	b := startBridge(t, embeddedEnv(t))
	// Two keep-alive connections, each proven accepted by an answered request.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		held = append(held, c)
	}
	third, err := net.Dial("tcp", b.addr) // the kernel accepts; the bridge does not yet
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_, _ = third.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	r := bufio.NewReader(third)
	if _, err := http.ReadResponse(r, nil); err == nil {
		t.Fatal("a third connection was served while two were open and the limit is two")
	}
	held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %v", err)
	}
}

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	env := embeddedEnv(t)
	env["BRIDGE_TLS_CERT_FILE"], env["BRIDGE_TLS_KEY_FILE"] = certFile, keyFile
	b := startBridge(t, env)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, "https://"+b.addr+"/webhooks", strings.NewReader(string(sample)))
	req.Header.Set(bridge.SignatureHeader, bridge.Sign(testSecret, sample))
	req.Header.Set(bridge.DeliveryHeader, "tls-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST over TLS = %d", resp.StatusCode)
	}
	if r := b.post(t, sample, "plain-1"); r.status == 200 {
		t.Fatal("a plain-HTTP POST to the TLS listener was accepted")
	}
	t.Setenv("BRIDGE_LISTEN_ADDR", b.addr)
	t.Setenv("BRIDGE_TLS_CERT_FILE", certFile)
	var out lockedBuffer
	if code := healthcheck(&out); code != 0 {
		t.Errorf("healthcheck over TLS = %d: %s", code, out.String())
	}
}

// selfSigned writes a certificate for 127.0.0.1 and returns the files and a pool
// that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bridge-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
