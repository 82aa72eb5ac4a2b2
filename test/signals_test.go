package test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
)

// `bridge healthcheck` asks the bridge of BRIDGE_LISTEN_ADDR's port: 0 while it is
// ready, 1 once it is stopped; over HTTPS when BRIDGE_TLS_CERT_FILE is set.
func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		b := startBridge(t, nil)
		if code, _, stderr := run(t, map[string]string{"BRIDGE_LISTEN_ADDR": b.addr}, "healthcheck"); code != 0 {
			t.Fatalf("healthcheck of a ready bridge = %d: %s", code, stderr)
		}
		if code := b.stop(t); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0", code)
		}
		if code, _, stderr := run(t, map[string]string{"BRIDGE_LISTEN_ADDR": b.addr}, "healthcheck"); code == 0 {
			t.Fatal("healthcheck of a stopped bridge = 0")
		} else if !strings.HasPrefix(stderr, "healthcheck: ") {
			t.Errorf("healthcheck of a stopped bridge says %q", stderr)
		}
	})
	t.Run("https", func(t *testing.T) {
		t.Parallel()
		pair := certs.NewCA(t, "bridge CA").Server(t, "127.0.0.1")
		b := startBridge(t, map[string]string{"BRIDGE_TLS_CERT_FILE": pair.CertFile, "BRIDGE_TLS_KEY_FILE": pair.KeyFile})
		env := map[string]string{"BRIDGE_LISTEN_ADDR": b.addr, "BRIDGE_TLS_CERT_FILE": pair.CertFile}
		if code, _, stderr := run(t, env, "healthcheck"); code != 0 {
			t.Fatalf("healthcheck over TLS = %d: %s", code, stderr)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := run(t, map[string]string{"BRIDGE_LISTEN_ADDR": "no-port"}, "healthcheck")
		if code != 1 || !strings.Contains(stderr, "BRIDGE_LISTEN_ADDR") {
			t.Errorf("healthcheck with BRIDGE_LISTEN_ADDR=no-port: %d %q, want 1 naming the variable", code, stderr)
		}
	})
}

// SIGHUP reads the secret file again at once, and the process goes on serving (the
// default action of SIGHUP would end it); SIGTERM then exits 0. internal/app's
// TestSecretFileReloadRequest shows that the reload does not wait for the poll.
func TestSecretFileSIGHUP(t *testing.T) {
	t.Parallel()
	const oldSecret, newSecret = "secret-b-0123456789abcdef", "secret-c-0123456789abcdef"
	path := filepath.Join(t.TempDir(), "secrets")
	if err := os.WriteFile(path, []byte(oldSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBridge(t, map[string]string{"BRIDGE_WEBHOOK_SECRET": "", "BRIDGE_WEBHOOK_SECRET_FILE": path})
	if st := apptest.PostSigned(t, b.addr, oldSecret, sample, "b-1").Status; st != 200 {
		t.Fatalf("%d", st)
	}
	if err := os.WriteFile(path+".tmp", []byte(newSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 2*time.Second, func() bool { return apptest.PostSigned(t, b.addr, newSecret, sample, "c-1").Status == 200 },
		"SIGHUP did not bring in the new secret:\n%s", b.stderr)
	if !strings.Contains(b.stderr.String(), "SIGHUP: checking BRIDGE_WEBHOOK_SECRET_FILE") {
		t.Errorf("no log line for the SIGHUP:\n%s", b.stderr)
	}
	if st := apptest.PostSigned(t, b.addr, oldSecret, sample, "b-2").Status; st != 401 {
		t.Errorf("the replaced secret: %d, want 401", st)
	}
	if code := b.stop(t); code != 0 {
		t.Errorf("exit status %d after SIGHUP and SIGTERM, want 0", code)
	}
}

// SIGTERM while the bridge is still connecting to its broker at start (one that
// accepts the connection and says nothing) stops it at once, as a stop that was
// asked for: exit 0, not "bad configuration" with exit 2.
func TestStopWhileConnecting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	cmd := command(baseEnv(t, map[string]string{
		"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": "amqp://guest:guest@" + ln.Addr().String() + "/",
	}))
	var stderr testkit.LockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exit := make(chan int, 1)
	go func() { _ = cmd.Wait(); exit <- cmd.ProcessState.ExitCode() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case <-accepted: // connecting, signal handlers installed long before
	case code := <-exit:
		t.Fatalf("exited %d before connecting:\n%s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("the bridge did not connect to the broker within 10 s:\n%s", stderr.String())
	}
	time.Sleep(300 * time.Millisecond) // the fault's timing: SIGTERM comes while the bridge waits on the broker
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 || strings.Contains(stderr.String(), "bad configuration") || !strings.Contains(stderr.String(), "stopped while connecting") {
			t.Errorf("stopped while connecting: exit %d after %s:\n%s", code, time.Since(start), stderr.String())
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("still connecting 3 s after SIGTERM:\n%s", stderr.String())
	}
}
