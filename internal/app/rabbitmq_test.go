package app_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

func TestEndToEndRabbitMQ(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	exchange, queue := apptest.RabbitNames(t, url)
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL, c.Rabbitmq.Exchange, c.Rabbitmq.Queue = "rabbitmq", url, exchange, queue
	})
	if r := b.get(t, "/readyz"); r.Status != 200 {
		t.Fatalf("/readyz = %d %s", r.Status, r.Body)
	}
	if r := b.post(t, sample, "rmq-e2e-1"); r.Status != 200 || r.Body != `{"received":true,"deliveryId":"rmq-e2e-1"}` {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if r := b.post(t, sample, "rmq-e2e-1"); r.Status != 200 || r.Body != `{"received":true,"deliveryId":"rmq-e2e-1","duplicate":true}` {
		t.Fatalf("repeated POST = %d %s", r.Status, r.Body)
	}

	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	d, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("queue %s: no message (%v)", queue, err)
	}
	if _, more, _ := ch.Get(queue, true); more {
		t.Error("the repeated POST reached the queue")
	}
	if !bytes.Equal(d.Body, sample) {
		t.Error("body on the queue differs from the request body")
	}
	props := map[string]string{
		"routing key":  d.RoutingKey,
		"message_id":   d.MessageId,
		"type":         d.Type,
		"content_type": d.ContentType,
		"app_id":       d.AppId,
	}
	wantProps := map[string]string{
		"routing key": "job.completed", "message_id": "rmq-e2e-1", "type": "job.completed",
		"content_type": "application/json", "app_id": "audiospliter-bridge",
	}
	for k, v := range wantProps {
		if props[k] != v {
			t.Errorf("%s = %q, want %q", k, props[k], v)
		}
	}
	if d.DeliveryMode != amqp.Persistent || time.Since(d.Timestamp) > time.Minute {
		t.Errorf("delivery mode %d, timestamp %s", d.DeliveryMode, d.Timestamp)
	}
	wantHeaders := map[string]string{
		"ce-specversion": "1.0", "ce-id": "rmq-e2e-1", "ce-type": "com.audiospliter.job.completed",
		"ce-source": "audiospliter", "content-type": "application/json", "audiospliter-delivery": "rmq-e2e-1",
		"audiospliter-event": "job.completed", "audiospliter-signature": bridge.Sign(testSecret, sample),
		"audiospliter-job-id": "job_8f3a2c1e",
	}
	for k, v := range wantHeaders {
		if got, _ := d.Headers[k].(string); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d.Headers["ce-time"])); err != nil {
		t.Errorf("ce-time: %v", err)
	}
	flat := map[string]string{}
	for k, v := range d.Headers {
		flat[k] = fmt.Sprint(v)
	}
	apptest.AssertSchema(t, flat)
}

// With no queue bound the message is unroutable: the sender must not get 200.
func TestUnroutableIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	exchange, _ := apptest.RabbitNames(t, url)
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL, c.Rabbitmq.Exchange, c.Rabbitmq.Queue = "rabbitmq", url, exchange, ""
	})
	r := b.post(t, sample, "rmq-unroutable-1")
	if r.Status != 502 {
		t.Fatalf("POST with nothing bound = %d %s, want 502", r.Status, r.Body)
	}
	// The sender's retry is published again, not answered from the dedup cache.
	if r := b.post(t, sample, "rmq-unroutable-1"); r.Status != 502 {
		t.Fatalf("retry = %d %s, want 502 again", r.Status, r.Body)
	}
}
