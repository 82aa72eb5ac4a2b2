package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childVar, set in the environment, makes the test binary run the bridge instead of
// the tests: a test that measures the process (its RSS) needs the bridge alone in
// a process, not sharing one with its own clients.
const childVar = "AUDIOSPLITER_TEST_RUN_BRIDGE"

func TestMain(m *testing.M) {
	if os.Getenv(childVar) == "1" {
		os.Exit(run(context.Background(), os.Stderr, func(addr string) { fmt.Println("listening " + addr) }))
	}
	os.Exit(m.Run())
}

// child is the bridge running in a process of its own.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
}

// startChild runs the bridge in a new process with env (plus the defaults of
// startBridge) and waits until it listens. It is stopped with SIGTERM when t ends.
func startChild(t *testing.T, env map[string]string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = []string{childVar + "=1", "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	base := map[string]string{
		"BRIDGE_WEBHOOK_SECRET": testSecret,
		"BRIDGE_LISTEN_ADDR":    "127.0.0.1:0",
		"BRIDGE_LOG_LEVEL":      "warn",
	}
	for k, v := range env {
		base[k] = v
	}
	for k, v := range base {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &child{cmd: cmd, stderr: &lockedBuffer{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
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
		s := bufio.NewScanner(out)
		for s.Scan() {
			if a, ok := strings.CutPrefix(s.Text(), "listening "); ok {
				addr <- a
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
