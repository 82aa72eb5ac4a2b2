package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
)

func TestEndToEndSQS(t *testing.T) {
	srv := sqstest.Start(t)
	for _, fifo := range []bool{false, true} {
		sqstest.Env(t)
		url := srv.CreateQueue(t, fifo, nil)
		env := map[string]string{
			"BRIDGE_SINK":          "sqs",
			"BRIDGE_SQS_ENDPOINT":  srv.Endpoint(),
			"BRIDGE_SQS_QUEUE_URL": url,
		}
		b := startBridge(t, env)
		sqstest.Env(t) // startBridge resets only BRIDGE_* variables; keep the AWS ones
		if r := b.post(t, sample, "sqs-e2e-1"); r.status != 200 {
			t.Fatalf("fifo=%v: POST = %d %s", fifo, r.status, r.body)
		}
		if r := b.post(t, sample, "sqs-e2e-1"); r.status != 200 || !bytes.Contains([]byte(r.body), []byte(`"duplicate":true`)) {
			t.Fatalf("fifo=%v: repeated POST = %d %s", fifo, r.status, r.body)
		}
		got := (&sqstest.Reader{Server: srv, URL: url}).Read(t, 1)
		time.Sleep(100 * time.Millisecond)
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
		assertSchema(t, flat)
		if len(m.MessageAttributes) != 10 {
			t.Errorf("fifo=%v: %d attributes, want 10", fifo, len(m.MessageAttributes))
		}
		if fifo && (m.Attributes["MessageDeduplicationId"] != "sqs-e2e-1" || m.Attributes["MessageGroupId"] != "job_8f3a2c1e") {
			t.Errorf("FIFO ids = %v", m.Attributes)
		}
		if code := b.stop(t); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
}

func TestSQSEndpointAwayAndBack(t *testing.T) {
	sqstest.Env(t)
	srv := sqstest.Start(t)
	url := srv.CreateQueue(t, false, nil)
	b := startBridge(t, map[string]string{
		"BRIDGE_SINK":            "sqs",
		"BRIDGE_SQS_ENDPOINT":    srv.Endpoint(),
		"BRIDGE_SQS_QUEUE_URL":   url,
		"BRIDGE_PUBLISH_TIMEOUT": "1s",
	})
	sqstest.Env(t)
	if r := b.post(t, sample, "sqs-before"); r.status != 200 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	}
	srv.Stop()
	waitStatus(t, b, "/readyz", 503)
	start := time.Now()
	r := b.post(t, sample, "sqs-during")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answered after %s; the publish timeout is 1s", took)
	}
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("POST with the endpoint down = %d (Retry-After %q) %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// The local server keeps nothing: recreate the queue under the same name.
	srv.CreateNamedQueue(t, url[strings.LastIndex(url, "/")+1:], nil)
	waitStatus(t, b, "/readyz", 200)
	if r := b.post(t, sample, "sqs-during"); r.status != 200 {
		t.Fatalf("POST after the endpoint came back = %d %s", r.status, r.body)
	}
	got := (&sqstest.Reader{Server: srv, URL: url}).Read(t, 1)
	if len(got) != 1 || aws.ToString(got[0].MessageAttributes["ce-id"].StringValue) != "sqs-during" {
		t.Fatalf("queue after recovery holds %d messages", len(got))
	}
}
