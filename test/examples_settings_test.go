package test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
)

// What the consumer examples promise whatever the broker: one line and exit 1 when
// it cannot be reached, and settings named alike in both languages, as documented.

// silentListener accepts connections and never answers, as a host behind a
// firewall that drops packets after the handshake, or a port forward to nowhere.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A broker that cannot be reached ends every example within its connect timeout,
// exit status 1, with one line that says so and shows no password or token. The
// settings come from the environment here, for the Go examples too.
func TestConsumerExamplesBrokerUnreachable(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-7f1e"
	closed := testkit.FreeAddr(t) // nothing listens there any more
	silent := silentListener(t)
	ca := certs.NewCA(t, "nats CA")
	pair := ca.Server(t)
	wantsCert := natstest.StartSecure(t, natstest.Secure{Cert: &pair, ClientCA: ca})
	token := natstest.StartSecure(t, natstest.Secure{Token: "the-right-token"})
	sqsLocal := map[string]string{}
	var aws []string
	for k, v := range awsEnv {
		aws = append(aws, k+"="+v)
	}
	for _, c := range []struct {
		name, example string
		settings      map[string]string
		says          string
	}{
		{"nats, a closed port", "nats", map[string]string{"NATS_URL": "nats://u:" + secret + "@" + closed}, "cannot connect to NATS at nats://u:xxxxx@"},
		{"nats, a silent port", "nats", map[string]string{"NATS_URL": "tls://" + secret + "@" + silent}, "cannot connect to NATS at tls://xxxxx@"},
		{"nats, a server that wants a client certificate", "nats", map[string]string{"NATS_URL": wantsCert.URL(), "NATS_TLS_CA_FILE": ca.File}, "cannot connect to NATS"},
		{"nats, a wrong token", "nats", map[string]string{"NATS_URL": strings.Replace(token.URL(), "://", "://"+secret+"@", 1)}, "cannot connect to NATS at nats://xxxxx@"},
		{"rabbitmq, a closed port", "rabbitmq", map[string]string{"RABBITMQ_URL": "amqp://u:" + secret + "@" + closed + "/"}, "cannot connect to RabbitMQ at amqp://u:xxxxx@"},
		{"rabbitmq, a silent port", "rabbitmq", map[string]string{"RABBITMQ_URL": "amqps://u:" + secret + "@" + silent + "/"}, "cannot connect to RabbitMQ at amqps://u:xxxxx@"},
		{"sqs, a closed port", "sqs", with(sqsLocal, "SQS_ENDPOINT", "http://"+closed, "SQS_QUEUE_URL", "http://"+closed+"/000000000000/q"), "sqs"},
		{"sqs, a silent port", "sqs", with(sqsLocal, "SQS_ENDPOINT", "http://"+silent, "SQS_QUEUE_URL", "http://"+silent+"/000000000000/q"), "sqs"},
	} {
		for _, lang := range langs {
			t.Run(c.name+"/"+lang, func(t *testing.T) {
				t.Parallel()
				settings := with(c.settings, "CONNECT_TIMEOUT", "1s", "TIMEOUT", "3s")
				var env []string
				if c.example == "sqs" {
					env = aws
				}
				code, out, took := exampleRun{lang: lang, name: c.example, settings: settings, env: env, asEnv: true}.run(t)
				t.Logf("exit %d after %s:\n%s", code, took.Round(time.Millisecond), out)
				lines := nonEmptyLines(out)
				if c.example == "sqs" && lang == "node" && len(lines) > 1 {
					lines = lines[len(lines)-1:] // Node 20: the AWS SDK's support notice comes first
				}
				if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], c.says) {
					t.Errorf("exit %d, want 1 with one line saying %q", code, c.says)
				}
				if strings.Contains(out, secret) {
					t.Errorf("the output shows the password or token")
				}
				// 1 s to connect (SQS: plus the second a receive waits), on a busy machine.
				if took > 8*time.Second {
					t.Errorf("took %s with CONNECT_TIMEOUT=1s", took)
				}
			})
		}
	}
}

// nonEmptyLines drops blank lines.
func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// goExampleSettings reads a Go example's -h: each flag and the variable its default
// comes from.
func goExampleSettings(t *testing.T, name string, args ...string) map[string]string {
	t.Helper()
	cmd := exec.Command(goExample(t, name), append(args, "-h")...)
	out, _ := cmd.CombinedOutput() // -h exits 0 or 2 depending on the flag package's mode
	pairs := map[string]string{}
	flag := ""
	for _, line := range strings.Split(string(out), "\n") {
		if m := regexp.MustCompile(`^  (-[a-z-]+)`).FindStringSubmatch(line); m != nil {
			flag = m[1]
		}
		if m := regexp.MustCompile(`\(\$([A-Z_]+)\)`).FindStringSubmatch(line); m != nil && flag != "" {
			pairs[flag] = m[1]
		}
	}
	if len(pairs) == 0 {
		t.Fatalf("%s -h lists no flag with a variable:\n%s", name, out)
	}
	return pairs
}

// The examples' settings have one name per language pair, and examples/README.md
// lists each: the Go flag and its variable on one row, the variable read by the Node
// example of the same broker.
func TestExampleSettingsAreDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "examples/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(string(readme), "\n")
	node := func(name string) string {
		var all string
		for _, f := range []string{name + ".mjs", "connect.mjs", "common.mjs"} {
			b, err := os.ReadFile(filepath.Join(repoRoot, "examples/node", f))
			if err != nil {
				t.Fatal(err)
			}
			all += string(b)
		}
		return all
	}
	for _, c := range []struct {
		name string
		args []string
	}{{"nats", nil}, {"rabbitmq", nil}, {"sqs", nil}, {"chatnotify", []string{"nats"}}, {"chatnotify", []string{"rabbitmq"}}} {
		for flag, variable := range goExampleSettings(t, c.name, c.args...) {
			if goFlags[variable] != flag {
				t.Errorf("%s: %s reads $%s; the tests map $%s to %q", c.name, flag, variable, variable, goFlags[variable])
			}
			documented := false
			for _, row := range rows {
				documented = documented || strings.HasPrefix(row, "|") && strings.Contains(row, "`"+flag+"`") && strings.Contains(row, "`"+variable+"`")
			}
			if !documented {
				t.Errorf("examples/README.md: no row with %s and %s (%s example)", flag, variable, c.name)
			}
			if c.name != "chatnotify" && !strings.Contains(node(c.name), "'"+variable+"'") {
				t.Errorf("examples/node/%s.mjs does not read %s, which the Go example's %s reads", c.name, variable, flag)
			}
		}
	}
}
