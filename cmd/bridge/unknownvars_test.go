package main

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestClosestName(t *testing.T) {
	names := make([]string, 0, 64)
	for _, v := range variables() {
		names = append(names, v.name)
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

// logLines decodes the bridge's JSON log.
func logLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	return lines
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
	const hidden = "hunter2-in-an-unknown-variable"
	b := startBridge(t, map[string]string{
		"BRIDGE_NATS_EMBEDDED_LISTEN": freeAddr(t),
		"BRIDGE_DATA_DIR":             t.TempDir(),
		"BRIDGE_SINKK":                "rabbitmq",
		"BRIDGE_RABBITMQ_PASSWORD":    hidden,
		"BRIDGE_COLOUR":               "blue",
		"BRIDGE_TEST_RABBITMQ_URL":    "amqp://guest:guest@127.0.0.1:5672/",
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
	const value = "whsec-misspelt-0123456789"
	setEnv(t, map[string]string{"BRIDGE_WEBHOOK_SECRTE": value})
	var stderr lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if code := run(ctx, &stderr, func(string) { t.Error("bridge started listening") }); code != exitConfig {
		t.Fatalf("exit %d, want 2:\n%s", code, stderr.String())
	}
	logs := stderr.String()
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
