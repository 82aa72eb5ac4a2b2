package deploy

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The loaders show what docker compose would hand the container. Whether the bridge
// accepts that is for the bridge to say: these tests run the binary with the
// container's environment (the Dockerfile's ENV, then the compose service's
// environment and secret files) against real brokers on this machine standing in for
// the compose services, and wait for /readyz.

// bridgeRun is one bridge process.
type bridgeRun struct {
	cmd      *exec.Cmd
	addr     string // set once it listens
	exited   chan struct{}
	exitCode int
	mu       sync.Mutex
	stderr   strings.Builder
}

func (r *bridgeRun) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// startBridge runs the binary with exactly env and waits until it listens or exits.
func startBridge(t *testing.T, env map[string]string) *bridgeRun {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	r := &bridgeRun{cmd: exec.Command(bridgeBinary(t)), exited: make(chan struct{})}
	r.cmd.Env = list
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.stderr.WriteString(line + "\n")
			r.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				select {
				case listening <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pipe) // drained so the process never blocks on its output
		err := r.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.exitCode = ee.ExitCode()
		}
		close(r.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-r.exited:
		default:
			_ = r.cmd.Process.Kill() // it has run long enough; its exit is read next
			<-r.exited
		}
	})
	select {
	case r.addr = <-listening:
	case <-r.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("the bridge neither listened nor exited in 90 s:\n%s", r.log())
	}
	return r
}

// waitReady polls /readyz until 200.
func (r *bridgeRun) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within 30 s (last: %v):\n%s", err, r.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (r *bridgeRun) stop(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM) // an exited process is what the select below expects
	select {
	case <-r.exited:
		if r.exitCode != 0 {
			t.Errorf("exit status %d after SIGTERM:\n%s", r.exitCode, r.log())
		}
	case <-time.After(40 * time.Second):
		t.Errorf("no exit 40 s after SIGTERM")
	}
}

// imageEnv is the environment the Dockerfile's ENV lines give the container.
func imageEnv(t *testing.T) map[string]string {
	t.Helper()
	return parseDockerfile(t).env
}

// containerEnv builds the bridge's environment for a compose service as the
// container would see it, with the places that only exist in a container moved:
// secret files into a temporary directory, the data directory too, the listener on
// a free loopback port, and each compose service's host:port onto the local server
// that stands in for it (hosts maps "rabbitmq:5672" to "127.0.0.1:5672").
func containerEnv(t *testing.T, profile string, hosts map[string]string) map[string]string {
	t.Helper()
	p := mustLoadCompose(t, composeEnv, profile)
	svc := p.Services[composeProfiles[profile].bridge]
	remap := func(s string) string {
		for from, to := range hosts {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	env := imageEnv(t)
	dir := t.TempDir()
	// Every secret granted to the service, as the container's /run/secrets holds
	// them (a senders file names its senders' secret files relative to itself).
	for _, s := range svc.Secrets {
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		content := secretFile(t, p, svc, "secret "+s.Source, target)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(target)), []byte(remap(content)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range svc.Environment {
		if v == nil {
			continue
		}
		value := remap(*v)
		if strings.HasSuffix(k, "_FILE") && strings.HasPrefix(value, "/run/secrets/") {
			content := secretFile(t, p, svc, k, *v)
			value = filepath.Join(dir, filepath.Base(*v))
			if err := os.WriteFile(value, []byte(remap(content)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		env[k] = value
	}
	env["BRIDGE_LISTEN_ADDR"] = "127.0.0.1:0"
	env["BRIDGE_DATA_DIR"] = filepath.Join(dir, "data")
	return env
}

// TestImageEmbeddedNeedsToken: the image's embedded NATS server listens beyond
// loopback, so the image with only a webhook secret refuses to start, naming the
// token; with the token (compose's embedded profile) it starts and becomes ready.
func TestImageEmbeddedNeedsToken(t *testing.T) {
	env := containerEnv(t, "embedded", nil)
	if env["BRIDGE_NATS_EMBEDDED_LISTEN"] == "" || strings.HasPrefix(env["BRIDGE_NATS_EMBEDDED_LISTEN"], "127.") {
		t.Fatalf("the image's embedded server listens on %q: consumers outside the container could not reach it", env["BRIDGE_NATS_EMBEDDED_LISTEN"])
	}
	// Any free port on every interface, like the image's 0.0.0.0:4222.
	env["BRIDGE_NATS_EMBEDDED_LISTEN"] = "0.0.0.0:" + strconv.Itoa(freePort(t))

	without := maps2(env)
	delete(without, "BRIDGE_NATS_EMBEDDED_TOKEN")
	r := startBridge(t, without)
	<-r.exited
	if r.exitCode != 2 || !strings.Contains(r.log(), "BRIDGE_NATS_EMBEDDED_TOKEN") {
		t.Errorf("without a token: exit %d, want 2 naming BRIDGE_NATS_EMBEDDED_TOKEN:\n%s", r.exitCode, r.log())
	}

	r = startBridge(t, env)
	if r.addr == "" {
		t.Fatalf("the compose embedded profile's environment does not start the bridge (exit %d):\n%s", r.exitCode, r.log())
	}
	r.waitReady(t)
	// Consumers without the token are refused by the embedded server.
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+env["BRIDGE_NATS_EMBEDDED_LISTEN"][len("0.0.0.0:"):], 5*time.Second)
	if err != nil {
		t.Fatalf("embedded server: %v", err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second)) // a failure shows as the read below failing
	br := bufio.NewReader(c)
	info, _ := br.ReadString('\n')
	if !strings.Contains(info, `"auth_required":true`) {
		t.Errorf("the embedded server does not require authentication: %s", info)
	}
	c.Close()
	r.stop(t)
}

// TestComposeEnvironmentStartsBridge: each broker profile's environment, secret
// files included, starts the bridge against that broker and /readyz turns 200.
func TestComposeEnvironmentStartsBridge(t *testing.T) {
	t.Run("rabbitmq", func(t *testing.T) {
		requireTCP(t, "127.0.0.1:5672", "RabbitMQ on 127.0.0.1:5672 (guest/guest), as .ci/run starts it")
		env := containerEnv(t, "rabbitmq", map[string]string{"rabbitmq:5672": "127.0.0.1:5672"})
		// The machine's shared broker may hold audiospliter.events with another type
		// (declaring it differently fails); this run declares no queue.
		env["BRIDGE_RABBITMQ_QUEUE"] = ""
		runReady(t, env)
	})
	t.Run("nats", func(t *testing.T) {
		requireTCP(t, "127.0.0.1:4222", "a NATS server with JetStream on 127.0.0.1:4222")
		env := containerEnv(t, "nats", map[string]string{"nats:4222": "127.0.0.1:4222"})
		runReady(t, env)
	})
	t.Run("sqs", func(t *testing.T) {
		port := startFauxqs(t)
		p := strconv.Itoa(port)
		env := containerEnv(t, "sqs", map[string]string{"//sqs:4566": "//127.0.0.1:" + p, "localhost:4566": "localhost:" + p})
		runReady(t, env)
	})
}

// TestComposeSenders: the senders profile's environment (its senders file and
// secrets as /run/secrets holds them) starts a bridge that takes both senders'
// deliveries, each on its path and signed its way, and refuses each on the
// other's path. Without Stripe's secret in the shell the bridge stops at start
// naming the sender and its secret_file.
func TestComposeSenders(t *testing.T) {
	requireTCP(t, "127.0.0.1:4222", "a NATS server with JetStream on 127.0.0.1:4222")
	env := containerEnv(t, "senders", map[string]string{"nats:4222": "127.0.0.1:4222"})
	r := startBridge(t, env)
	if r.addr == "" {
		t.Fatalf("the senders profile's environment does not start the bridge (exit %d):\n%s", r.exitCode, r.log())
	}
	r.waitReady(t)
	defer r.stop(t)
	post := func(path string, body string, hdr map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	mac := func(secret, content string) string {
		h := hmac.New(sha256.New, []byte(secret))
		h.Write([]byte(content))
		return hex.EncodeToString(h.Sum(nil))
	}
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	asBody := `{"event":"job.completed","jobId":"job_compose"}`
	as := map[string]string{"X-AudioSpliter-Signature": mac(composeEnv["BRIDGE_WEBHOOK_SECRET"], asBody), "X-AudioSpliter-Delivery": "compose-" + id}
	stBody := `{"id":"evt_compose_` + id + `","type":"invoice.paid"}`
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	st := map[string]string{"Stripe-Signature": "t=" + ts + ",v1=" + mac(composeEnv["STRIPE_WEBHOOK_SECRET"], ts+"."+stBody)}
	for _, c := range []struct {
		path, body string
		hdr        map[string]string
		want       int
	}{
		{"/webhooks/audiospliter", asBody, as, 200},
		{"/webhooks/stripe", stBody, st, 200},
		{"/webhooks/stripe", asBody, as, 401},
		{"/webhooks/audiospliter", stBody, st, 401},
		{"/webhooks", asBody, as, 404},
	} {
		if got := post(c.path, c.body, c.hdr); got != c.want {
			t.Errorf("POST %s: %d, want %d", c.path, got, c.want)
		}
	}

	// Without STRIPE_WEBHOOK_SECRET compose hands the bridge an empty secret file.
	empty := maps2(env)
	if err := os.WriteFile(filepath.Join(filepath.Dir(env["BRIDGE_SENDERS_FILE"]), "stripe_webhook_secret"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	empty["BRIDGE_LISTEN_ADDR"] = "127.0.0.1:0"
	r2 := startBridge(t, empty)
	<-r2.exited
	if r2.exitCode != 2 || !strings.Contains(r2.log(), `sender \"billing\": secret_file`) {
		t.Errorf("without Stripe's secret: exit %d, want 2 naming the sender and secret_file:\n%s", r2.exitCode, r2.log())
	}
}

func runReady(t *testing.T, env map[string]string) {
	t.Helper()
	r := startBridge(t, env)
	if r.addr == "" {
		t.Fatalf("the compose environment does not start the bridge (exit %d):\n%s", r.exitCode, r.log())
	}
	r.waitReady(t)
	r.stop(t)
}

func maps2(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// requireTCP skips when nothing listens at addr, and fails instead under CI.
func requireTCP(t *testing.T, addr, what string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	missing(t, fmt.Sprintf("needs %s: %v", what, err))
}

func missing(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set: required)")
	}
	t.Skip(msg)
}

// startFauxqs runs the pinned local SQS server with the compose file's init file.
func startFauxqs(t *testing.T) int {
	t.Helper()
	cliJS := filepath.Join(repoRoot, ".ci/fauxqs/node_modules/fauxqs/dist/cli.js")
	if _, err := exec.LookPath("node"); err != nil {
		missing(t, "needs node for the local SQS server")
	}
	if _, err := os.Stat(cliJS); err != nil {
		missing(t, "needs the local SQS server: npm ci --prefix .ci/fauxqs")
	}
	port := freePort(t)
	cmd := exec.Command("node", cliJS)
	// FAUXQS_HOST=localhost gives queue URLs of the form the compose file's
	// BRIDGE_SQS_QUEUE_URL has (sqs.us-east-1.localhost:PORT); the server looks a
	// queue up by its exact URL.
	cmd.Env = append(os.Environ(), "FAUXQS_PORT="+strconv.Itoa(port), "FAUXQS_HOST=localhost",
		"FAUXQS_INIT="+filepath.Join(mustAbs(t, repoRoot), ".ci/fauxqs/init.json"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // killed at the end: its status says nothing
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return port
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("fauxqs not healthy in 30 s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
