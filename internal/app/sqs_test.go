package app_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
)

func TestEndToEndSQS(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	for _, fifo := range []bool{false, true} {
		url := srv.CreateQueue(t, fifo, nil)
		b := startBridge(t, func(c *config.Config) { c.Sink, c.Sqs.Endpoint, c.Sqs.QueueURL = "sqs", srv.Endpoint(), url })
		if r := b.post(t, sample, "sqs-e2e-1"); r.Status != 200 {
			t.Fatalf("fifo=%v: POST = %d %s", fifo, r.Status, r.Body)
		}
		if r := b.post(t, sample, "sqs-e2e-1"); r.Status != 200 || !bytes.Contains([]byte(r.Body), []byte(`"duplicate":true`)) {
			t.Fatalf("fifo=%v: repeated POST = %d %s", fifo, r.Status, r.Body)
		}
		got := (&sqstest.Reader{Server: srv, URL: url}).Read(t, 1) // returns once the queue is empty, in flight included
		if len(got) != 1 {
			t.Fatalf("fifo=%v: %d messages on the queue, want 1", fifo, len(got))
		}
		m := got[0]
		if aws.ToString(m.Body) != string(sample) {
			t.Errorf("fifo=%v: body differs", fifo)
		}
		want := map[string]string{
			"ce-specversion": "1.0", "ce-id": "sqs-e2e-1", "ce-type": "com.audiospliter.job.completed",
			"ce-source": "audiospliter", "content-type": "application/json", "audiospliter-delivery": "sqs-e2e-1",
			"audiospliter-event": "job.completed", "audiospliter-signature": bridge.Sign(testSecret, sample),
			"audiospliter-job-id": "job_8f3a2c1e",
		}
		for k, v := range want {
			if got := aws.ToString(m.MessageAttributes[k].StringValue); got != v {
				t.Errorf("fifo=%v: attribute %s = %q, want %q", fifo, k, got, v)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, aws.ToString(m.MessageAttributes["ce-time"].StringValue)); err != nil {
			t.Errorf("fifo=%v: ce-time: %v", fifo, err)
		}
		flat := map[string]string{}
		for k, v := range m.MessageAttributes {
			flat[k] = aws.ToString(v.StringValue)
		}
		apptest.AssertSchema(t, flat)
		if len(m.MessageAttributes) != 10 {
			t.Errorf("fifo=%v: %d attributes, want 10", fifo, len(m.MessageAttributes))
		}
		if fifo && (m.Attributes["MessageDeduplicationId"] != "sqs-e2e-1" || m.Attributes["MessageGroupId"] != "job_8f3a2c1e") {
			t.Errorf("FIFO ids = %v", m.Attributes)
		}
		if err := b.stop(t); err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	}
}

func TestSQSEndpointAwayAndBack(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, false, nil)
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Sqs.Endpoint, c.Sqs.QueueURL = "sqs", srv.Endpoint(), url
		c.PublishTimeout = time.Second
	})
	if r := b.post(t, sample, "sqs-before"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	srv.Stop()
	waitStatus(t, b, "/readyz", 503)
	// /readyz is anonymous: a fixed reason, nothing of the SDK's error (which names
	// the endpoint and the queue); the detail is in the log.
	if r := b.get(t, "/readyz"); r.Body != `{"ready":false,"reason":"broker_unavailable"}` {
		t.Errorf("/readyz with the endpoint down = %s", r.Body)
	}
	if !strings.Contains(b.stderr.String(), `"msg":"not ready","reason":"broker_unavailable","err":"awssqs: queue not reachable`) {
		t.Errorf("no log line with the detail:\n%s", b.stderr.String())
	}
	start := time.Now()
	r := b.post(t, sample, "sqs-during")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answered after %s; the publish timeout is 1s", took)
	}
	if r.Status != 503 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("POST with the endpoint down = %d (Retry-After %q) %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The local server keeps nothing: recreate the queue under the same name.
	srv.CreateNamedQueue(t, url[strings.LastIndex(url, "/")+1:], nil)
	waitStatus(t, b, "/readyz", 200)
	if r := b.post(t, sample, "sqs-during"); r.Status != 200 {
		t.Fatalf("POST after the endpoint came back = %d %s", r.Status, r.Body)
	}
	got := (&sqstest.Reader{Server: srv, URL: url}).Read(t, 1)
	if len(got) != 1 || aws.ToString(got[0].MessageAttributes["ce-id"].StringValue) != "sqs-during" {
		t.Fatalf("queue after recovery holds %d messages", len(got))
	}
}
