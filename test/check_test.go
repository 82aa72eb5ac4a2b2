package test

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/bridgetest"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// `bridge check` with the environment the bridge would run with: one line per check
// on stdout, exit 0 when nothing failed and 2 otherwise, nothing published, nothing
// created, no secret printed.

// checkRun runs `bridge check` with baseEnv(env) and returns its exit status and
// lines.
func checkRun(t *testing.T, env map[string]string) (int, []string) {
	t.Helper()
	code, stdout, stderr := run(t, baseEnv(t, env), "check")
	if stderr != "" {
		t.Errorf("bridge check wrote to stderr: %s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	t.Logf("exit %d:\n%s", code, stdout)
	return code, lines
}

// want fails t unless lines has a line that begins with status + "  " + prefix and
// contains every one of says.
func want(t *testing.T, lines []string, status, prefix string, says ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.HasPrefix(l, status+strings.Repeat(" ", 6-len(status))+prefix) {
			continue
		}
		for _, s := range says {
			if !strings.Contains(l, s) {
				t.Errorf("line %q does not say %q", l, s)
			}
		}
		return
	}
	t.Errorf("no %q line for %q in:\n%s", status, prefix, strings.Join(lines, "\n"))
}

func noFailure(t *testing.T, code int, lines []string) {
	t.Helper()
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "FAIL") {
			t.Errorf("a failure: %s", l)
		}
	}
}

func TestCheckNATS(t *testing.T) {
	t.Parallel()
	users := []*server.User{
		natstest.User("bridge", "bridge-pw-41c9", []string{"audiospliter.>", "$JS.API.>"}, []string{"_INBOX.>"}),
		natstest.User("admin", "admin-pw", nil, nil),
	}
	ns := natstest.StartSecure(t, natstest.Secure{Users: users})
	bridgeURL := strings.Replace(ns.URL(), "://", "://bridge:bridge-pw-41c9@", 1)
	adminURL := strings.Replace(ns.URL(), "://", "://admin:admin-pw@", 1)

	t.Run("healthy, stream missing", func(t *testing.T) {
		code, lines := checkRun(t, map[string]string{"BRIDGE_NATS_URL": bridgeURL})
		noFailure(t, code, lines)
		want(t, lines, "ok", "configuration", "sink nats")
		want(t, lines, "ok", "webhook secrets", "1 from BRIDGE_WEBHOOK_SECRET")
		want(t, lines, "ok", "connect nats://bridge:xxxxx@", "auth url")
		want(t, lines, "ok", "jetstream", "the account has JetStream")
		want(t, lines, "ok", "stream AUDIOSPLITER", "missing: the bridge creates it", "audiospliter.>")
		want(t, lines, "ok", "publish to audiospliter.job.completed", "nothing stored")
		// It created nothing.
		nc, err := nats.Connect(adminURL)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.Stream(t.Context(), "AUDIOSPLITER"); err == nil {
			t.Error("check created the stream")
		}
	})
	t.Run("subject prefix not allowed", func(t *testing.T) {
		code, lines := checkRun(t, map[string]string{"BRIDGE_NATS_URL": bridgeURL, "BRIDGE_NATS_SUBJECT_PREFIX": "other"})
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		want(t, lines, "FAIL", "publish to other.job.completed", "BRIDGE_NATS_URL", `Permissions Violation for Publish to "other.job.completed"`)
	})
	t.Run("a stream with other subjects", func(t *testing.T) {
		createStream(t, adminURL, "ORDERS", "orders.>")
		code, lines := checkRun(t, map[string]string{"BRIDGE_NATS_URL": bridgeURL, "BRIDGE_NATS_STREAM": "ORDERS"})
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		want(t, lines, "FAIL", "stream ORDERS", "BRIDGE_NATS_STREAM", "exists", "[orders.>]", "BRIDGE_NATS_SUBJECT_PREFIX")
	})
	t.Run("an existing stream", func(t *testing.T) {
		createStream(t, adminURL, "EXISTING", "existing.>")
		code, lines := checkRun(t, map[string]string{"BRIDGE_NATS_URL": bridgeURL, "BRIDGE_NATS_STREAM": "EXISTING", "BRIDGE_NATS_SUBJECT_PREFIX": "existing"})
		if code != 2 { // the user may not publish on existing.>
			t.Errorf("exit %d, want 2", code)
		}
		want(t, lines, "ok", "stream EXISTING", "subjects [existing.>]", "0 messages")
	})
	t.Run("wrong password", func(t *testing.T) {
		code, lines := checkRun(t, map[string]string{"BRIDGE_NATS_URL": strings.Replace(bridgeURL, "bridge-pw-41c9", "wrong-pw-41c9", 1)})
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		want(t, lines, "FAIL", "connect", "BRIDGE_NATS_URL", "refused the credentials")
		for _, l := range lines {
			if strings.Contains(l, "pw-41c9") {
				t.Errorf("a password on a line: %s", l)
			}
		}
	})
	t.Run("closed port", func(t *testing.T) {
		code, lines := checkRun(t, map[string]string{"BRIDGE_NATS_URL": "nats://" + closedAddr(t)})
		if code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
		want(t, lines, "FAIL", "connect", "connection refused")
	})
}

func TestCheckEmbeddedNATS(t *testing.T) {
	t.Parallel()
	code, lines := checkRun(t, nil)
	noFailure(t, code, lines)
	want(t, lines, "ok", "embedded server", "can listen on 127.0.0.1:")

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	code, lines = checkRun(t, map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": taken.Addr().String()})
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	want(t, lines, "FAIL", "embedded server", "BRIDGE_NATS_EMBEDDED_LISTEN", "address already in use")
}

// What fails before any broker is asked: the configuration, the HTTPS pair; and a
// misspelt variable is named.
func TestCheckConfiguration(t *testing.T) {
	t.Parallel()
	code, lines := checkRun(t, map[string]string{"BRIDGE_WEBHOOK_SECRET": "", "BRIDGE_NATS_STREEM": "X"})
	if code != 2 || len(lines) != 2 {
		t.Errorf("exit %d with %d lines, want 2 with the warning and the configuration's failure", code, len(lines))
	}
	want(t, lines, "warn", "variables", "BRIDGE_NATS_STREEM", "did you mean BRIDGE_NATS_STREAM?")
	want(t, lines, "FAIL", "configuration", "BRIDGE_WEBHOOK_SECRET: is required")

	ca := certs.NewCA(t, "bridge CA")
	pair := ca.Server(t, "127.0.0.1")
	code, lines = checkRun(t, map[string]string{"BRIDGE_TLS_CERT_FILE": pair.CertFile, "BRIDGE_TLS_KEY_FILE": pair.KeyFile})
	noFailure(t, code, lines)
	want(t, lines, "ok", "HTTPS certificate", "127.0.0.1", "valid until")
	other := ca.Server(t, "127.0.0.1")
	code, lines = checkRun(t, map[string]string{"BRIDGE_TLS_CERT_FILE": pair.CertFile, "BRIDGE_TLS_KEY_FILE": other.KeyFile})
	if code != 2 {
		t.Errorf("a key of another certificate: exit %d, want 2", code)
	}
	want(t, lines, "FAIL", "HTTPS certificate", "BRIDGE_TLS_CERT_FILE", "private key does not match")

	// The listen address: free, or taken (a warning: the holder is most often the
	// bridge itself, checked beside it).
	addr := testkit.FreeAddr(t)
	code, lines = checkRun(t, map[string]string{"BRIDGE_LISTEN_ADDR": addr})
	noFailure(t, code, lines)
	want(t, lines, "ok", "listen address", addr+" is free")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, lines = checkRun(t, map[string]string{"BRIDGE_LISTEN_ADDR": addr})
	noFailure(t, code, lines)
	want(t, lines, "warn", "listen address", "BRIDGE_LISTEN_ADDR", "address already in use", "would exit 2")
}

func TestCheckRabbitMQ(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	exchange, queue := apptest.RabbitNames(t, url)
	env := map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": url, "BRIDGE_RABBITMQ_EXCHANGE": exchange, "BRIDGE_RABBITMQ_QUEUE": queue}

	code, lines := checkRun(t, env)
	noFailure(t, code, lines)
	want(t, lines, "ok", "connect amqp://guest:xxxxx@", "RabbitMQ", "auth PLAIN")
	want(t, lines, "ok", "exchange "+exchange, "missing: the bridge declares it")
	want(t, lines, "ok", "queue "+queue, "missing: the bridge declares it")
	want(t, lines, "skip", "publish to "+exchange, "does not exist yet")
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclarePassive(exchange, "topic", true, false, false, false, nil); err == nil {
		t.Error("check declared the exchange")
	}

	// The bridge ran once: the topology exists, and the user may publish.
	b := startBridge(t, env)
	b.stop(t)
	code, lines = checkRun(t, env)
	noFailure(t, code, lines)
	want(t, lines, "ok", "exchange "+exchange, "exists")
	want(t, lines, "ok", "queue "+queue, "exists: 0 messages")
	want(t, lines, "ok", "publish to "+exchange+" with routing key job.completed", "nothing routed")

	// A cluster with one node away (a rolling upgrade): the bridge starts on the
	// other, so check warns and exits 0; an init container must not hold pods back.
	away := "amqp://guest:guest@" + testkit.FreeAddr(t) + "/"
	env["BRIDGE_RABBITMQ_URL"] = url + "," + away
	code, lines = checkRun(t, env)
	noFailure(t, code, lines)
	want(t, lines, "warn", "connect amqp://guest:xxxxx@", "connection refused", "the bridge connects to a node that answers")
	want(t, lines, "ok", "publish to "+exchange)

	env["BRIDGE_RABBITMQ_URL"] = strings.Replace(url, "guest:guest", "guest:wrong", 1)
	code, lines = checkRun(t, env)
	if code != 2 {
		t.Errorf("wrong password: exit %d, want 2", code)
	}
	want(t, lines, "FAIL", "connect", "BRIDGE_RABBITMQ_URL", "refused the user name or password")
}

// A user without write permission (a private node, rabbitmqctl): the publish check
// fails, naming the refusal.
func TestCheckRabbitMQWithoutWritePermission(t *testing.T) {
	t.Parallel()
	node := rabbittest.StartNode(t, rabbittest.Options{})
	node.Ctl(t, "add_user", "bridge", "bridge-pw")
	node.Ctl(t, "set_permissions", "-p", "/", "bridge", ".*", `^audiospliter\.events$`, ".*")
	env := map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": node.URL}
	b := startBridge(t, env) // declares the topology as guest
	b.stop(t)
	env["BRIDGE_RABBITMQ_URL"] = strings.Replace(node.URL, "guest:guest", "bridge:bridge-pw", 1)
	code, lines := checkRun(t, env)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	want(t, lines, "ok", "exchange audiospliter", "exists")
	want(t, lines, "FAIL", "publish to audiospliter", "ACCESS_REFUSED")
}

func TestCheckSQS(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, true, nil)
	env := map[string]string{"BRIDGE_SINK": "sqs", "BRIDGE_SQS_ENDPOINT": srv.Endpoint(), "BRIDGE_SQS_QUEUE_URL": queueURL}
	for k, v := range awsEnv {
		env[k] = v
	}
	code, lines := checkRun(t, env)
	noFailure(t, code, lines)
	want(t, lines, "ok", "AWS region and credentials", "region us-east-1")
	want(t, lines, "ok", "queue "+queueURL, "FIFO", "MaximumMessageSize")
	want(t, lines, "skip", "send to the queue", "SQS cannot tell")

	srv.DeleteQueue(t, queueURL)
	code, lines = checkRun(t, env)
	if code != 2 {
		t.Errorf("deleted queue: exit %d, want 2", code)
	}
	want(t, lines, "FAIL", "queue "+queueURL, "BRIDGE_SQS_QUEUE_URL", "does not exist")
}

// With a senders file: one line per sender (scheme, path, how many secrets, route,
// its exchange), its own RabbitMQ exchange looked up like the default one; a
// mistake in the file fails the configuration line naming the sender and field.
func TestCheckSenders(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	exchange, queue := apptest.RabbitNames(t, url)
	billingExchange, _ := apptest.RabbitNames(t, url)
	five := bridgetest.FiveSenders()
	five[3].Destination = "rabbitmq:\n  exchange: " + billingExchange
	dir := t.TempDir()
	file := bridgetest.WriteSendersFile(t, dir, five)
	env := baseEnv(t, map[string]string{"BRIDGE_SINK": "rabbitmq", "BRIDGE_RABBITMQ_URL": url, "BRIDGE_RABBITMQ_EXCHANGE": exchange,
		"BRIDGE_RABBITMQ_QUEUE": queue, "BRIDGE_SENDERS_FILE": file})
	delete(env, "BRIDGE_WEBHOOK_SECRET")
	code, stdout, stderr := run(t, env, "check")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	t.Logf("exit %d:\n%s%s", code, stdout, stderr)
	noFailure(t, code, lines)
	want(t, lines, "ok", "configuration", "5 senders from BRIDGE_SENDERS_FILE")
	want(t, lines, "ok", "sender billing", "scheme stripe on /webhooks/stripe", "1 secrets from", "tolerance 5m0s", "exchange "+billingExchange)
	want(t, lines, "ok", "sender audiospliter", "route {event}")
	want(t, lines, "ok", "exchange "+billingExchange+" (sender billing)", "missing: the bridge declares it")
	for _, s := range five {
		if strings.Contains(stdout, s.Secret) {
			t.Errorf("check printed %s's secret", s.Name)
		}
	}

	data, _ := os.ReadFile(file)
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), "scheme: github", "scheme: gitlab", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, env, "check")
	if code != 2 || !strings.Contains(stdout, "FAIL  configuration: BRIDGE_SENDERS_FILE") || !strings.Contains(stdout, `sender "github": scheme`) {
		t.Errorf("a mistake in the file: exit %d\n%s", code, stdout)
	}
}
