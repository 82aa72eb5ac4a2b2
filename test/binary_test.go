// Package test holds the tests of the whole binary and of the whole repository: the
// bridge built from cmd/bridge and run as a child process configured only through
// its environment (cmd.Env) and signals, as an operator runs it; its exit statuses,
// -h, `bridge healthcheck`; the docs' links and the consumer examples. The whole
// bridge in front of each broker under faults is tested in test/faults; the
// bridge's behaviour that needs no environment, with app.Run in internal/app.
package test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// repoRoot is the repository, seen from this package's directory (go test runs there).
const repoRoot = ".."

const testSecret = apptest.Secret

var sample = apptest.Sample()

// bridgeBinary is the bridge built once by TestMain, plain (no -race, whatever flags
// the tests were built with): a test that measures the process (its RSS) needs it
// without the race detector's shadow memory.
var bridgeBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bridge-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bridgeBinary = filepath.Join(dir, "bridge")
	err = build(bridgeBinary)
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	rabbittest.Stop()    // the private node, if a fault case started it
	sqstest.StopShared() // the shared local SQS server, if a test started it
	os.RemoveAll(dir)
	if examplesBuild.dir != "" {
		os.RemoveAll(examplesBuild.dir)
	}
	os.Exit(code)
}

// goTool is the go command that runs the tests (else the one on the PATH).
func goTool() (string, error) {
	// go test sets GOROOT for the test binary; the go command found there is the
	// one that runs the tests.
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			return "", fmt.Errorf("no go command to build with: %w", err)
		}
	}
	return gobin, nil
}

// build compiles ./cmd/bridge with the go command that runs the tests.
func build(exe string) error {
	gobin, err := goTool()
	if err != nil {
		return err
	}
	cmd := exec.Command(gobin, "build", "-o", exe, "./cmd/bridge")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/bridge: %w\n%s", err, out)
	}
	return nil
}

// command is the bridge binary with args and exactly the environment env (plus PATH
// and HOME): nothing of the test process's own BRIDGE_*, OTEL_* or AWS_* variables.
func command(env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.Command(bridgeBinary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// baseEnv is what every started bridge gets unless the test says otherwise: the test
// secret, free ports for HTTP and the embedded NATS server (never :8080 or :4222,
// which a bridge running on the machine may hold), a private data directory, info
// logs.
func baseEnv(t *testing.T, env map[string]string) map[string]string {
	all := map[string]string{
		"BRIDGE_WEBHOOK_SECRET":       testSecret,
		"BRIDGE_LISTEN_ADDR":          "127.0.0.1:0",
		"BRIDGE_NATS_EMBEDDED_LISTEN": testkit.FreeAddr(t),
		"BRIDGE_DATA_DIR":             t.TempDir(),
		"BRIDGE_LOG_LEVEL":            "info",
	}
	for k, v := range env {
		all[k] = v
	}
	return all
}

// child is the bridge running as a process of its own.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *testkit.LockedBuffer
	exited chan struct{} // closed once the process has exited
}

// startBridge runs the binary with baseEnv(env) and waits until it listens. It is
// stopped with SIGTERM when t ends.
func startBridge(t *testing.T, env map[string]string) *child {
	t.Helper()
	cmd := command(baseEnv(t, env))
	c := &child{cmd: cmd, stderr: &testkit.LockedBuffer{}, exited: make(chan struct{})}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("the bridge process did not exit within 30s of SIGTERM")
		}
	})
	addr := make(chan string, 1)
	go func() {
		// The bridge logs JSON lines; the "listening" one carries the bound address.
		s := bufio.NewScanner(errPipe)
		s.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for s.Scan() {
			line := s.Bytes()
			_, _ = c.stderr.Write(append(line, '\n'))
			var entry struct{ Msg, Addr string }
			if json.Unmarshal(line, &entry) == nil && entry.Msg == "listening" {
				addr <- entry.Addr
			}
		}
		_ = cmd.Wait()
		close(c.exited)
	}()
	select {
	case c.addr = <-addr:
	case <-c.exited:
		t.Fatalf("the bridge process exited at start:\n%s", c.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("the bridge process did not listen within 30s:\n%s", c.stderr)
	}
	return c
}

// stop sends SIGTERM and returns the exit status.
func (c *child) stop(t *testing.T) int {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(40 * time.Second):
		t.Fatal("the bridge process did not stop within 40s of SIGTERM")
		return -1
	}
}

func (c *child) post(t *testing.T, body []byte, delivery string) apptest.Reply {
	t.Helper()
	return apptest.Post(t, c.addr, body, delivery)
}

// run runs the binary with exactly env and args to its end and returns its exit
// status and output.
func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := command(env, args...)
	var out, errOut testkit.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("bridge %v still running after 60 s:\n%s", args, errOut.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// startFails runs the bridge with baseEnv(env) and returns its last log line, failing
// t unless it exited with status 2 at start and that line is a JSON error.
func startFails(t *testing.T, env map[string]string) string {
	t.Helper()
	return failsWith(t, baseEnv(t, env))
}

// failsWith is startFails with exactly env.
func failsWith(t *testing.T, env map[string]string) string {
	t.Helper()
	code, _, stderr := run(t, env)
	if code != 2 {
		t.Fatalf("exit status %d, want 2; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, `"msg":"listening"`) {
		t.Errorf("bridge started listening:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	var entry struct{ Level, Msg string }
	if err := json.Unmarshal([]byte(last), &entry); err != nil || entry.Level != "ERROR" {
		t.Fatalf("last line is not a JSON error: %q", last)
	}
	t.Log(entry.Msg)
	return entry.Msg
}

// logLines decodes the bridge's JSON log.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	return lines
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
