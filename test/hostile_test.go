package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

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
//
// Not parallel: it measures the bridge under a load of its own making, and needs the
// machine to itself for the signed sender's figures to mean something.
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
	c := startBridge(t, nil)
	base := "http://" + c.addr
	signed := func(id string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks", bytes.NewReader(sample))
		req.Header.Set(bridge.SignatureHeader, bridge.Sign(testSecret, sample))
		req.Header.Set(bridge.DeliveryHeader, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0 // a refused request's connection closed under it: the sender retries
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
	time.Sleep(200 * time.Millisecond) // the measurement's pace: the warm-up's garbage settles before the baseline
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
	// reading, cut, or refused a slot (past the bound a request waits a second for
	// one, and the read begun the earliest is cut once a second old).
	reached := func() float64 {
		return metric("audiospliter_bridge_body_reads") + metric("audiospliter_bridge_body_reads_cut_total") +
			metric("audiospliter_bridge_body_reads_refused_total")
	}
	testkit.Eventually(t, 20*time.Second, func() bool { return reached() >= hostileConns },
		"%v of %d hostile requests reached their body read", reached(), hostileConns)
	t.Logf("hostile requests: %v reading their body, %v cut, %v refused; RSS %d MiB, peak %d MiB", metric("audiospliter_bridge_body_reads"),
		metric("audiospliter_bridge_body_reads_cut_total"), metric("audiospliter_bridge_body_reads_refused_total"),
		c.status(t, "VmRSS")>>20, c.status(t, "VmHWM")>>20)

	// The flood of bad signatures, and a signed sender, for two seconds. Past the
	// bound on body reads a request may be refused (503 with Retry-After) until a
	// hostile read has lasted a second and can be cut for it: the sender retries,
	// as senders do, and every delivery it sends must be confirmed.
	floodBody := bytes.Repeat([]byte(`{"event":"job.completed","pad":"`+strings.Repeat("x", 1000)+`"}`), 64)
	stop := time.Now().Add(2 * time.Second)
	var flood sync.WaitGroup
	var refused, busy, other atomic.Int64
	for range 8 {
		flood.Go(func() {
			for time.Now().Before(stop) {
				req, _ := http.NewRequest(http.MethodPost, base+"/webhooks", bytes.NewReader(floodBody))
				req.Header.Set(bridge.SignatureHeader, badSig)
				req.Header.Set(bridge.DeliveryHeader, "flood")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					// Refused before its body was read, the connection is closed
					// with the rest of the body unread: the client may see the
					// close (a reset) before the 503.
					busy.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 401:
					refused.Add(1)
				case resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
					busy.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	confirmed, retried := 0, 0
	for i := 0; time.Now().Before(stop); i++ {
		id := fmt.Sprintf("signed-%d", i)
		st := signed(id)
		for ; (st == 503 || st == 0) && time.Now().Before(stop.Add(5*time.Second)); st = signed(id) {
			retried++
			time.Sleep(50 * time.Millisecond) // a sender's pause before its retry
		}
		if st != 200 {
			t.Errorf("signed request %s during the attack: %d", id, st)
		} else {
			confirmed++
		}
	}
	flood.Wait()
	heap := metric("go_memstats_heap_inuse_bytes")
	peak := c.status(t, "VmHWM")
	growth := peak - rssBefore
	t.Logf("%d hostile connections + %d bad signatures (%d KiB each; %d more refused as busy): RSS %d MiB -> peak %d MiB (+%.1f MiB), heap in use %.1f MiB; %d signed requests confirmed meanwhile (%d retries after a 503)",
		hostileConns, refused.Load(), len(floodBody)>>10, busy.Load(), rssBefore>>20, peak>>20, float64(growth)/(1<<20), heap/(1<<20), confirmed, retried)
	if other.Load() > 0 {
		t.Errorf("%d flood requests got something other than 401, or 503 with Retry-After", other.Load())
	}
	if confirmed < 5 {
		t.Errorf("only %d signed requests were confirmed in 2 s of attack", confirmed)
	}
	if growth >= 64<<20 {
		t.Errorf("RSS grew by %d MiB, want < 64 MiB: memory follows Content-Length, not the bytes sent", growth>>20)
	}
}
