package test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
)

// Bad configuration stops the process at start with status 2 and one line naming
// the variable. Every case listens on a free port: a bridge already running on the
// machine (on the README's :8080, with its embedded server on :4222) must not turn a
// configuration error into "address already in use".
func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	closed := testkit.FreeAddr(t)
	secretsFile, commentsFile := filepath.Join(t.TempDir(), "secrets"), filepath.Join(t.TempDir(), "comments")
	if err := os.WriteFile(secretsFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(commentsFile, []byte("# the secret goes below\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      map[string]string
		variable string
	}{
		{"no secret", nil, "BRIDGE_WEBHOOK_SECRET"},
		{"empty secret", map[string]string{"BRIDGE_WEBHOOK_SECRET": ""}, "BRIDGE_WEBHOOK_SECRET"},
		{"empty secret in a list", map[string]string{"BRIDGE_WEBHOOK_SECRET": "a-long-enough-secret-1,,b"}, "BRIDGE_WEBHOOK_SECRET"},
		{"secret and secret file", map[string]string{"BRIDGE_WEBHOOK_SECRET_FILE": secretsFile}, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"missing secret file", map[string]string{"BRIDGE_WEBHOOK_SECRET": "", "BRIDGE_WEBHOOK_SECRET_FILE": "/nonexistent/secrets"}, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"secret file without a secret", map[string]string{"BRIDGE_WEBHOOK_SECRET": "", "BRIDGE_WEBHOOK_SECRET_FILE": commentsFile}, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"unknown sink", map[string]string{"BRIDGE_SINK": "kafka"}, "BRIDGE_SINK"},
		{"bad duration", map[string]string{"BRIDGE_PUBLISH_TIMEOUT": "10 seconds"}, "BRIDGE_PUBLISH_TIMEOUT"},
		{"zero timeout", map[string]string{"BRIDGE_PUBLISH_TIMEOUT": "0s"}, "BRIDGE_PUBLISH_TIMEOUT"},
		{"bad dedup ttl", map[string]string{"BRIDGE_DEDUP_TTL": "-1m"}, "BRIDGE_DEDUP_TTL"},
		{"dedup ttl of centuries", map[string]string{"BRIDGE_DEDUP_TTL": "2000000h"}, "BRIDGE_DEDUP_TTL"},
		{"bad number", map[string]string{"BRIDGE_MAX_BODY_BYTES": "1MB"}, "BRIDGE_MAX_BODY_BYTES"},
		{"bad in-flight", map[string]string{"BRIDGE_MAX_IN_FLIGHT": "0"}, "BRIDGE_MAX_IN_FLIGHT"},
		{"bad log level", map[string]string{"BRIDGE_LOG_LEVEL": "loud"}, "BRIDGE_LOG_LEVEL"},
		{"reserved path", map[string]string{"BRIDGE_WEBHOOK_PATH": "/metrics"}, "BRIDGE_WEBHOOK_PATH"},
		{"relative path", map[string]string{"BRIDGE_WEBHOOK_PATH": "hooks"}, "BRIDGE_WEBHOOK_PATH"},
		{"tls half set", map[string]string{"BRIDGE_TLS_CERT_FILE": "/nonexistent.pem"}, "BRIDGE_TLS_CERT_FILE"},
		{"tls files missing", map[string]string{"BRIDGE_TLS_CERT_FILE": "/nonexistent.pem", "BRIDGE_TLS_KEY_FILE": "/nonexistent.key"}, "BRIDGE_TLS_CERT_FILE"},
		{"unreachable broker", map[string]string{"BRIDGE_NATS_URL": "nats://" + closed}, "BRIDGE_NATS_URL"},
		// nats.go quotes a URL it cannot parse, password and all.
		{"nats url that does not parse", map[string]string{"BRIDGE_NATS_URL": "nats://user:secretpw@127.0.0.1:99x"}, "BRIDGE_NATS_URL"},
		{"nats token url that does not parse", map[string]string{"BRIDGE_NATS_URL": "nats://" + closed + ",nats://secretpw@[::1"}, "BRIDGE_NATS_URL"},
		{"embedded port taken", map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": taken.Addr().String()}, "BRIDGE_NATS_EMBEDDED_LISTEN"},
		{"unreachable rabbitmq", map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": "amqp://guest:secretpw@" + closed + "/"}, "BRIDGE_RABBITMQ_URL"},
		{"bad queue type", map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_QUEUE_TYPE": "stream"}, "BRIDGE_RABBITMQ_QUEUE_TYPE"},
		{"empty exchange", map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_EXCHANGE": ""}, "BRIDGE_RABBITMQ_EXCHANGE"},
		{"sqs without queue url", map[string]string{"BRIDGE_SINK": "sqs"}, "BRIDGE_SQS_QUEUE_URL"},
		{"sqs endpoint down", map[string]string{"BRIDGE_SINK": "sqs", "BRIDGE_SQS_ENDPOINT": "http://" + closed, "BRIDGE_SQS_QUEUE_URL": "http://" + closed + "/000000000000/q",
			"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}, "BRIDGE_SQS_ENDPOINT"},
		{"sqs without credentials", map[string]string{"BRIDGE_SINK": "sqs", "BRIDGE_SQS_ENDPOINT": "http://" + closed, "BRIDGE_SQS_QUEUE_URL": "http://" + closed + "/000000000000/q",
			"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}, "AWS_ACCESS_KEY_ID"},
		{"listen address taken", map[string]string{"BRIDGE_LISTEN_ADDR": taken.Addr().String()}, "BRIDGE_LISTEN_ADDR"},
		{"bad tracing exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{"bad tracing sampler", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + closed, "OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv(t, c.env)
			if c.name == "no secret" {
				delete(env, "BRIDGE_WEBHOOK_SECRET")
			}
			msg := failsWith(t, env)
			if !strings.Contains(msg, c.variable+":") {
				t.Errorf("error %q does not name %s", msg, c.variable)
			}
			if !strings.HasPrefix(msg, "bad configuration: ") {
				t.Errorf("error %q does not say it is bad configuration", msg)
			}
			for _, secret := range []string{testSecret, "secretpw"} {
				if strings.Contains(msg, secret) {
					t.Errorf("the error shows the secret %q", secret)
				}
			}
		})
	}
}

func TestNATSEmbeddedBadConfiguration(t *testing.T) {
	t.Parallel()
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))
	for _, c := range []struct {
		name     string
		env      map[string]string
		variable string
	}{
		{"sync not a duration", map[string]string{"BRIDGE_NATS_EMBEDDED_SYNC": "sometimes"}, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"sync zero", map[string]string{"BRIDGE_NATS_EMBEDDED_SYNC": "0s"}, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"sync negative", map[string]string{"BRIDGE_NATS_EMBEDDED_SYNC": "-1s"}, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"all interfaces without token", map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": "0.0.0.0:" + port}, "BRIDGE_NATS_EMBEDDED_TOKEN"},
		{"empty host without token", map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": ":" + port}, "BRIDGE_NATS_EMBEDDED_TOKEN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if msg := startFails(t, c.env); !strings.HasPrefix(msg, "bad configuration: "+c.variable+":") {
				t.Errorf("error %q does not name %s", msg, c.variable)
			}
		})
	}
}

// The clash names both ways out: another address for the embedded server, or the
// server already running there.
func TestNATSEmbeddedPortTakenNamesBothWaysOut(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	msg := startFails(t, map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": taken.Addr().String()})
	if !strings.HasPrefix(msg, "bad configuration: BRIDGE_NATS_EMBEDDED_LISTEN:") || !strings.Contains(msg, "BRIDGE_NATS_URL") {
		t.Errorf("error %q should name BRIDGE_NATS_EMBEDDED_LISTEN and BRIDGE_NATS_URL", msg)
	}
}

// A bare variable such as RABBITMQ_URL, NATS_URL, URL or SINK must not leak into the
// configuration: with them set to servers that do not answer, the bridge starts on
// its defaults (the embedded NATS server), and no line names them.
func TestNoUnprefixedFallback(t *testing.T) {
	t.Parallel()
	closed := testkit.FreeAddr(t)
	b := startBridge(t, map[string]string{
		"URL":           "nats://" + closed,
		"NATS_URL":      "nats://" + closed,
		"RABBITMQ_URL":  "amqp://guest:guest@" + closed + "/",
		"SINK":          "sqs",
		"QUEUE_URL":     "http://" + closed + "/000000000000/q",
		"SQS_QUEUE_URL": "http://" + closed + "/000000000000/q",
	})
	if r := b.post(t, sample, "no-fallback-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if code := b.stop(t); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	logs := b.stderr.String()
	if !strings.Contains(logs, `"sink":"nats"`) {
		t.Errorf("bridge did not run on the default sink:\n%s", logs)
	}
	if strings.Contains(logs, closed) {
		t.Errorf("an unprefixed variable was read:\n%s", logs)
	}
}

// unknownWarnings returns variable → did_you_mean of the warnings about unknown
// variables in logs.
func unknownWarnings(t *testing.T, logs string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, l := range logLines(t, logs) {
		v, ok := l["variable"].(string)
		if !ok || l["level"] != "WARN" {
			continue
		}
		mean, _ := l["did_you_mean"].(string)
		got[v] = mean
		if mean != "" && !strings.Contains(l["msg"].(string), mean) {
			t.Errorf("warning about %s does not name %s in its message: %v", v, mean, l["msg"])
		}
	}
	return got
}

func TestUnknownVariablesAreNamedAtStart(t *testing.T) {
	t.Parallel()
	const hidden = "hunter2-in-an-unknown-variable"
	b := startBridge(t, map[string]string{
		"BRIDGE_SINKK":             "rabbitmq",
		"BRIDGE_RABBITMQ_PASSWORD": hidden,
		"BRIDGE_COLOUR":            "blue",
		"BRIDGE_TEST_RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/",
	})
	logs := b.stderr.String()
	got := unknownWarnings(t, logs)
	want := map[string]string{"BRIDGE_SINKK": "BRIDGE_SINK", "BRIDGE_RABBITMQ_PASSWORD": "", "BRIDGE_COLOUR": ""}
	for v, mean := range want {
		if m, ok := got[v]; !ok {
			t.Errorf("no warning names %s:\n%s", v, logs)
		} else if m != mean {
			t.Errorf("warning about %s suggests %q, want %q", v, m, mean)
		}
	}
	for v := range got {
		if _, ok := want[v]; !ok {
			t.Errorf("warning about %s, which is known or a test variable", v)
		}
	}
	if strings.Contains(logs, hidden) {
		t.Error("the value of an unknown variable reached the log")
	}
	// The misspelling is ignored, as the warning says: the bridge runs on the default.
	if !strings.Contains(logs, `"sink":"nats"`) {
		t.Errorf("bridge did not start on the default sink:\n%s", logs)
	}
}

// When the misspelling is why the configuration fails, the hint comes with the error.
func TestUnknownVariableNamedWhenConfigurationFails(t *testing.T) {
	t.Parallel()
	const value = "whsec-misspelt-0123456789"
	env := baseEnv(t, map[string]string{"BRIDGE_WEBHOOK_SECRTE": value})
	delete(env, "BRIDGE_WEBHOOK_SECRET")
	code, _, logs := run(t, env)
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, logs)
	}
	if got := unknownWarnings(t, logs); got["BRIDGE_WEBHOOK_SECRTE"] != "BRIDGE_WEBHOOK_SECRET" {
		t.Errorf("no warning suggesting BRIDGE_WEBHOOK_SECRET for BRIDGE_WEBHOOK_SECRTE:\n%s", logs)
	}
	if !strings.Contains(logs, "bad configuration: BRIDGE_WEBHOOK_SECRET") {
		t.Errorf("the configuration error is missing:\n%s", logs)
	}
	if strings.Contains(logs, value) {
		t.Error("the value of the misspelt secret variable reached the log")
	}
}

// A senders file's mistakes, and the single sender's variables beside it, stop
// the binary with status 2 and a line naming BRIDGE_SENDERS_FILE, the sender and the
// field, never a secret. "Set" means present: BRIDGE_WEBHOOK_PATH at its own
// default value beside the file is refused too.
func TestSendersFileBadConfiguration(t *testing.T) {
	t.Parallel()
	five := bridgetest.FiveSenders()
	good := bridgetest.WriteSendersFile(t, t.TempDir(), five)
	edited := func(from, to string) string {
		dir := t.TempDir()
		path := bridgetest.WriteSendersFile(t, dir, five)
		data, _ := os.ReadFile(path)
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		name string
		env  map[string]string
		says []string
	}{
		{"an unknown scheme", map[string]string{"BRIDGE_SENDERS_FILE": edited("scheme: stripe", "scheme: paypal")}, []string{`sender "billing"`, "scheme"}},
		{"a path with a trailing slash", map[string]string{"BRIDGE_SENDERS_FILE": edited("path: /webhooks/github", "path: /webhooks/github/")}, []string{`sender "github"`, "path"}},
		{"a tolerance on github", map[string]string{"BRIDGE_SENDERS_FILE": edited("scheme: github\n", "scheme: github\n    tolerance: 5m\n")}, []string{`sender "github"`, "tolerance"}},
		{"a missing secret file", map[string]string{"BRIDGE_SENDERS_FILE": edited("secret_file: svix.secret", "secret_file: nowhere.secret")}, []string{`sender "svix"`, "secret_file"}},
		{"the secret beside it", map[string]string{"BRIDGE_SENDERS_FILE": good, "BRIDGE_WEBHOOK_SECRET": testSecret}, []string{"BRIDGE_WEBHOOK_SECRET"}},
		{"the webhook path beside it", map[string]string{"BRIDGE_SENDERS_FILE": good, "BRIDGE_WEBHOOK_PATH": "/webhooks"}, []string{"BRIDGE_WEBHOOK_PATH"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv(t, c.env)
			if _, ok := c.env["BRIDGE_WEBHOOK_SECRET"]; !ok {
				delete(env, "BRIDGE_WEBHOOK_SECRET")
			}
			msg := failsWith(t, env)
			if !strings.HasPrefix(msg, "bad configuration: BRIDGE_SENDERS_FILE: ") {
				t.Errorf("error %q does not name BRIDGE_SENDERS_FILE", msg)
			}
			for _, s := range c.says {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %s", msg, s)
				}
			}
			for _, s := range five {
				if strings.Contains(msg, s.Secret) {
					t.Errorf("the error shows %s's secret", s.Name)
				}
			}
		})
	}
}
