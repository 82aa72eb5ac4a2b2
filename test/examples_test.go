package test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// awsEnv are the AWS settings of the local SQS server (sqstest.Env's values), for
// the bridge and the examples, which read them the AWS SDK's way.
var awsEnv = map[string]string{
	"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
	"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
}

// The consumer examples in examples/ really run: after a POST through the bridge,
// each reads a message, shows it and acknowledges it.

// example runs one consumer example and checks what it printed.
func example(t *testing.T, lang, broker string, env []string, args ...string) string {
	t.Helper()
	var argv []string
	switch lang {
	case "go":
		argv = append([]string{"go", "run", "../examples/go/" + broker}, args...)
	case "node":
		if _, err := os.Stat("../examples/node/node_modules"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("examples/node/node_modules missing: .ci/run must npm ci it")
			}
			t.Skip("Node examples not installed: npm ci --prefix examples/node")
		}
		argv = []string{"node", filepath.Join("../examples/node", broker+".mjs")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s example: %v\n%s", lang, broker, err, out)
	}
	for _, want := range []string{"event: job.completed", "delivery id: ex-", "ce-type: com.audiospliter.job.completed", "ce-time: ", "acknowledged"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s %s example output lacks %q:\n%s", lang, broker, want, out)
		}
	}
	t.Logf("%s %s example:\n%s", lang, broker, out)
	return string(out)
}

func TestConsumerExamplesNATS(t *testing.T) {
	t.Parallel()
	natsAddr := testkit.FreeAddr(t)
	b := startBridge(t, map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": natsAddr})
	for _, id := range []string{"ex-nats-1", "ex-nats-2"} {
		if r := b.post(t, sample, id); r.Status != 200 {
			t.Fatalf("POST = %d", r.Status)
		}
	}
	url := "nats://" + natsAddr
	example(t, "go", "nats", nil, "-url", url, "-consumer", "ex-go")
	example(t, "node", "nats", []string{"NATS_URL=" + url, "CONSUMER=ex-node"})
	// Each consumer acknowledged the first message: nothing is pending on either.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, name := range []string{"ex-go", "ex-node"} {
		c, err := js.Consumer(t.Context(), "AUDIOSPLITER", name)
		if err != nil {
			if name == "ex-node" && os.Getenv("CI") == "" {
				continue // skipped above
			}
			t.Fatal(err)
		}
		info := c.CachedInfo()
		if info.AckFloor.Consumer != 1 || info.NumAckPending != 0 {
			t.Errorf("consumer %s: ack floor %d, pending %d; want the one message acked", name, info.AckFloor.Consumer, info.NumAckPending)
		}
	}
}

func TestConsumerExamplesRabbitMQ(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	exchange, queue := apptest.RabbitNames(t, url)
	b := startBridge(t, map[string]string{
		"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": url,
		"BRIDGE_RABBITMQ_EXCHANGE": exchange, "BRIDGE_RABBITMQ_QUEUE": queue,
	})
	for _, id := range []string{"ex-rmq-1", "ex-rmq-2"} {
		if r := b.post(t, sample, id); r.Status != 200 {
			t.Fatalf("POST = %d", r.Status)
		}
	}
	example(t, "go", "rabbitmq", nil, "-url", url, "-queue", queue)
	example(t, "node", "rabbitmq", []string{"RABBITMQ_URL=" + url, "QUEUE=" + queue})
	conn, err := amqp.Dial(url)
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
	example(t, "go", "sqs", aws, "-queue-url", queueURL, "-endpoint", srv.Endpoint())
	example(t, "node", "sqs", append(aws, "QUEUE_URL="+queueURL, "SQS_ENDPOINT="+srv.Endpoint()))
	if left := (&sqstest.Reader{Server: srv, URL: queueURL}).Read(t, 0); len(left) != 0 {
		t.Errorf("%d messages left: the examples did not delete", len(left))
	}
}

// The Go NATS example reads from a production-like server: TLS with a private CA, a
// client certificate, and a .creds user of its own.
func TestConsumerExampleNATSWithTLSAndCreds(t *testing.T) {
	t.Parallel()
	s := startSecuredNATS(t)
	b := startBridge(t, s.env())
	if r := b.post(t, sample, "ex-nats-tls-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	example(t, "go", "nats", nil, "-url", s.Server.URL(), "-ca", s.CA.File,
		"-cert", s.Client.CertFile, "-key", s.Client.KeyFile, "-creds", s.Consumer, "-consumer", "ex-go-tls")
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
		if out := example(t, "go", "nats", nil, "-url", "nats://"+natsAddr, "-consumer", "ex-otel"); !strings.Contains(out, want) {
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
		if out := example(t, "go", "rabbitmq", nil, "-url", url, "-queue", queue); !strings.Contains(out, want) {
			t.Errorf("example output lacks %q", want)
		}
	})
}
