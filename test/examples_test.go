package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// The consumer examples in examples/ really run, in both languages, against every
// broker set-up docs/production-brokers.md describes: after a POST through the
// bridge, each reads a message, shows it and acknowledges it.

// awsEnv are the AWS settings of the local SQS server (sqstest.Env's values), for
// the bridge and the examples, which read them the AWS SDK's way.
var awsEnv = map[string]string{
	"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
	"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
}

var langs = []string{"go", "node"}

var examplesBuild struct {
	once sync.Once
	dir  string
	err  error
}

// goExample is the Go example (nats, rabbitmq, sqs, chatnotify), built once per test
// binary, so that runs are quick and what it prints is not mixed with go run's own
// lines.
func goExample(t *testing.T, name string) string {
	t.Helper()
	b := &examplesBuild
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "bridge-examples-"); b.err != nil {
			return
		}
		gobin, err := goTool()
		if err != nil {
			b.err = err
			return
		}
		cmd := exec.Command(gobin, "build", "-o", b.dir+string(filepath.Separator), "./examples/go/...")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./examples/go/...: %w\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return filepath.Join(b.dir, name)
}

// nodeInstalled skips (fails under CI) when the Node examples' packages are missing.
func nodeInstalled(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(repoRoot, "examples/node/node_modules")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("examples/node/node_modules missing: .ci/run must npm ci it")
		}
		t.Skip("Node examples not installed: npm ci --prefix examples/node")
	}
}

// goFlags maps each example variable to the Go examples' flag of the same setting
// (examples/README.md lists both; TestExampleSettingsAreDocumented checks that the
// Go examples' -h agrees).
var goFlags = map[string]string{
	"NATS_URL": "-url", "NATS_TLS_CA_FILE": "-ca", "NATS_TLS_CERT_FILE": "-cert", "NATS_TLS_KEY_FILE": "-key",
	"NATS_CREDS_FILE": "-creds", "NATS_NKEY_FILE": "-nkey", "NATS_STREAM": "-stream", "NATS_SUBJECT": "-subject",
	"NATS_CONSUMER": "-consumer", "RABBITMQ_URL": "-url", "RABBITMQ_TLS_CA_FILE": "-ca",
	"RABBITMQ_TLS_CERT_FILE": "-cert", "RABBITMQ_TLS_KEY_FILE": "-key", "RABBITMQ_QUEUE": "-queue",
	"RABBITMQ_EXCHANGE": "-exchange", "SQS_QUEUE_URL": "-queue-url", "SQS_ENDPOINT": "-endpoint",
	"TIMEOUT": "-timeout", "CONNECT_TIMEOUT": "-connect-timeout",
	"CHAT_WEBHOOK_URL": "-webhook-url", "CHAT_FORMAT": "-format",
}

// exampleRun is one run of a consumer example.
type exampleRun struct {
	lang, name string            // "go" or "node"; nats, rabbitmq, sqs (or chatnotify)
	args       []string          // the Go example's first arguments (chatnotify: the broker, -count)
	settings   map[string]string // the examples' variables; the Go one gets them as flags
	env        []string          // more environment: SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, AWS_*
	asEnv      bool              // give the Go example its settings as variables too
}

// start starts the example with exactly its settings and env (plus PATH and HOME),
// nothing of the test process's own environment.
func (r exampleRun) start(t *testing.T, ctx context.Context, out io.Writer) *exec.Cmd {
	t.Helper()
	var argv []string
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	switch r.lang {
	case "go":
		argv = append([]string{goExample(t, r.name)}, r.args...)
		for k, v := range r.settings {
			if r.asEnv {
				env = append(env, k+"="+v)
				continue
			}
			flag, ok := goFlags[k]
			if !ok {
				t.Fatalf("no Go flag for %s", k)
			}
			argv = append(argv, flag+"="+v)
		}
	case "node":
		nodeInstalled(t)
		argv = []string{"node", filepath.Join(repoRoot, "examples/node", r.name+".mjs")}
		for k, v := range r.settings {
			env = append(env, k+"="+v)
		}
	default:
		t.Fatalf("language %q", r.lang)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(env, r.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// run runs the example to its end and returns its exit status, output and duration.
func (r exampleRun) run(t *testing.T) (code int, out string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if r.lang == "go" {
		goExample(t, r.name) // built before the clock starts
	}
	var buf testkit.LockedBuffer
	began := time.Now()
	err := r.start(t, ctx, &buf).Wait()
	took = time.Since(began)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), buf.String(), took
	case err != nil:
		t.Fatalf("%s %s example: %v", r.lang, r.name, err)
	}
	return 0, buf.String(), took
}

// readsOne runs the example and checks that it read, showed and acknowledged the
// delivery: the event, the delivery id, the CloudEvents attributes and the body.
func (r exampleRun) readsOne(t *testing.T, delivery string) string {
	t.Helper()
	code, out, _ := r.run(t)
	if code != 0 {
		t.Fatalf("%s %s example: exit %d\n%s", r.lang, r.name, code, out)
	}
	for _, want := range []string{"event: job.completed", "delivery id: " + delivery, "ce-type: com.audiospliter.job.completed",
		"ce-time: ", "body: " + string(sample) + "\n", "acknowledged"} {
		if !strings.Contains(out, want) {
			t.Errorf("%s %s example output lacks %q:\n%s", r.lang, r.name, want, out)
		}
	}
	t.Logf("%s %s example:\n%s", r.lang, r.name, out)
	return out
}

// with returns a copy of m with more pairs.
func with(m map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// natsSetup is a NATS server as an operator runs one, the bridge publishing to it,
// and what a consumer presents.
type natsSetup struct {
	bridge   map[string]string // the bridge's variables
	consumer map[string]string // the examples' variables
	goEnv    []string          // more environment of the Go example (SSL_CERT_FILE)
	nodeEnv  []string          // … of the Node example (NODE_EXTRA_CA_CERTS)
	admin    func(t *testing.T) *nats.Conn
}

// One case per set-up of docs/production-brokers.md, each read by both languages.
func TestConsumerExamplesNATS(t *testing.T) {
	t.Parallel()
	for i, c := range []struct {
		name  string
		setup func(t *testing.T) natsSetup
	}{
		{"embedded server", func(t *testing.T) natsSetup { return embeddedNATS(t, "") }},
		{"embedded server with a token", func(t *testing.T) natsSetup { return embeddedNATS(t, "emb-token-61f0") }},
		{"user and password, tls URL, CA, the documented permissions", natsUsersTLS},
		{"creds with the documented permissions, CA and client certificate", natsCredsTLS},
		{"NKey, nats URL, TLS from the CA file", natsNkey},
		{"token, tls URL, the CA in the system's store", natsSystemCA},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := c.setup(t)
			b := startBridge(t, s.bridge)
			delivery := fmt.Sprintf("ex-nats-%d", i)
			if r := b.post(t, sample, delivery); r.Status != 200 {
				t.Fatalf("POST = %d %s", r.Status, r.Body)
			}
			for _, lang := range langs {
				t.Run(lang, func(t *testing.T) {
					t.Parallel()
					env := s.goEnv
					if lang == "node" {
						env = s.nodeEnv
					}
					durable := "ex-" + lang
					exampleRun{lang: lang, name: "nats", settings: with(s.consumer, "NATS_CONSUMER", durable), env: env}.readsOne(t, delivery)
					nc := s.admin(t)
					defer nc.Close()
					js, _ := jetstream.New(nc)
					cons, err := js.Consumer(t.Context(), "AUDIOSPLITER", durable)
					if err != nil {
						t.Fatal(err)
					}
					if info := cons.CachedInfo(); info.AckFloor.Consumer != 1 || info.NumAckPending != 0 {
						t.Errorf("consumer %s: ack floor %d, pending %d; want the message acked", durable, info.AckFloor.Consumer, info.NumAckPending)
					}
				})
			}
		})
	}
}

func TestConsumerExamplesRabbitMQ(t *testing.T) {
	t.Parallel()
	// publish runs a bridge with env (on the node of plainURL), posts one delivery per
	// language and returns the queue, the deliveries' common prefix, and a check that
	// both were acknowledged.
	publish := func(t *testing.T, plainURL string, env map[string]string) (queue, prefix string, empty func(t *testing.T)) {
		t.Helper()
		exchange, queue := apptest.RabbitNames(t, plainURL)
		b := startBridge(t, with(env, "BRIDGE_SINK", "rabbitmq", "BRIDGE_RABBITMQ_EXCHANGE", exchange, "BRIDGE_RABBITMQ_QUEUE", queue))
		prefix = "ex-rmq-" + queue[len(queue)-12:]
		for i := range langs {
			if r := b.post(t, sample, fmt.Sprintf("%s-%d", prefix, i)); r.Status != 200 {
				t.Fatalf("POST = %d %s", r.Status, r.Body)
			}
		}
		empty = func(t *testing.T) {
			t.Helper()
			conn, err := amqp.Dial(plainURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ch, _ := conn.Channel()
			q, err := ch.QueueDeclarePassive(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: "classic"})
			if err != nil {
				t.Fatal(err)
			}
			if q.Messages != 0 {
				t.Errorf("%d messages left on %s: the examples did not ack", q.Messages, queue)
			}
		}
		return queue, prefix, empty
	}
	readBoth := func(t *testing.T, queue, prefix string, consumer map[string]string) {
		t.Helper()
		for _, lang := range langs {
			t.Run(lang, func(t *testing.T) {
				exampleRun{lang: lang, name: "rabbitmq", settings: with(consumer, "RABBITMQ_QUEUE", queue)}.readsOne(t, prefix)
			})
		}
	}

	t.Run("user and password", func(t *testing.T) {
		t.Parallel()
		url := rabbittest.SharedURL(t)
		queue, prefix, empty := publish(t, url, map[string]string{"BRIDGE_RABBITMQ_URL": url})
		readBoth(t, queue, prefix, map[string]string{"RABBITMQ_URL": url})
		empty(t)
	})

	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		n := rabbittest.StartTLSNode(t)
		bridgeEnv := map[string]string{"BRIDGE_RABBITMQ_URL": n.AMQPS("bridge:" + n.AddUser(t, "bridge")), "BRIDGE_RABBITMQ_TLS_CA_FILE": n.CA.File}
		// consumerUser adds a user with exactly the permissions docs/consuming.md
		// gives a consumer, on queue.
		consumerUser := func(t *testing.T, name, queue string, external bool) string {
			t.Helper()
			const password = "consumer-pw-7d2a"
			lines := strings.Split(strings.TrimSpace(docBlock(t, "docs/consuming.md", "rabbitmq-consumer-permissions")), "\n")
			for _, line := range lines {
				w := shellWords(t, line)
				if len(w) < 2 || w[0] != "rabbitmqctl" {
					t.Fatalf("docs/consuming.md: not a rabbitmqctl command: %q", line)
				}
				for i := range w {
					w[i] = strings.ReplaceAll(w[i], "audiospliter-consumer", name)
					w[i] = strings.ReplaceAll(w[i], `audiospliter\.events`, regexp.QuoteMeta(queue))
					if w[i] == "its-password" {
						w[i] = password
					}
				}
				n.Ctl(t, w[1:]...)
			}
			if external {
				n.Ctl(t, "clear_password", name)
			}
			return password
		}
		t.Run("amqps with a CA, user and password", func(t *testing.T) {
			t.Parallel()
			queue, prefix, empty := publish(t, n.URL, bridgeEnv)
			password := consumerUser(t, "consumer-plain", queue, false)
			readBoth(t, queue, prefix, map[string]string{
				"RABBITMQ_URL": n.AMQPS("consumer-plain:" + password), "RABBITMQ_TLS_CA_FILE": n.CA.File,
			})
			empty(t)
		})
		t.Run("amqps with a client certificate (EXTERNAL)", func(t *testing.T) {
			t.Parallel()
			queue, prefix, empty := publish(t, n.URL, bridgeEnv)
			consumerUser(t, "consumer-ext", queue, true)
			cert := n.CA.Client(t, "consumer-ext")
			readBoth(t, queue, prefix, map[string]string{
				"RABBITMQ_URL": n.AMQPS(""), "RABBITMQ_TLS_CA_FILE": n.CA.File,
				"RABBITMQ_TLS_CERT_FILE": cert.CertFile, "RABBITMQ_TLS_KEY_FILE": cert.KeyFile,
			})
			empty(t)
		})
	})
}

func TestConsumerExamplesSQS(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, false, nil)
	env := map[string]string{"BRIDGE_SINK": "sqs", "BRIDGE_SQS_ENDPOINT": srv.Endpoint(), "BRIDGE_SQS_QUEUE_URL": queueURL}
	var aws []string
	for k, v := range awsEnv {
		env[k] = v
		aws = append(aws, k+"="+v)
	}
	b := startBridge(t, env)
	for _, id := range []string{"ex-sqs-1", "ex-sqs-2"} {
		if r := b.post(t, sample, id); r.Status != 200 {
			t.Fatalf("POST = %d", r.Status)
		}
	}
	settings := map[string]string{"SQS_QUEUE_URL": queueURL, "SQS_ENDPOINT": srv.Endpoint()}
	got := map[string]bool{}
	for _, lang := range langs {
		out := exampleRun{lang: lang, name: "sqs", settings: settings, env: aws}.readsOne(t, "ex-sqs-")
		for _, id := range []string{"ex-sqs-1", "ex-sqs-2"} {
			got[id] = got[id] || strings.Contains(out, "delivery id: "+id+"\n")
		}
	}
	if !got["ex-sqs-1"] || !got["ex-sqs-2"] {
		t.Errorf("the examples read %v, want one delivery each", got)
	}
	if left := (&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, 0); len(left) != 0 {
		t.Errorf("%d messages left: the examples did not delete", len(left))
	}
}

// postTraced posts the sample with a caller's traceparent.
func (c *child) postTraced(t *testing.T, delivery string) apptest.Reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+c.addr+"/webhooks", bytes.NewReader(sample))
	req.Header.Set(bridge.SignatureHeader, bridge.Sign(testSecret, sample))
	req.Header.Set(bridge.DeliveryHeader, delivery)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	return apptest.Do(t, req)
}

// tracingEnv turns the bridge's tracing on through the standard variables, pointed
// at a collector that takes every export and keeps nothing (internal/app's tests
// check the spans).
func tracingEnv(t *testing.T, env map[string]string) map[string]string {
	t.Helper()
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.URL
	env["OTEL_SERVICE_NAME"] = "bridge-under-test"
	env["OTEL_BSP_SCHEDULE_DELAY"] = "50"
	return env
}

// The Go consumer examples continue the bridge's trace: their consumer span has the
// trace id of the request (here the caller's, sent as traceparent).
func TestConsumerExamplesContinueTheTrace(t *testing.T) {
	t.Parallel()
	const want = "trace id: 4bf92f3577b34da6a3ce929d0e0e4736 (continued from the bridge)"
	t.Run("nats", func(t *testing.T) {
		t.Parallel()
		natsAddr := testkit.FreeAddr(t)
		b := startBridge(t, tracingEnv(t, map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": natsAddr}))
		if r := b.postTraced(t, "ex-otel-nats"); r.Status != 200 {
			t.Fatalf("POST = %d %s", r.Status, r.Body)
		}
		out := exampleRun{lang: "go", name: "nats", settings: map[string]string{"NATS_URL": "nats://" + natsAddr, "NATS_CONSUMER": "ex-otel"}}.readsOne(t, "ex-otel-nats")
		if !strings.Contains(out, want) {
			t.Errorf("example output lacks %q", want)
		}
	})
	t.Run("rabbitmq", func(t *testing.T) {
		t.Parallel()
		url := rabbittest.SharedURL(t)
		exchange, queue := apptest.RabbitNames(t, url)
		b := startBridge(t, tracingEnv(t, map[string]string{
			"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": url,
			"BRIDGE_RABBITMQ_EXCHANGE": exchange, "BRIDGE_RABBITMQ_QUEUE": queue,
		}))
		if r := b.postTraced(t, "ex-otel-rmq"); r.Status != 200 {
			t.Fatalf("POST = %d %s", r.Status, r.Body)
		}
		out := exampleRun{lang: "go", name: "rabbitmq", settings: map[string]string{"RABBITMQ_URL": url, "RABBITMQ_QUEUE": queue}}.readsOne(t, "ex-otel-rmq")
		if !strings.Contains(out, want) {
			t.Errorf("example output lacks %q", want)
		}
	})
}
