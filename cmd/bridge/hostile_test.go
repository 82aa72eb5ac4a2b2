package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// Connections beyond the limit wait in the accept queue while every open one is
// busy: they are served only when another one closes.
func TestConnectionsAreBounded(t *testing.T) {
	withLimits(t, func(l *serverLimits) { l.minConns, l.connsPerInFlight = 2, 0 })
	b := startBridge(t, embeddedEnv(t))
	// Two busy connections, each proven accepted by an answered request, then
	// sending a request's headers and holding back its body.
	held := idleKeepAlive(t, b.addr, 2)
	for _, c := range held {
		_, _ = c.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"))
	}
	time.Sleep(100 * time.Millisecond)    // let the bridge read the headers: the connections turn busy
	third, err := net.Dial("tcp", b.addr) // the kernel accepts; the bridge does not yet
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	_, _ = third.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	r := bufio.NewReader(third)
	if _, err := http.ReadResponse(r, nil); err == nil {
		t.Fatal("a third connection was served while two were busy and the limit is two")
	}
	held[0].Close()
	_ = third.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slot freed: %v", err)
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
	time.Sleep(100 * time.Millisecond) // accepted by the server
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

// When every slot is held by an idle keep-alive connection, or by one that has sent
// nothing since it was opened, the one idle the longest makes room: a new sender and
// the health check are served at once instead of waiting in the accept queue (up to
// the idle timeout, or the header timeout again and again).
func TestIdleConnectionsMakeRoom(t *testing.T) {
	for name, hold := range map[string]func(*testing.T, string, int) []net.Conn{"keep-alive": idleKeepAlive, "silent": silent} {
		t.Run(name, func(t *testing.T) {
			withLimits(t, func(l *serverLimits) { l.minConns, l.connsPerInFlight = 2, 0 })
			b := startBridge(t, embeddedEnv(t))
			idle := hold(t, b.addr, 2)

			t.Setenv("BRIDGE_LISTEN_ADDR", b.addr)
			var out lockedBuffer
			start := time.Now()
			if code := healthcheck(&out); code != 0 {
				t.Fatalf("healthcheck with every slot idle = %d after %s: %s", code, time.Since(start), out.String())
			}
			if took := time.Since(start); took > time.Second {
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
			if r := b.post(t, sample, "after-eviction-"+name); r.status != 200 {
				t.Errorf("POST = %d %s", r.status, r.body)
			}
		})
	}
}

// A client part-way through its headers is sending, not idle: when the slots are
// full, a silent connection makes room, never one whose headers are arriving (a
// sender on a slow network, a TLS handshake under way). One that stops sending
// part-way for a second is idle again.
func TestConnectionsMidHeadersAreNotEvicted(t *testing.T) {
	withLimits(t, func(l *serverLimits) { l.minConns, l.connsPerInFlight = 2, 0 })
	b := startBridge(t, embeddedEnv(t))
	// The sending one is the older: the one idle the longest would be it.
	sending, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sending.Close()
	_, _ = sending.Write([]byte("GET /healthz HTTP/1.1\r\n"))
	quiet := silent(t, b.addr, 1)[0]

	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		trickle(sending, "", "X-Line: x\r\n", 100*time.Millisecond, stop)
	}()
	time.Sleep(300 * time.Millisecond)

	t.Setenv("BRIDGE_LISTEN_ADDR", b.addr)
	var out lockedBuffer
	if code := healthcheck(&out); code != 0 {
		t.Fatalf("healthcheck with every slot taken = %d: %s", code, out.String())
	}
	if !closedWithin(quiet, 1500*time.Millisecond) {
		t.Error("the silent connection was kept and another one closed")
	}
	close(stop)
	<-trickled
	_, _ = sending.Write([]byte("Host: x\r\n\r\n"))
	_ = sending.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(sending), nil)
	if err != nil {
		t.Fatalf("the connection whose headers were arriving was closed to make room: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz on the connection that was sending its headers = %d", resp.StatusCode)
	}

	// Part-way through and then silent for more than a second: evictable.
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
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	if code := healthcheck(&out); code != 0 {
		t.Fatalf("healthcheck with every slot held by a stalled header = %d: %s", code, out.String())
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("healthcheck behind connections stalled mid-headers took %s", took)
	}
}

// A client that trickles its headers, a byte at a time and never quiet for a
// second, on every slot (slowloris): the one whose request has been arriving the
// longest still makes room, so the health check and a new sender are served.
func TestTricklingHeadersCannotHoldEverySlot(t *testing.T) {
	withLimits(t, func(l *serverLimits) { l.minConns, l.connsPerInFlight = 2, 0 })
	b := startBridge(t, embeddedEnv(t))
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
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond)
	t.Setenv("BRIDGE_LISTEN_ADDR", b.addr)
	var out lockedBuffer
	start := time.Now()
	if code := healthcheck(&out); code != 0 {
		t.Fatalf("healthcheck with every slot held by trickled headers = %d after %s: %s", code, time.Since(start).Round(time.Millisecond), out.String())
	}
	if took := time.Since(start); took > time.Second {
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
	withLimits(t, func(l *serverLimits) { l.minConns, l.connsPerInFlight = 2, 0 })
	b := startBridge(t, embeddedEnv(t))
	keepAlive := idleKeepAlive(t, b.addr, 1)[0]
	trickler, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer trickler.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { trickle(trickler, "GET /healthz HTTP/1.1\r\n", "X-Slow: x\r\n", 200*time.Millisecond, stop) })
	time.Sleep(1200 * time.Millisecond)
	wg.Go(func() { trickle(keepAlive, "GET /healthz HTTP/1.1\r\n", "X-Slow: x\r\n", 200*time.Millisecond, stop) })
	time.Sleep(500 * time.Millisecond)

	t.Setenv("BRIDGE_LISTEN_ADDR", b.addr)
	var out lockedBuffer
	if code := healthcheck(&out); code != 0 {
		t.Fatalf("healthcheck with every slot held by arriving requests = %d: %s", code, out.String())
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
	for _, busy := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "busy"}[busy], func(t *testing.T) {
			withLimits(t, func(l *serverLimits) { l.minConns, l.connsPerInFlight = 2, 0 })
			env := embeddedEnv(t)
			env["BRIDGE_SHUTDOWN_TIMEOUT"] = "1s"
			b := startBridge(t, env)
			held := idleKeepAlive(t, b.addr, 2)
			if busy {
				for _, c := range held {
					_, _ = c.Write([]byte("POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"))
				}
				time.Sleep(100 * time.Millisecond)
				waiting, err := net.Dial("tcp", b.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer waiting.Close()
				_, _ = waiting.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
				time.Sleep(100 * time.Millisecond)
			}
			start := time.Now()
			b.cancel()
			select {
			case code := <-b.exit:
				b.exit <- code
				t.Logf("exited %d after %s", code, time.Since(start))
			case <-time.After(2500 * time.Millisecond):
				t.Fatalf("still running %s after SIGTERM with a 1s shutdown timeout", time.Since(start))
			}
		})
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

// hostileConns is how many connections announce a body they never send.
const hostileConns = 2000

// docs/contract.md: what a request holds before its signature is verified grows with the
// bytes it sent, never with its Content-Length. 2,000 connections announce 1 MiB
// bodies and send none, while a flood of requests with bad signatures goes on and a
// sender with the right secret keeps posting on its own connection: the bridge's
// peak RSS (measured on its own process) grows by less than 64 MiB, and every
// signed request gets 200.
//
// The default connection cap (4 × BRIDGE_MAX_IN_FLIGHT = 4,096) admits all of them.
func TestHostileClientsCostWhatTheySend(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("measures the bridge's RSS through /proc, which only Linux has")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if need := uint64(hostileConns + 500); lim.Cur < need {
		lim.Cur = min(need, lim.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		if lim.Cur < need {
			msg := fmt.Sprintf("needs %d open files, the hard limit is %d: raise it (ulimit -Hn)", need, lim.Max)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	c := startChild(t, embeddedEnv(t))
	base := "http://" + c.addr
	signed := func(id string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks", bytes.NewReader(sample))
		req.Header.Set(bridge.SignatureHeader, bridge.Sign(testSecret, sample))
		req.Header.Set(bridge.DeliveryHeader, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("signed request %s: %v", id, err)
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	metric := func(name string) float64 {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		s := bufio.NewScanner(resp.Body)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		t.Fatalf("/metrics has no %s", name)
		return 0
	}
	for i := range 20 { // warm up: connections, pools, the stream
		if st := signed(fmt.Sprintf("warm-%d", i)); st != 200 {
			t.Fatalf("warm-up request: %d", st)
		}
	}
	time.Sleep(200 * time.Millisecond)
	rssBefore := c.status(t, "VmRSS")
	c.resetPeak(t)

	// The hostile connections: headers announcing 1 MiB, then silence.
	badSig := strings.Repeat("0", 64)
	conns := make([]net.Conn, hostileConns)
	var dial sync.WaitGroup
	var dialErrs atomic.Int32
	for w := range 50 {
		dial.Go(func() {
			for i := w; i < hostileConns; i += 50 {
				cn, err := net.Dial("tcp", c.addr)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				_, _ = fmt.Fprintf(cn, "POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n%s: %s\r\n%s: hostile-%d\r\n\r\n",
					bridge.SignatureHeader, badSig, bridge.DeliveryHeader, i)
				conns[i] = cn
			}
		})
	}
	dial.Wait()
	t.Cleanup(func() {
		for _, cn := range conns {
			if cn != nil {
				cn.Close()
			}
		}
	})
	if n := dialErrs.Load(); n > 0 {
		t.Fatalf("%d hostile connections could not be opened", n)
	}
	// Every hostile request has reached its body read once the bridge counts it as
	// reading or cut (past the bound the bridge cuts the reads silent the longest).
	deadline := time.Now().Add(15 * time.Second)
	for metric("audiospliter_bridge_body_reads")+metric("audiospliter_bridge_body_reads_cut_total") < hostileConns {
		if time.Now().After(deadline) {
			t.Fatalf("%v body reads and %v cut: not every hostile request reached its body", metric("audiospliter_bridge_body_reads"), metric("audiospliter_bridge_body_reads_cut_total"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("hostile requests: %v reading their body, %v cut; RSS %d MiB, peak %d MiB", metric("audiospliter_bridge_body_reads"),
		metric("audiospliter_bridge_body_reads_cut_total"), c.status(t, "VmRSS")>>20, c.status(t, "VmHWM")>>20)

	// The flood of bad signatures, and a signed sender, for two seconds.
	floodBody := bytes.Repeat([]byte(`{"event":"job.completed","pad":"`+strings.Repeat("x", 1000)+`"}`), 64)
	stop := time.Now().Add(2 * time.Second)
	var flood sync.WaitGroup
	var refused, other atomic.Int64
	for range 8 {
		flood.Go(func() {
			for time.Now().Before(stop) {
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks", bytes.NewReader(floodBody))
				req.Header.Set(bridge.SignatureHeader, badSig)
				req.Header.Set(bridge.DeliveryHeader, "flood")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 401 {
					refused.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	confirmed := 0
	for i := 0; time.Now().Before(stop); i++ {
		if st := signed(fmt.Sprintf("signed-%d", i)); st != 200 {
			t.Errorf("signed request during the attack: %d", st)
		} else {
			confirmed++
		}
	}
	flood.Wait()
	heap := metric("go_memstats_heap_inuse_bytes")
	peak := c.status(t, "VmHWM")
	growth := peak - rssBefore
	t.Logf("%d hostile connections + %d bad signatures (%d KiB each): RSS %d MiB -> peak %d MiB (+%.1f MiB), heap in use %.1f MiB; %d signed requests confirmed meanwhile",
		hostileConns, refused.Load(), len(floodBody)>>10, rssBefore>>20, peak>>20, float64(growth)/(1<<20), heap/(1<<20), confirmed)
	if other.Load() > 0 {
		t.Errorf("%d flood requests got something other than 401", other.Load())
	}
	if confirmed < 5 {
		t.Errorf("only %d signed requests were confirmed in 2 s of attack", confirmed)
	}
	if growth >= 64<<20 {
		t.Errorf("RSS grew by %d MiB, want < 64 MiB: memory follows Content-Length, not the bytes sent", growth>>20)
	}
}
