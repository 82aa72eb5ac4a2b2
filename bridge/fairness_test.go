package bridge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/admit"
	"github.com/audiospliter/audiospliter-bridge/internal/clock"
)

// The outcomes of docs/contract.md's fairness bound, end to end: the bridge over
// an admit.Listener, as the app serves it, with one fake clock for both. The
// clients pace their bytes in real time (every 20 ms); the clock moves by as much
// at each tick, so a second of Grace stays fifty ticks away, whatever the load on
// the machine.

const tick = 20 * time.Millisecond

// newAdmittedHarness serves the bridge over an admit.Listener of conns slots,
// with ConnState wired, both timed by the returned fake clock.
func newAdmittedHarness(t *testing.T, conns int, edit func(*bridge.Config)) (*harness, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h := newHarnessServing(t, func(c *bridge.Config) {
		c.Clock = clk
		if edit != nil {
			edit(c)
		}
	}, func(srv *httptest.Server) {
		l := admit.NewListener(srv.Listener, conns, clk)
		srv.Listener = l
		srv.Config.ConnState = l.ConnState
	})
	return h, clk
}

func signedHead(path string, body []byte, id string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s: %s\r\n%s: %s\r\n\r\n",
		path, len(body), bridge.SignatureHeader, bridge.Sign(secret, body), bridge.DeliveryHeader, id)
}

func status(c net.Conn) string {
	resp := answered(c, 20*time.Second) //nolint:bodyclose // answered closes it
	if resp == nil {
		return "closed"
	}
	return fmt.Sprint(resp.StatusCode)
}

// A body still arriving, and complete within a second of its request's first
// byte, is never cut, also past the bound on body reads: three uploads sending a
// byte each every 20 ms, two slots. Neither of the two reading is cut for the third,
// which finds no slot to take and is refused at once (it may retry).
func TestFlowingBodiesAreNeverCut(t *testing.T) {
	t.Parallel()
	h, clk := newAdmittedHarness(t, 16, func(c *bridge.Config) { c.MaxBodyReads = 2 })
	body := []byte(`{"event":"job.completed","p":"0123456789"}`) // 42 bytes: 840 ms
	conns := make([]net.Conn, 3)
	for i := range conns {
		c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, signedHead("/webhooks", body, fmt.Sprintf("flowing-%d", i)))
		conns[i] = c
	}
	pace := time.NewTicker(tick)
	defer pace.Stop()
	for i := range body {
		<-pace.C
		clk.Advance(tick)
		for _, c := range conns {
			_, _ = c.Write(body[i : i+1])
		}
	}
	var got []string
	for _, c := range conns {
		got = append(got, status(c))
	}
	slices.Sort(got)
	if strings.Join(got, " ") != "200 200 503" {
		t.Errorf("statuses %v, want 200 for the two uploads reading and 503 for the third", got)
	}
	// The 503 is the newcomer refused, not a read cut (the old rule cut one of them).
	m := h.do(t, http.MethodGet, "/metrics", nil, nil).raw
	for _, want := range []string{"audiospliter_bridge_body_reads_cut_total 0", "audiospliter_bridge_body_reads_refused_total 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, grep(m, "body_reads"))
		}
	}
}

// A client that sends its whole request at once, 20 ms after connecting, is
// served while clients trickling their headers, and reconnecting when closed,
// hold every connection slot; so is the health check.
func TestPromptClientServedAmongTricklers(t *testing.T) {
	t.Parallel()
	const slots, tricklers = 4, 6
	h, clk := newAdmittedHarness(t, slots, nil)
	addr := h.srv.Listener.Addr().String()

	// The clock moves with the tricklers' bytes until the test ends.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	ticks := make([]chan struct{}, tricklers)
	for i := range ticks {
		ticks[i] = make(chan struct{}, 1)
	}
	warm := make(chan struct{}) // closed after 1.5 s: every slot has been held by
	// tricklers for a while, and some have been closed and reconnected
	wg.Go(func() {
		pace := time.NewTicker(tick)
		defer pace.Stop()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			case <-pace.C:
			}
			clk.Advance(tick)
			if n == 75 {
				close(warm)
			}
			for _, ch := range ticks {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	})
	var reconnects atomic.Int32
	for i := range tricklers {
		wg.Go(func() {
			for {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
				for err == nil {
					select {
					case <-stop:
						c.Close()
						return
					case <-ticks[i]:
					}
					_, err = io.WriteString(c, "x")
				}
				c.Close()
				reconnects.Add(1)
			}
		})
	}
	<-warm

	prompt := func(request string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		time.Sleep(tick) // the client's own pause, not a wait for the bridge
		_, _ = io.WriteString(c, request)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "closed: " + err.Error()
		}
		resp.Body.Close()
		return fmt.Sprint(resp.StatusCode)
	}
	if got := prompt(signedHead("/webhooks", sample, "prompt-1") + string(sample)); got != "200" {
		t.Errorf("the prompt sender: %s, want 200", got)
	}
	if got := prompt("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); got != "200" {
		t.Errorf("the health check: %s, want 200", got)
	}
	if reconnects.Load() == 0 {
		t.Error("no trickler was closed: the slots were never all taken")
	}
}
