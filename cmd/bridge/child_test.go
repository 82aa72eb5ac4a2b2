package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// child is the bridge binary running in a process of its own: a test that measures
// the process (its RSS) needs the bridge alone in it, not sharing one with its
// clients, and built without the race detector, whose shadow memory would swamp
// what is measured.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
}

// buildBridge compiles ./cmd/bridge (this package) with the go command that runs
// the tests, plain: no -race, whatever flags the tests were built with.
func buildBridge(t *testing.T) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go command to build the bridge: %v", err)
		}
	}
	exe := filepath.Join(t.TempDir(), "bridge")
	cmd := exec.Command(gobin, "build", "-o", exe, ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// startChild builds and runs the bridge with env (plus the defaults of startBridge)
// and waits until it listens. It is stopped with SIGTERM when t ends.
func startChild(t *testing.T, env map[string]string) *child {
	t.Helper()
	cmd := exec.Command(buildBridge(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	base := map[string]string{
		"BRIDGE_WEBHOOK_SECRET": testSecret,
		"BRIDGE_LISTEN_ADDR":    "127.0.0.1:0",
		"BRIDGE_LOG_LEVEL":      "info",
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &child{cmd: cmd, stderr: &lockedBuffer{}}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the bridge process did not exit within 30s of SIGTERM")
		}
	})
	addr := make(chan string, 1)
	go func() {
		// The bridge logs JSON lines; the "listening" one carries the bound address.
		s := bufio.NewScanner(errPipe)
		for s.Scan() {
			line := s.Bytes()
			_, _ = c.stderr.Write(append(line, '\n'))
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "listening" {
				addr <- entry.Addr
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case c.addr = <-addr:
	case <-exited:
		t.Fatalf("the bridge process exited at start:\n%s", c.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("the bridge process did not listen within 30s:\n%s", c.stderr)
	}
	return c
}

// status reads a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func (c *child) status(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/%d/status has no %s", c.cmd.Process.Pid, field)
	return 0
}

// resetPeak makes VmHWM start again from the current RSS (proc(5), clear_refs 5).
func (c *child) resetPeak(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", c.cmd.Process.Pid), []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
}
