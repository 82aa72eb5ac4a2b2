package app_test

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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/app"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// twoConns caps the bridge at two connections.
func twoConns(o *app.Options) { o.Limits = app.Limits{MaxConns: 2} }

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
	t.Parallel()
	b := startBridge(t, nil, withLimits(app.Limits{ReadHeaderTimeout: 300 * time.Millisecond}))
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
	t.Parallel()
	b := startBridge(t, nil, withLimits(app.Limits{ReadTimeout: 500 * time.Millisecond}))
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
	t.Parallel()
	b := startBridge(t, nil, withLimits(app.Limits{IdleTimeout: 300 * time.Millisecond}))
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

// Connections beyond the limit wait in the accept queue while every open one is
// busy: they are served only when another one closes.
func TestConnectionsAreBounded(t *testing.T) {
	t.Parallel()
	b := startBridge(t, nil, twoConns)
	// Two busy connections, each proven accepted by an answered request, then
	// sending a request's headers and holding back its body.
	held := idleKeepAlive(t, b.addr, 2)
	for _, c := range held {
		_, _ = c.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"))
	}
	time.Sleep(100 * time.Millisecond)    // the clients' pace: the bridge reads the headers first (nothing shows it while every slot is held)
	third, err := net.Dial("tcp", b.addr) // the kernel accepts; the bridge does not yet
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_, _ = third.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	r := bufio.NewReader(third)
	if resp, err := http.ReadResponse(r, nil); err == nil {
		resp.Body.Close()
		t.Fatal("a third connection was served while two were busy and the limit is two")
	}
	held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("after a slot freed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %d", resp.StatusCode)
	}
}

// idleKeepAlive opens n keep-alive connections, each left idle after one answered
// request.
func idleKeepAlive(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz on a held connection: %v", err)
		}
		resp.Body.Close()
		conns = append(conns, c)
	}
	return conns
}

// silent opens n connections that send nothing, as a client that holds slots for
// the header timeout does.
func silent(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond) // the clients' pace: accepted by the server first (nothing shows it while every slot is held)
	return conns
}

// trickle writes start, then piece every interval until stop closes or a write
// fails: a request whose headers are arriving slowly.
func trickle(c net.Conn, start, piece string, every time.Duration, stop <-chan struct{}) {
	_, _ = c.Write([]byte(start))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			if _, err := c.Write([]byte(piece)); err != nil {
				return
			}
		}
	}
}

// slowReader pipelines many short requests on a connection with a tiny receive
// window and never reads an answer: once the answers fill the socket buffers, the
// server's write blocks until its write deadline (tens of seconds).
func slowReader(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reqs := []byte(strings.Repeat("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 20000))
	go func() { _, _ = c.Write(reqs) }()
	return c
}

// Clients that send complete requests and never read the answers do not hold
// every slot until the write deadline (20 s here): a connection whose handler has
// returned is back in line while its answer is written, and once the answers fill
// the socket buffers its turn ages and the health check takes its slot after
// admit.Grace. Until then the readers are being served, request after request (as
// a busy sender is); how long the buffers take to fill depends on the machine
// (seconds under -race), so the health check is tried until it passes, well
// before the write deadline (without the rule it failed until then).
func TestSlowReadersMakeRoom(t *testing.T) {
	t.Parallel()
	b := startBridge(t, nil, twoConns)
	for range 2 {
		slowReader(t, b.addr)
	}
	start := time.Now()
	var err error
	if !testkit.Poll(12*time.Second, func() bool {
		err = b.healthcheck(false)
		return err == nil
	}) {
		t.Fatalf("the health check with every slot held by a client that does not read its answers failed for %s: %v",
			time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("the health check passed after %s", time.Since(start).Round(time.Millisecond))
}

// When every slot is held by an idle keep-alive connection, or by one that has sent
// nothing since it was opened, the one idle the longest makes room: a new sender and
// the health check are served at once instead of waiting in the accept queue (up to
// the idle timeout, or the header timeout again and again).
func TestIdleConnectionsMakeRoom(t *testing.T) {
	t.Parallel()
	for name, hold := range map[string]func(*testing.T, string, int) []net.Conn{"keep-alive": idleKeepAlive, "silent": silent} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := startBridge(t, nil, twoConns)
			idle := hold(t, b.addr, 2)

			start := time.Now()
			if err := b.healthcheck(false); err != nil {
				t.Fatalf("healthcheck with every slot idle failed after %s: %v", time.Since(start), err)
			}
			// An idle connection makes room once its turn is admit.Grace old.
			if took := time.Since(start); took > admit.Grace+2*time.Second {
				t.Errorf("healthcheck took %s", took)
			}
			// One idle connection made room; which one depends on when the server
			// marked each idle, which may lag behind its answer.
			closed := 0
			for _, c := range idle {
				if closedWithin(c, 1500*time.Millisecond) {
					closed++
				}
			}
			if closed != 1 {
				t.Errorf("%d idle connections were closed, want 1", closed)
			}
			if r := b.post(t, sample, "after-eviction-"+name); r.Status != 200 {
				t.Errorf("POST = %d %s", r.Status, r.Body)
			}
		})
	}
}

// A request whose headers arrive, and are complete within admit.Grace of their
// first byte, keeps its connection over one that has sent nothing for longer (the
// health check takes that one's slot); one that stopped part-way for more than
// that makes room at once.
func TestRequestArrivingWithinGraceKeepsItsSlot(t *testing.T) {
	t.Parallel()
	b := startBridge(t, nil, twoConns)
	quiet := silent(t, b.addr, 1)[0]
	sending, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sending.Close()
	_, _ = sending.Write([]byte("GET /healthz HTTP/1.1\r\n"))

	checked := make(chan error, 1)
	go func() { checked <- b.healthcheck(false) }()
	for range 4 {
		time.Sleep(50 * time.Millisecond) // the sender's pace
		_, _ = sending.Write([]byte("X-Line: x\r\n"))
	}
	_, _ = sending.Write([]byte("Host: x\r\n\r\n"))
	_ = sending.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(sending), nil)
	if err != nil {
		t.Fatalf("the connection whose headers arrived within a second was closed to make room: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz on the connection that was sending its headers = %d", resp.StatusCode)
	}
	if err := <-checked; err != nil {
		t.Fatalf("healthcheck with every slot taken: %v", err)
	}
	if !closedWithin(quiet, 3*time.Second) {
		t.Error("the silent connection was kept and another one closed")
	}

	// Part-way through and then silent for more than a second: taken at once.
	stalled := make([]net.Conn, 2)
	for i := range stalled {
		c, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\n"))
		stalled[i] = c
	}
	sending.Close() // frees its slot; the two stalled ones hold both
	// The fault: silent mid-headers for over a second.
	time.Sleep(admit.Grace + 500*time.Millisecond)
	start := time.Now()
	if err := b.healthcheck(false); err != nil {
		t.Fatalf("healthcheck with every slot held by a stalled header: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("healthcheck behind connections stalled mid-headers for over a second took %s", took)
	}
}

// A client that trickles its headers, a byte at a time and never quiet for a
// second, on every slot (slowloris): the one whose request began arriving the
// earliest makes room once that was a second ago, so the health check and a new
// sender are served.
func TestTricklingHeadersCannotHoldEverySlot(t *testing.T) {
	t.Parallel()
	b := startBridge(t, nil, twoConns)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	trickling := make([]net.Conn, 2)
	for i := range trickling {
		c, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		trickling[i] = c
		wg.Go(func() { trickle(c, "GET /healthz HTTP/1.1\r\nX-Slow: ", "x", 300*time.Millisecond, stop) })
		// The server must read the first one's bytes first: the one whose request
		// began arriving the earliest makes room.
		time.Sleep(100 * time.Millisecond) // the clients' pace
	}
	time.Sleep(600 * time.Millisecond) // the fault: trickling for most of a second
	start := time.Now()
	if err := b.healthcheck(false); err != nil {
		t.Fatalf("healthcheck with every slot held by trickled headers failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	// The earliest trickler's turn is a second old at most admit.Grace from now.
	if took := time.Since(start); took > admit.Grace+2*time.Second {
		t.Errorf("healthcheck behind trickled headers took %s", took)
	}
	if !closedWithin(trickling[0], 1500*time.Millisecond) {
		t.Error("the connection whose headers had been arriving the longest was not the one closed")
	}
}

// Among requests still arriving, the one that began the earliest makes room: a
// keep-alive sender idle for a while that has just begun its next request keeps
// its connection over a trickler that has been sending headers for longer.
func TestTricklerMakesRoomBeforeAKeepAliveSender(t *testing.T) {
	t.Parallel()
	b := startBridge(t, nil, twoConns)
	keepAlive := idleKeepAlive(t, b.addr, 1)[0]
	trickler, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer trickler.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { trickle(trickler, "GET /healthz HTTP/1.1\r\n", "X-Slow: x\r\n", 200*time.Millisecond, stop) })
	time.Sleep(1200 * time.Millisecond) // the fault: the trickler's request arriving for over a second
	wg.Go(func() { trickle(keepAlive, "GET /healthz HTTP/1.1\r\n", "X-Slow: x\r\n", 200*time.Millisecond, stop) })
	time.Sleep(500 * time.Millisecond) // the clients' pace: the keep-alive sender's request under way

	if err := b.healthcheck(false); err != nil {
		t.Fatalf("healthcheck with every slot held by arriving requests: %v", err)
	}
	close(stop)
	wg.Wait()
	if !closedWithin(trickler, 1500*time.Millisecond) {
		t.Error("the trickler, arriving the longest, was kept")
	}
	_, _ = keepAlive.Write([]byte("Host: x\r\n\r\n"))
	_ = keepAlive.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(keepAlive), nil)
	if err != nil {
		t.Fatalf("the keep-alive sender that had just begun its request was closed: %v", err)
	}
	resp.Body.Close()
}

// docs/contract.md: on SIGTERM the process exits within BRIDGE_SHUTDOWN_TIMEOUT (+1 s), also
// with every connection slot taken: by idle keep-alive connections, or by busy ones
// with a new connection waiting for a slot.
func TestShutdownWithEverySlotTaken(t *testing.T) {
	t.Parallel()
	for _, busy := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "busy"}[busy], func(t *testing.T) {
			t.Parallel()
			b := startBridge(t, func(c *config.Config) { c.ShutdownTimeout = time.Second }, twoConns)
			held := idleKeepAlive(t, b.addr, 2)
			if busy {
				for _, c := range held {
					_, _ = c.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"))
				}
				time.Sleep(100 * time.Millisecond) // the clients' pace: the bridge reads the headers first
				waiting, err := net.Dial("tcp", b.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer waiting.Close()
				_, _ = waiting.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
				time.Sleep(100 * time.Millisecond) // the clients' pace: the third connection waits in the accept queue
			}
			start := time.Now()
			b.cancel()
			select {
			case err := <-b.exit:
				b.exit <- err
				t.Logf("Run returned %v after %s", err, time.Since(start))
			case <-time.After(2500 * time.Millisecond):
				t.Fatalf("still running %s after SIGTERM with a 1s shutdown timeout", time.Since(start))
			}
		})
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	b := startBridge(t, func(c *config.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })

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
	if r := b.post(t, sample, "plain-1"); r.Status == 200 {
		t.Fatal("a plain-HTTP POST to the TLS listener was accepted")
	} else if r.Status != 400 || r.Header.Get("Content-Type") != "application/json" || !strings.Contains(r.Body, `"error":"this port serves HTTPS`) {
		// Every answer is JSON, this one too.
		t.Errorf("plain HTTP to the TLS listener: %d %q %s, want 400 in JSON", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	// The listener still serves TLS after it: the check is per connection.
	req, _ = http.NewRequest(http.MethodPost, "https://"+b.addr+"/webhooks", strings.NewReader(string(sample)))
	req.Header.Set(bridge.SignatureHeader, bridge.Sign(testSecret, sample))
	req.Header.Set(bridge.DeliveryHeader, "tls-1")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := b.healthcheck(true); err != nil {
		t.Errorf("healthcheck over TLS: %v", err)
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
