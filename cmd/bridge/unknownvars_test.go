package main

import (
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

func TestClosestName(t *testing.T) {
	t.Parallel()
	names := make([]string, 0, 64)
	for _, v := range config.Variables() {
		names = append(names, v.Name)
	}
	cases := map[string]string{
		"BRIDGE_SINKK":              "BRIDGE_SINK",
		"BRIDGE_SNIK":               "BRIDGE_SINK",
		"BRIDGE_LOGLEVEL":           "BRIDGE_LOG_LEVEL",
		"BRIDGE_RABBIT_URL":         "BRIDGE_RABBITMQ_URL",
		"BRIDGE_RABBITMQ_QUEUETYPE": "BRIDGE_RABBITMQ_QUEUE_TYPE",
		"BRIDGE_WEBHOOK_SECRETS":    "BRIDGE_WEBHOOK_SECRET",
		"BRIDGE_SECRET":             "BRIDGE_WEBHOOK_SECRET",
		"BRIDGE_NATS_TOKEN":         "BRIDGE_NATS_EMBEDDED_TOKEN",
		"BRIDGE_SQS_QUEUE":          "BRIDGE_SQS_QUEUE_URL",
		"BRIDGE_PUBLISH_TIMEOUT_MS": "BRIDGE_PUBLISH_TIMEOUT",
		"BRIDGE_COLOUR":             "",
		"BRIDGE_X":                  "",
	}
	for name, want := range cases {
		if got := closestName(name, names); got != want {
			t.Errorf("closestName(%s) = %q, want %q", name, got, want)
		}
	}
}
