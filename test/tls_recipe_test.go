package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// docs/production-brokers.md's TLS recipe, run as written: its openssl commands
// make a CA and the certificates in an empty directory; a NATS server runs with its
// configuration (TLS verifying clients, the bridge's and a consumer's users), a
// RabbitMQ node with its rabbitmq.conf and rabbitmqctl commands (EXTERNAL); the
// bridge publishes with its documented variables, and both consumer examples read
// with the consumer's certificate. Only the paths (/etc/…), the host names and the
// ports change.
func TestTLSRecipe(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl required in CI (apt-get install -y openssl)")
		}
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	sh(t, dir, nil, docBlock(t, "docs/production-brokers.md", "openssl-certificates"))
	for _, f := range []string{"ca.pem", "nats/server.pem", "nats/server-key.pem", "rabbitmq/server.pem",
		"rabbitmq/server-key.pem", "client.pem", "client-key.pem", "consumer.pem", "consumer-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the openssl commands did not make %s: %v", f, err)
		}
	}
	out := sh(t, dir, nil, "openssl verify -CAfile ca.pem nats/server.pem rabbitmq/server.pem client.pem consumer.pem")
	t.Logf("openssl verify:\n%s", out)
	// The files as the table hands them out: the NATS server's under one folder.
	copyFile(t, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "nats/ca.pem"))
	consumerFiles := map[string]string{"ca": filepath.Join(dir, "ca.pem"),
		"cert": filepath.Join(dir, "consumer.pem"), "key": filepath.Join(dir, "consumer-key.pem")}

	t.Run("NATS", func(t *testing.T) {
		t.Parallel()
		conf := docBlock(t, "docs/production-brokers.md", "nats-server-conf")
		conf = strings.NewReplacer("/etc/nats/", filepath.Join(dir, "nats")+"/", "/var/lib/nats", t.TempDir()).Replace(conf)
		srv := startNATSConf(t, conf) // listens on a free loopback port instead of 0.0.0.0:4222
		_, hostPort, _ := strings.Cut(srv.ClientURL(), "://")
		_, port, _ := net.SplitHostPort(hostPort)
		env := shEnv(t, docBlock(t, "docs/production-brokers.md", "nats-bridge-tls"), strings.NewReplacer(
			"/etc/audiospliter/nats/", dir+"/", "nats.internal:4222", "localhost:"+port))
		b := startBridge(t, env)
		if r := b.post(t, sample, "recipe-nats-1"); r.Status != 200 {
			t.Fatalf("POST = %d %s", r.Status, r.Body)
		}
		for _, lang := range langs {
			t.Run(lang, func(t *testing.T) {
				exampleRun{lang: lang, name: "nats", settings: map[string]string{
					"NATS_URL": "tls://consumer:consumer-password@localhost:" + port, "NATS_TLS_CA_FILE": consumerFiles["ca"],
					"NATS_TLS_CERT_FILE": consumerFiles["cert"], "NATS_TLS_KEY_FILE": consumerFiles["key"], "NATS_CONSUMER": "recipe-" + lang,
				}}.readsOne(t, "recipe-nats-1")
			})
		}
		// verify: true — without a certificate from the CA, no connection at all.
		code, out, _ := exampleRun{lang: "go", name: "nats", settings: map[string]string{
			"NATS_URL": "tls://consumer:consumer-password@localhost:" + port, "NATS_TLS_CA_FILE": consumerFiles["ca"], "CONNECT_TIMEOUT": "2s",
		}}.run(t)
		if code != 1 || !strings.Contains(out, "cannot connect to NATS") || !strings.Contains(out, "tls") {
			t.Errorf("a client without a certificate: exit %d\n%s", code, out)
		}
	})

	t.Run("RabbitMQ", func(t *testing.T) {
		t.Parallel()
		tlsAddr := testkit.FreeAddr(t)
		_, port, _ := net.SplitHostPort(tlsAddr)
		var conf []string
		for _, line := range strings.Split(strings.TrimSpace(docBlock(t, "docs/production-brokers.md", "rabbitmq-conf")), "\n") {
			line = strings.ReplaceAll(line, "/etc/rabbitmq/", "{dir}/")
			if strings.HasPrefix(line, "listeners.ssl.default") {
				line = "listeners.ssl.default = " + tlsAddr
			}
			conf = append(conf, line)
		}
		files := map[string][]byte{}
		for name, path := range map[string]string{"ca.pem": "ca.pem", "server.pem": "rabbitmq/server.pem", "server-key.pem": "rabbitmq/server-key.pem"} {
			b, err := os.ReadFile(filepath.Join(dir, path))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = b
		}
		setup := docBlock(t, "docs/production-brokers.md", "rabbitmq-setup")
		const plugin = "rabbitmq_auth_mechanism_ssl"
		if !strings.Contains(setup, "rabbitmq-plugins enable "+plugin) {
			t.Fatalf("the setup does not enable %s", plugin)
		}
		n := rabbittest.StartNode(t, rabbittest.Options{Conf: conf, Files: files, Plugins: []string{plugin}})
		// The documented commands against this node (the plugin is on already):
		// rabbitmqctl and rabbitmq-plugins on the PATH stand in for the node's own.
		ctl, err := exec.LookPath("rabbitmqctl")
		if err != nil {
			t.Fatal(err)
		}
		bin := t.TempDir()
		for name, script := range map[string]string{
			"rabbitmqctl":      fmt.Sprintf("#!/bin/sh\nexec %s -n %s \"$@\"\n", ctl, n.Name),
			"rabbitmq-plugins": "#!/bin/sh\nexit 0\n",
		} {
			if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("rabbitmqctl:\n%s", sh(t, dir, append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH")), setup))
		env := shEnv(t, docBlock(t, "docs/production-brokers.md", "rabbitmq-bridge-external"), strings.NewReplacer(
			"/etc/audiospliter/rabbitmq/", dir+"/", "rabbit.internal:5671", "localhost:"+port))
		b := startBridge(t, env)
		for i := range langs {
			if r := b.post(t, sample, fmt.Sprintf("recipe-rmq-%d", i)); r.Status != 200 {
				t.Fatalf("POST = %d %s", r.Status, r.Body)
			}
		}
		b.stop(t)
		if logs := b.stderr.String(); !strings.Contains(logs, `"auth":"EXTERNAL"`) {
			t.Errorf("the bridge did not log in with EXTERNAL:\n%s", logs)
		}
		for _, lang := range langs {
			t.Run(lang, func(t *testing.T) {
				exampleRun{lang: lang, name: "rabbitmq", settings: map[string]string{
					"RABBITMQ_URL": "amqps://localhost:" + port + "/", "RABBITMQ_TLS_CA_FILE": consumerFiles["ca"],
					"RABBITMQ_TLS_CERT_FILE": consumerFiles["cert"], "RABBITMQ_TLS_KEY_FILE": consumerFiles["key"],
				}}.readsOne(t, "recipe-rmq-")
			})
		}
	})
}

// sh runs script with sh -e in dir and returns its output, failing t on an error.
// With env nil the script has the test's environment, else exactly env.
func sh(t *testing.T, dir string, env []string, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = env
	if env == nil {
		cmd.Env = os.Environ()
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v\n%s\n--- script:\n%s", err, out, script)
	}
	return string(out)
}

// shEnv runs a documented block of VARIABLE=value lines (and commands such as echo
// … > file) with the replacements applied, and returns the BRIDGE_* variables it
// set.
func shEnv(t *testing.T, block string, r *strings.Replacer) map[string]string {
	t.Helper()
	out := sh(t, t.TempDir(), []string{"PATH=" + os.Getenv("PATH")}, "set -a\n"+r.Replace(block)+"\nenv")
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "BRIDGE_") {
			env[k] = v
		}
	}
	if len(env) == 0 {
		t.Fatalf("the block sets no BRIDGE_ variable:\n%s", block)
	}
	return env
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
