package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

// specVariables is the table of docs/configuration.md.
var specVariables = []string{
	"BRIDGE_WEBHOOK_SECRET", "BRIDGE_WEBHOOK_SECRET_FILE", "BRIDGE_LISTEN_ADDR", "BRIDGE_WEBHOOK_PATH", "BRIDGE_SINK",
	"BRIDGE_MAX_BODY_BYTES", "BRIDGE_PUBLISH_TIMEOUT", "BRIDGE_MAX_IN_FLIGHT", "BRIDGE_DEDUP_TTL",
	"BRIDGE_SHUTDOWN_TIMEOUT", "BRIDGE_LOG_LEVEL", "BRIDGE_TLS_CERT_FILE", "BRIDGE_TLS_KEY_FILE",
	"BRIDGE_RABBITMQ_URL", "BRIDGE_RABBITMQ_URL_FILE", "BRIDGE_RABBITMQ_TLS_CA_FILE", "BRIDGE_RABBITMQ_TLS_CERT_FILE",
	"BRIDGE_RABBITMQ_TLS_KEY_FILE", "BRIDGE_RABBITMQ_TLS_SERVER_NAME",
	"BRIDGE_RABBITMQ_EXCHANGE", "BRIDGE_RABBITMQ_QUEUE", "BRIDGE_RABBITMQ_QUEUE_TYPE",
	"BRIDGE_NATS_URL", "BRIDGE_NATS_URL_FILE", "BRIDGE_NATS_CREDS_FILE", "BRIDGE_NATS_NKEY_FILE",
	"BRIDGE_NATS_TLS_CA_FILE", "BRIDGE_NATS_TLS_CERT_FILE", "BRIDGE_NATS_TLS_KEY_FILE", "BRIDGE_NATS_REPLICAS",
	"BRIDGE_NATS_EMBEDDED_SYNC", "BRIDGE_NATS_EMBEDDED_TOKEN",
	"BRIDGE_NATS_STREAM", "BRIDGE_NATS_SUBJECT_PREFIX", "BRIDGE_NATS_EMBEDDED_LISTEN",
	"BRIDGE_DATA_DIR", "BRIDGE_SQS_QUEUE_URL", "BRIDGE_SQS_ENDPOINT", "BRIDGE_CE_SOURCE", "BRIDGE_CE_TYPE_PREFIX",
}

// configVariables lists the variables Config reads, as envconfig derives them.
func configVariables(t *testing.T) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := envconfig.Usagef("BRIDGE", &Config{}, &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, v := range strings.Fields(buf.String()) {
		switch v {
		case "BRIDGE_RABBITMQ", "BRIDGE_RABBITMQ_TLS", "BRIDGE_NATS", "BRIDGE_NATS_TLS", "BRIDGE_SQS", "BRIDGE_CE": // the nested structs themselves
			continue
		}
		vars = append(vars, v)
	}
	return vars
}

func TestConfigReadsExactlyTheSpecVariables(t *testing.T) {
	got := configVariables(t)
	want := slices.Clone(specVariables)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Config reads\n%v\ndocs/configuration.md lists\n%v", got, want)
	}
}

func TestDocsDocumentEveryVariable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range specVariables {
		if !bytes.Contains(doc, []byte("`"+v+"`")) {
			t.Errorf("docs/configuration.md does not document %s", v)
		}
	}
}

func TestDefaults(t *testing.T) {
	setEnv(t, map[string]string{"BRIDGE_WEBHOOK_SECRET": " s1 , s2 "})
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"secrets", strings.Join(c.secrets, "|"), "s1|s2"},
		{"listen", c.ListenAddr, ":8080"},
		{"path", c.WebhookPath, "/webhooks"},
		{"sink", c.Sink, "nats"},
		{"max body", c.MaxBodyBytes, int64(1048576)},
		{"publish timeout", c.PublishTimeout.String(), "10s"},
		{"in flight", c.MaxInFlight, 1024},
		{"dedup ttl", c.DedupTTL.String(), "10m0s"},
		{"shutdown", c.ShutdownTimeout.String(), "30s"},
		{"rabbitmq url", c.Rabbitmq.URL, "amqp://guest:guest@localhost:5672/"},
		{"exchange", c.Rabbitmq.Exchange, "audiospliter"},
		{"queue", c.Rabbitmq.Queue, "audiospliter.events"},
		{"queue type", c.Rabbitmq.QueueType, "classic"},
		{"nats url", c.Nats.URL, ""},
		{"stream", c.Nats.Stream, "AUDIOSPLITER"},
		{"subject prefix", c.Nats.SubjectPrefix, "audiospliter"},
		{"embedded", c.Nats.EmbeddedListen, "127.0.0.1:4222"},
		{"data dir", c.DataDir, "./data"},
		{"ce source", c.Ce.Source, "audiospliter"},
		{"ce type prefix", c.Ce.TypePrefix, "com.audiospliter."},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// A bare variable such as RABBITMQ_URL must not leak into the configuration.
func TestNoUnprefixedFallback(t *testing.T) {
	setEnv(t, map[string]string{"BRIDGE_WEBHOOK_SECRET": testSecret})
	t.Setenv("URL", "nats://elsewhere:4222")
	t.Setenv("RABBITMQ_URL", "amqp://elsewhere/")
	t.Setenv("SINK", "sqs")
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Nats.URL != "" || c.Rabbitmq.URL != "amqp://guest:guest@localhost:5672/" || c.Sink != "nats" {
		t.Fatalf("unprefixed variables were read: %+v", c)
	}
}
