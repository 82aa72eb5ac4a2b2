package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// The bridge as a separate process, killed or stopped mid-load: every delivery it
// answered 200 must be on the broker afterwards, as `sendhook check` (the loss
// checker users run) reports.

var (
	buildOnce sync.Once
	bridgeBin string
	buildErr  error
)

func bridgeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bridge-bin-")
		if err != nil {
			buildErr = err
			return
		}
		bridgeBin = filepath.Join(dir, "bridge")
		out, err := exec.Command("go", "build", "-o", bridgeBin, "../bridge").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bridgeBin
}

type proc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testkit.LockedBuffer // written by the process while the test reads it
	exited chan error
}

// startProc runs the bridge binary with env and waits for /readyz.
func startProc(t *testing.T, env map[string]string) *proc {
	t.Helper()
	p := &proc{addr: testkit.FreeAddr(t), stderr: &testkit.LockedBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(bridgeBinary(t))
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "BRIDGE_WEBHOOK_SECRET=" + secret, "BRIDGE_LISTEN_ADDR=" + p.addr}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if err := <-p.exited; err == nil {
			t.Log("sendhook had exited before it was killed")
		}
		p.exited <- nil
	})
	ready := func() bool {
		select {
		case err := <-p.exited:
			t.Fatalf("bridge exited at start: %v\n%s", err, p.stderr)
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	testkit.Eventually(t, 20*time.Second, ready, "bridge not ready:\n%s", p.stderr)
	return p
}

// loadUntil runs `sendhook -c 16 -duration 4s -acked file` against p and calls
// fault one second in; it returns the acked file once the load has ended.
func loadUntil(t *testing.T, p *proc, fault func()) string {
	t.Helper()
	acked := filepath.Join(t.TempDir(), "acked.txt")
	done := make(chan string, 1)
	go func() {
		_, out, _ := sendhook(t, "-url", "http://"+p.addr+"/webhooks", "-secret", secret, "-c", "16", "-duration", "4s", "-acked", acked)
		done <- out
	}()
	time.Sleep(time.Second) // load before the fault
	fault()
	out := <-done
	t.Logf("load: %s", strings.ReplaceAll(out, "\n", "; "))
	return acked
}

func checkNoLoss(t *testing.T, args ...string) {
	t.Helper()
	code, out, errOut := sendhook(t, append([]string{"check"}, args...)...)
	t.Logf("sendhook check: %s", strings.TrimSpace(out))
	if code != 0 || !strings.Contains(out, "lost: 0") {
		t.Fatalf("sendhook check exit %d: %s %s", code, out, errOut)
	}
	if strings.Contains(out, "acked: 0 ") {
		t.Fatal("nothing was acked before the fault: the test proves nothing")
	}
}

func TestSIGKILLWithRabbitMQ(t *testing.T) {
	// Not in parallel: it kills a bridge under load and times the run.
	url := rabbittest.SharedURL(t)
	exchange := fmt.Sprintf("kill-test.%d", time.Now().UnixNano())
	queue := exchange + ".q"
	t.Cleanup(func() {
		if conn, err := amqp.Dial(url); err == nil {
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(queue, false, false, false)
				_ = ch.ExchangeDelete(exchange, false, false)
			}
			conn.Close()
		}
	})
	p := startProc(t, map[string]string{
		"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": url,
		"BRIDGE_RABBITMQ_EXCHANGE": exchange, "BRIDGE_RABBITMQ_QUEUE": queue,
	})
	acked := loadUntil(t, p, func() { _ = p.cmd.Process.Signal(syscall.SIGKILL) })
	checkNoLoss(t, "-acked", acked, "-sink", "rabbitmq", "-rabbitmq-url", url, "-queue", queue, "-drain")
}

// SIGKILL takes the embedded NATS server down with the bridge; started again on
// the same data directory, the stream still holds every delivery answered 200.
func TestSIGKILLWithEmbeddedNATS(t *testing.T) {
	// Not in parallel: it kills a bridge under load and times the run.
	natsAddr := testkit.FreeAddr(t)
	env := map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": natsAddr, "BRIDGE_DATA_DIR": t.TempDir()}
	p := startProc(t, env)
	acked := loadUntil(t, p, func() { _ = p.cmd.Process.Signal(syscall.SIGKILL) })
	startProc(t, env)
	checkNoLoss(t, "-acked", acked, "-sink", "nats", "-nats-url", "nats://"+natsAddr)
}

// SIGTERM mid-load: the bridge stops accepting, answers what is in flight, closes
// the sink and exits 0; nothing it answered 200 is missing.
func TestSIGTERMDrains(t *testing.T) {
	// Not in parallel: it times the drain against the shutdown timeout.
	natsAddr := testkit.FreeAddr(t)
	env := map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": natsAddr, "BRIDGE_DATA_DIR": t.TempDir(), "BRIDGE_SHUTDOWN_TIMEOUT": "10s"}
	p := startProc(t, env)
	var exitErr error
	acked := loadUntil(t, p, func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case exitErr = <-p.exited:
			p.exited <- exitErr
		case <-time.After(15 * time.Second):
			t.Error("bridge did not exit within its shutdown timeout after SIGTERM")
		}
	})
	if exitErr != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", exitErr, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "shutting down") {
		t.Errorf("no shutdown log line:\n%s", p.stderr)
	}
	startProc(t, env)
	checkNoLoss(t, "-acked", acked, "-sink", "nats", "-nats-url", "nats://"+natsAddr)
}
