package app_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
	"github.com/audiospliter/audiospliter-bridge/internal/app/apptest"
	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/testkit"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs/sqstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs/natstest"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq/rabbittest"
)

// metricValue scrapes /metrics and returns the value of the series whose line starts
// with series (name and labels as exposed), or -1 when it is missing.
func (r *running) metricValue(t *testing.T, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(r.get(t, "/metrics").Body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// The per-sink series count what the broker did: RabbitMQ's returns, confirm round
// trips, and the ready gauge that follows /readyz.
func TestSinkMetricsRabbitMQ(t *testing.T) {
	t.Parallel()
	url := rabbittest.SharedURL(t)
	exchange, _ := apptest.RabbitNames(t, url)
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Rabbitmq.URL = "rabbitmq", url
		c.Rabbitmq.Exchange, c.Rabbitmq.Queue = exchange, "" // nothing bound: every message returns
	})
	if v := b.metricValue(t, `audiospliter_bridge_sink_refused_total{reason="returned",sink="rabbitmq"}`); v != 0 {
		t.Fatalf("returned before any publish = %v, want 0 (exposed from the start)", v)
	}
	if r := b.post(t, sample, "metrics-rmq-1"); r.Status != 502 {
		t.Fatalf("POST of an unroutable message = %d %s, want 502", r.Status, r.Body)
	}
	if v := b.metricValue(t, `audiospliter_bridge_sink_refused_total{reason="returned",sink="rabbitmq"}`); v != 1 {
		t.Errorf("returned = %v, want 1", v)
	}
	if v := b.metricValue(t, `audiospliter_bridge_sink_confirm_duration_seconds_count{sink="rabbitmq"}`); v != 1 {
		t.Errorf("confirm round trips = %v, want 1", v)
	}
	if v := b.metricValue(t, `audiospliter_bridge_ready`); v != 1 {
		t.Errorf("ready = %v, want 1", v)
	}
}

// A NATS server that restarts under the bridge shows as one reconnect, and the ready
// gauge is 0 while it is away.
func TestSinkMetricsNATSReconnect(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	b := startBridge(t, func(c *config.Config) { c.Nats.URL = srv.URL() })
	if r := b.post(t, sample, "metrics-nats-1"); r.Status != 200 {
		t.Fatalf("POST = %d %s", r.Status, r.Body)
	}
	if v := b.metricValue(t, `audiospliter_bridge_sink_reconnects_total{sink="nats"}`); v != 0 {
		t.Fatalf("reconnects = %v before any outage", v)
	}
	srv.Stop()
	// The sink is asked at most once a second, for the gauge as for /readyz.
	testkit.Eventually(t, bridge.ReadyEvery+5*time.Second, func() bool { return b.metricValue(t, `audiospliter_bridge_ready`) == 0 },
		"ready gauge still 1 with the server down")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 15*time.Second, func() bool {
		return b.metricValue(t, `audiospliter_bridge_sink_reconnects_total{sink="nats"}`) == 1
	}, "no reconnect counted after the server's return")
	if v := b.metricValue(t, `audiospliter_bridge_sink_confirm_duration_seconds_count{sink="nats"}`); v < 1 {
		t.Errorf("confirm round trips = %v, want at least 1", v)
	}
}

// Each SQS call records how many entries it carried.
func TestSinkMetricsSQSBatch(t *testing.T) {
	t.Parallel()
	srv := sqstest.Start(t)
	queueURL := srv.CreateQueue(t, false, nil)
	b := startBridge(t, func(c *config.Config) {
		c.Sink, c.Sqs.Endpoint, c.Sqs.QueueURL = "sqs", srv.Endpoint(), queueURL
	})
	for _, id := range []string{"metrics-sqs-1", "metrics-sqs-2", "metrics-sqs-3"} {
		if r := b.post(t, sample, id); r.Status != 200 {
			t.Fatalf("POST = %d %s", r.Status, r.Body)
		}
	}
	// One at a time: three calls of one entry each.
	if v := b.metricValue(t, `audiospliter_bridge_sink_batch_entries_count{sink="sqs"}`); v != 3 {
		t.Errorf("batch calls = %v, want 3", v)
	}
	if v := b.metricValue(t, `audiospliter_bridge_sink_batch_entries_sum{sink="sqs"}`); v != 3 {
		t.Errorf("batch entries = %v, want 3", v)
	}
}
