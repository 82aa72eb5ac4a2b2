package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit/certs"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// `sendhook check` against the real brokers: it must not take away what it checks
// unless told to with -drain.

func ackedFile(t *testing.T, ids []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acked.txt")
	if err := os.WriteFile(path, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// Run twice on a stream with a durable consumer and on a work-queue stream (where
// anything acknowledged is removed): both runs find everything, and the streams
// and the consumer are left as they were.
func TestCheckNATSReadsWithoutConsuming(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	for _, retention := range []jetstream.RetentionPolicy{jetstream.LimitsPolicy, jetstream.WorkQueuePolicy} {
		t.Run(retention.String(), func(t *testing.T) {
			name := fmt.Sprintf("CHECK_%d", retention)
			subject := strings.ToLower(name) + ".job.completed"
			st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}, Retention: retention})
			if err != nil {
				t.Fatal(err)
			}
			sent := ids(name, 50)
			for _, id := range sent {
				if _, err := js.Publish(ctx, subject, []byte(`{"event":"job.completed"}`), jetstream.WithMsgID(id)); err != nil {
					t.Fatal(err)
				}
			}
			cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "app", AckPolicy: jetstream.AckExplicitPolicy})
			if err != nil {
				t.Fatal(err)
			}
			acked := ackedFile(t, sent)
			for run := 1; run <= 2; run++ {
				code, out, errOut := sendhook(t, "check", "-acked", acked, "-sink", "nats", "-nats-url", srv.URL(), "-stream", name)
				if code != 0 || !strings.Contains(out, "lost: 0") || !strings.Contains(out, "found: 50 distinct") {
					t.Fatalf("run %d: exit %d: %s %s", run, code, out, errOut)
				}
			}
			info, err := st.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != 50 || info.State.Consumers != 1 {
				t.Errorf("after two checks: %d messages, %d consumers; want 50 and the application's 1", info.State.Msgs, info.State.Consumers)
			}
			ci, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ci.NumPending != 50 || ci.Delivered.Stream != 0 || ci.AckFloor.Stream != 0 {
				t.Errorf("the application's consumer moved: pending %d, delivered %d, ack floor %d", ci.NumPending, ci.Delivered.Stream, ci.AckFloor.Stream)
			}
		})
	}
}

func TestCheckRabbitMQRefusesWithoutDrain(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	queue := fmt.Sprintf("sendhook-check.%d", time.Now().UnixNano())
	if _, err := ch.QueueDeclare(queue, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	sent := ids("rmq-check", 20)
	for _, id := range sent {
		if err := ch.PublishWithContext(t.Context(), "", queue, false, false, amqp.Publishing{MessageId: id, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	depth := func() int {
		q, err := ch.QueueDeclarePassive(queue, false, true, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return q.Messages
	}
	waitDepth(t, depth, 20)
	acked := ackedFile(t, sent)
	args := []string{"check", "-acked", acked, "-sink", "rabbitmq", "-rabbitmq-url", url, "-queue", queue, "-quiet", "500ms"}

	code, out, errOut := sendhook(t, args...)
	if code != 2 || !strings.Contains(errOut, "-drain") || !strings.Contains(errOut, "taking every message off") {
		t.Errorf("without -drain: exit %d, stdout %q, stderr %q; want exit 2 saying that checking consumes and -drain does it", code, out, errOut)
	}
	if n := depth(); n != 20 {
		t.Fatalf("without -drain the queue went from 20 to %d messages", n)
	}

	code, out, errOut = sendhook(t, append(args, "-drain")...)
	if code != 0 || !strings.Contains(out, "lost: 0") || !strings.Contains(errOut, "consumers will not get them") {
		t.Errorf("with -drain: exit %d, stdout %q, stderr %q; want lost: 0 and a warning", code, out, errOut)
	}
	if n := depth(); n != 0 {
		t.Errorf("with -drain %d messages are left", n)
	}
}

func waitDepth(t *testing.T, depth func() int, want int) {
	t.Helper()
	var got int
	if !testkit.Poll(10*time.Second, func() bool { got = depth(); return got == want }) {
		t.Fatalf("queue depth %d after 10 s, want %d", got, want)
	}
}

// Also: with a local endpoint it needs no region and asks no instance metadata
// service, as the bridge; a message another consumer holds is reported as in
// flight.
func TestCheckSQSRefusesWithoutDrain(t *testing.T) {
	// Not in parallel: sqstest.Env and the AWS variables it sets are the process environment.
	sqstest.Env(t)
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, false, nil)
	c := srv.Client(t)
	sent := ids("sqs-check", 15)
	for _, id := range sent {
		if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("{}"),
			MessageAttributes: map[string]types.MessageAttributeValue{"ce-id": {DataType: aws.String("String"), StringValue: aws.String(id)}}}); err != nil {
			t.Fatal(err)
		}
	}
	// What the bridge needs with an endpoint, no more: keys, no region, and an
	// instance metadata service that is not switched off.
	t.Setenv("AWS_REGION", "")
	os.Unsetenv("AWS_REGION")
	os.Unsetenv("AWS_EC2_METADATA_DISABLED")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	acked := ackedFile(t, sent)
	args := []string{"check", "-acked", acked, "-sink", "sqs", "-sqs-queue-url", queueURL, "-sqs-endpoint", srv.Endpoint(), "-quiet", "500ms"}

	code, out, errOut := sendhook(t, args...)
	if code != 2 || !strings.Contains(errOut, "-drain") {
		t.Errorf("without -drain: exit %d, stdout %q, stderr %q; want exit 2 naming -drain", code, out, errOut)
	}
	if n := visible(t, c, queueURL); n != 15 {
		t.Fatalf("without -drain %d of 15 messages are visible", n)
	}

	// Another consumer holds one message: it is reported as in flight.
	held, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 1, VisibilityTimeout: 60})
	if err != nil || len(held.Messages) != 1 {
		t.Fatalf("receive: %v", err)
	}
	start := time.Now()
	code, out, errOut = sendhook(t, append(args, "-drain")...)
	if time.Since(start) > 15*time.Second {
		t.Errorf("check took %s: did it wait for an instance metadata service?", time.Since(start))
	}
	if code != 1 || !strings.Contains(out, "found: 14 distinct") || !strings.Contains(out, "lost: 1") {
		t.Errorf("with -drain and one message held elsewhere: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "1 message(s) on the queue are in flight") || !strings.Contains(errOut, "consumers will not get them") {
		t.Errorf("stderr %q: want the -drain warning and the in-flight note", errOut)
	}
	if n := visible(t, c, queueURL); n != 0 {
		t.Errorf("with -drain %d messages are still visible", n)
	}
}

func visible(t *testing.T, c *sqs.Client, queueURL string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCheckUsage(t *testing.T) {
	t.Parallel()
	acked := ackedFile(t, []string{"x"})
	if code, _, errOut := sendhook(t, "check", "-acked", acked, "-sink", "kafka"); code != 2 || !strings.Contains(errOut, "kafka") {
		t.Errorf("unknown sink: exit %d %q", code, errOut)
	}
	if code, _, errOut := sendhook(t, "check", "-sink", "nats"); code != 2 || !strings.Contains(errOut, "-acked") {
		t.Errorf("no -acked: exit %d %q", code, errOut)
	}
}

// check reads a stream on a production-like server: TLS that verifies clients and a
// .creds user, given the same files as the bridge.
func TestCheckNATSWithTLSAndCreds(t *testing.T) {
	t.Parallel()
	ca := certs.NewCA(t, "nats CA")
	srvCert, client := ca.Server(t), ca.Client(t, "sendhook")
	auth := natstest.NewAuth(t)
	creds := auth.Creds(t, "checker")
	srv := natstest.StartSecure(t, natstest.Secure{Cert: &srvCert, ClientCA: ca, Auth: auth})
	nc, err := nats.Connect(srv.URL(), nats.RootCAs(ca.File), nats.ClientCert(client.CertFile, client.KeyFile), nats.UserCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "SECURE", Subjects: []string{"secure.>"}}); err != nil {
		t.Fatal(err)
	}
	sent := ids("secure", 10)
	for _, id := range sent {
		if _, err := js.Publish(t.Context(), "secure.job.completed", []byte(`{}`), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"check", "-acked", ackedFile(t, sent), "-nats-url", srv.URL(), "-stream", "SECURE",
		"-nats-ca", ca.File, "-nats-cert", client.CertFile, "-nats-key", client.KeyFile}
	if code, out, errOut := sendhook(t, append(args, "-nats-creds", creds)...); code != 0 || !strings.Contains(out, "found: 10 distinct") {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if code, out, _ := sendhook(t, args...); code == 0 {
		t.Fatalf("without credentials: exit 0: %s", out)
	}
}

// Run with the bridge's environment, check reads the bridge's stream (no -stream,
// no -nats-url), lists the unexpected ids (at most 20, then how many more), and
// when the stream is not there says which streams there are and what to do.
func TestCheckReadsTheBridgesVariables(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "BRIDGED", Subjects: []string{"bridged.>"}}); err != nil {
		t.Fatal(err)
	}
	onBroker := ids("on", 30)
	for _, id := range onBroker {
		if _, err := js.Publish(t.Context(), "bridged.job.completed", []byte(`{}`), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	// Acked: the first 5 on the broker and one that is not; 25 others are unexpected.
	acked := ackedFile(t, append(slices.Clone(onBroker[:5]), "lost-1"))
	env := map[string]string{"BRIDGE_NATS_URL": srv.URL(), "BRIDGE_NATS_STREAM": "BRIDGED"}
	code, out, errOut := sendhookEnv(t, env, "check", "-acked", acked)
	if code != 1 || !strings.Contains(out, "found: 30 distinct  lost: 1") || !strings.Contains(out, "lost: lost-1\n") {
		t.Fatalf("exit %d, want 1 with one lost: %s %s", code, out, errOut)
	}
	unexpected := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "unexpected: ") {
			unexpected++
		}
	}
	if unexpected != 20 || !strings.Contains(out, "unexpected: on-10\n") || !strings.Contains(out, "… and 5 more unexpected") {
		t.Errorf("want the first 20 unexpected ids and the count of the rest:\n%s", out)
	}

	env["BRIDGE_NATS_STREAM"] = "MISSING"
	code, _, errOut = sendhookEnv(t, env, "check", "-acked", acked)
	for _, want := range []string{"stream MISSING not found", "its streams: BRIDGED", "-stream", "BRIDGE_NATS_STREAM"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stream not found: exit %d, %q does not say %q", code, errOut, want)
		}
	}
	if code == 0 {
		t.Error("stream not found: exit 0")
	}
	// A flag overrides its variable.
	if code, out, errOut := sendhookEnv(t, env, "check", "-acked", acked, "-stream", "BRIDGED"); code != 1 || !strings.Contains(out, "found: 30 distinct") {
		t.Errorf("-stream over BRIDGE_NATS_STREAM: exit %d %s %s", code, out, errOut)
	}
}

// The embedded server's address and token, as the bridge's variables give them.
func TestCheckFindsTheEmbeddedServer(t *testing.T) {
	env := bridgeEnv(func(k string) string {
		return map[string]string{"BRIDGE_NATS_EMBEDDED_LISTEN": "0.0.0.0:4333", "BRIDGE_NATS_EMBEDDED_TOKEN": "t0k"}[k]
	})
	if url, err := env.natsURL(""); err != nil || url != "nats://t0k@127.0.0.1:4333" {
		t.Errorf("natsURL = %q, %v", url, err)
	}
	if url, _ := env.natsURL("nats://given:4222"); url != "nats://given:4222" {
		t.Errorf("a -nats-url given: %q", url)
	}
	if url, _ := bridgeEnv(func(string) string { return "" }).natsURL(""); url != "nats://127.0.0.1:4222" {
		t.Errorf("nothing set: %q", url)
	}
}
