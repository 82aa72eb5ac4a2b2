package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

const testSecret = "whsec-test-0123456789abcdef"

// env is a lookup over a map: the variables a test says are set.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.WebhookSecret = " s1 , s2 "
	if err := c.Validate(nil); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"secrets", strings.Join(c.Secrets(), "|"), "s1|s2"},
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
		{"log level", c.Level().String(), "INFO"},
		{"sync", c.NATSSyncInterval().String(), "0s"},
		{"forward signature", c.ForwardSignature, true},
		{"embedded tls", c.Nats.EmbeddedTLSCertFile + c.Nats.EmbeddedTLSKeyFile, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// Default is what envconfig reads from an environment that sets nothing: read with
// a prefix no environment sets (BRIDGE_TEST_ is the tests' own).
func TestDefaultIsWhatEnvconfigReads(t *testing.T) {
	t.Parallel()
	var read config.Config
	if err := envconfig.Process("BRIDGE_TEST_UNSET_PREFIX", &read); err != nil {
		t.Fatal(err)
	}
	if def := config.Default(); !reflect.DeepEqual(*def, read) {
		t.Errorf("Default() = %+v\nenvconfig reads %+v", *def, read)
	}
}

// A bare variable such as RABBITMQ_URL must not leak into the configuration:
// envconfig falls back to it only for a field with an envconfig tag, so no field
// has one (test/ runs the binary with bare variables set).
func TestNoUnprefixedFallback(t *testing.T) {
	t.Parallel()
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				continue
			}
			if tag, ok := f.Tag.Lookup("envconfig"); ok {
				t.Errorf("%s%s has the tag envconfig:%q: envconfig would read the bare variable when the prefixed one is unset", path, f.Name, tag)
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == "" {
				walk(f.Type, path+f.Name+".")
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "Config.")
}

// Every variable has a description for -h, and the nested structs are not listed.
func TestVariables(t *testing.T) {
	t.Parallel()
	vars := config.Variables()
	seen := map[string]bool{}
	for _, v := range vars {
		if !strings.HasPrefix(v.Name, "BRIDGE_") || v.Desc == "" || seen[v.Name] {
			t.Errorf("variable %+v: want a BRIDGE_ name, a description, listed once", v)
		}
		seen[v.Name] = true
	}
	for _, prefix := range []string{"BRIDGE_RABBITMQ", "BRIDGE_RABBITMQ_TLS", "BRIDGE_NATS", "BRIDGE_NATS_TLS", "BRIDGE_SQS", "BRIDGE_CE"} {
		if seen[prefix] {
			t.Errorf("%s is a nested struct, listed as a variable", prefix)
		}
	}
}

// Validate names the variable at fault in an *Error, for every check it makes
// (test/ checks the same through the binary's environment).
func TestValidateNamesTheVariable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secrets := write("secrets", testSecret+"\n")
	comments := write("comments", "# the secret goes below\n\n")
	empty := write("empty", "\n")
	url := write("url", "amqp://guest:guest@127.0.0.1:5672/\n")
	missing := filepath.Join(dir, "missing")

	cases := []struct {
		name     string
		edit     func(*config.Config)
		set      map[string]string // what the lookup says is set
		variable string
	}{
		{"no secret", func(c *config.Config) { c.WebhookSecret = "" }, nil, "BRIDGE_WEBHOOK_SECRET"},
		{"blank secret", func(c *config.Config) { c.WebhookSecret = "  " }, nil, "BRIDGE_WEBHOOK_SECRET"},
		{"empty secret in a list", func(c *config.Config) { c.WebhookSecret = "a-long-enough-secret-1,,b" }, nil, "BRIDGE_WEBHOOK_SECRET"},
		{"secret and secret file", func(c *config.Config) { c.WebhookSecretFile = secrets }, nil, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"missing secret file", func(c *config.Config) { c.WebhookSecret, c.WebhookSecretFile = "", missing }, nil, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"secret file without a secret", func(c *config.Config) { c.WebhookSecret, c.WebhookSecretFile = "", comments }, nil, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"unknown sink", func(c *config.Config) { c.Sink = "kafka" }, nil, "BRIDGE_SINK"},
		{"zero timeout", func(c *config.Config) { c.PublishTimeout = 0 }, nil, "BRIDGE_PUBLISH_TIMEOUT"},
		{"negative dedup ttl", func(c *config.Config) { c.DedupTTL = -1 }, nil, "BRIDGE_DEDUP_TTL"},
		{"dedup ttl of centuries", func(c *config.Config) { c.DedupTTL = 2000000 * time.Hour }, nil, "BRIDGE_DEDUP_TTL"},
		{"zero body", func(c *config.Config) { c.MaxBodyBytes = 0 }, nil, "BRIDGE_MAX_BODY_BYTES"},
		{"zero in-flight", func(c *config.Config) { c.MaxInFlight = 0 }, nil, "BRIDGE_MAX_IN_FLIGHT"},
		{"zero shutdown", func(c *config.Config) { c.ShutdownTimeout = 0 }, nil, "BRIDGE_SHUTDOWN_TIMEOUT"},
		{"bad log level", func(c *config.Config) { c.LogLevel = "loud" }, nil, "BRIDGE_LOG_LEVEL"},
		{"numeric log level", func(c *config.Config) { c.LogLevel = "INFO+2" }, nil, "BRIDGE_LOG_LEVEL"},
		{"no listen address", func(c *config.Config) { c.ListenAddr = "" }, nil, "BRIDGE_LISTEN_ADDR"},
		{"reserved path", func(c *config.Config) { c.WebhookPath = "/metrics" }, nil, "BRIDGE_WEBHOOK_PATH"},
		{"relative path", func(c *config.Config) { c.WebhookPath = "hooks" }, nil, "BRIDGE_WEBHOOK_PATH"},
		{"tls half set", func(c *config.Config) { c.TLSCertFile = "/nonexistent.pem" }, nil, "BRIDGE_TLS_CERT_FILE"},
		{"bad queue type", func(c *config.Config) { c.Sink, c.Rabbitmq.QueueType = "rabbitmq", "stream" }, nil, "BRIDGE_RABBITMQ_QUEUE_TYPE"},
		{"empty exchange", func(c *config.Config) { c.Sink, c.Rabbitmq.Exchange = "rabbitmq", "" }, nil, "BRIDGE_RABBITMQ_EXCHANGE"},
		{"rabbitmq certificate without its key", func(c *config.Config) { c.Sink, c.Rabbitmq.TLS.CertFile = "rabbitmq", "/c.pem" }, nil, "BRIDGE_RABBITMQ_TLS_CERT_FILE"},
		{"rabbitmq URL and its file", func(c *config.Config) { c.Sink, c.Rabbitmq.URLFile = "rabbitmq", url },
			map[string]string{"BRIDGE_RABBITMQ_URL": "amqp://other/"}, "BRIDGE_RABBITMQ_URL_FILE"},
		{"rabbitmq URL file missing", func(c *config.Config) { c.Sink, c.Rabbitmq.URLFile = "rabbitmq", missing }, nil, "BRIDGE_RABBITMQ_URL_FILE"},
		{"rabbitmq URL file empty", func(c *config.Config) { c.Sink, c.Rabbitmq.URLFile = "rabbitmq", empty }, nil, "BRIDGE_RABBITMQ_URL_FILE"},
		{"sqs without queue url", func(c *config.Config) { c.Sink = "sqs" }, nil, "BRIDGE_SQS_QUEUE_URL"},
		{"sync not a duration", func(c *config.Config) { c.Nats.EmbeddedSync = "sometimes" }, nil, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"sync zero", func(c *config.Config) { c.Nats.EmbeddedSync = "0s" }, nil, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"sync negative", func(c *config.Config) { c.Nats.EmbeddedSync = "-1s" }, nil, "BRIDGE_NATS_EMBEDDED_SYNC"},
		{"creds with the embedded server", func(c *config.Config) { c.Nats.CredsFile = "/x.creds" }, nil, "BRIDGE_NATS_CREDS_FILE"},
		{"nats CA with the embedded server", func(c *config.Config) { c.Nats.TLS.CAFile = "/ca.pem" }, nil, "BRIDGE_NATS_TLS_CA_FILE"},
		{"creds and nkey", func(c *config.Config) { c.Nats.URL, c.Nats.CredsFile, c.Nats.NkeyFile = "nats://x", "/c", "/n" }, nil, "BRIDGE_NATS_CREDS_FILE"},
		{"nats certificate without its key", func(c *config.Config) { c.Nats.URL, c.Nats.TLS.CertFile = "nats://x", "/c.pem" }, nil, "BRIDGE_NATS_TLS_CERT_FILE"},
		{"replicas zero", func(c *config.Config) { c.Nats.Replicas = 0 }, nil, "BRIDGE_NATS_REPLICAS"},
		{"replicas seven", func(c *config.Config) { c.Nats.Replicas = 7 }, nil, "BRIDGE_NATS_REPLICAS"},
		{"nats url and url file", func(c *config.Config) { c.Nats.URL, c.Nats.URLFile = "nats://x", url }, nil, "BRIDGE_NATS_URL_FILE"},
		{"nats url file missing", func(c *config.Config) { c.Nats.URLFile = missing }, nil, "BRIDGE_NATS_URL_FILE"},
		{"nats url file empty", func(c *config.Config) { c.Nats.URLFile = empty }, nil, "BRIDGE_NATS_URL_FILE"},
		{"empty stream", func(c *config.Config) { c.Nats.Stream = "" }, nil, "BRIDGE_NATS_STREAM"},
		{"empty subject prefix", func(c *config.Config) { c.Nats.SubjectPrefix = "" }, nil, "BRIDGE_NATS_SUBJECT_PREFIX"},
		{"no data dir", func(c *config.Config) { c.DataDir = "" }, nil, "BRIDGE_DATA_DIR"},
		{"embedded certificate without its key", func(c *config.Config) { c.Nats.EmbeddedTLSCertFile = "/c.pem" }, nil, "BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE"},
		{"embedded key without its certificate", func(c *config.Config) { c.Nats.EmbeddedTLSKeyFile = "/k.pem" }, nil, "BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE"},
		{"embedded certificate with a nats url", func(c *config.Config) {
			c.Nats.URL, c.Nats.EmbeddedTLSCertFile, c.Nats.EmbeddedTLSKeyFile = "nats://x", "/c.pem", "/k.pem"
		}, nil, "BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := config.Default()
			c.WebhookSecret = testSecret
			tc.edit(c)
			err := c.Validate(env(tc.set))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v, want a *config.Error", err)
			}
			if ce.Variable != tc.variable || !strings.HasPrefix(err.Error(), tc.variable+": ") {
				t.Errorf("error %q names %s, want %s", err, ce.Variable, tc.variable)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "guest:guest") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// The files that stand for a value are read by Validate; the variable the URL came
// from is the one errors about it name.
func TestValidateReadsTheFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secretFile, []byte("# rotated by hand\n\nsecret,with,commas-0123\r\nshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	urlFile := filepath.Join(dir, "url")
	if err := os.WriteFile(urlFile, []byte(" amqp://bridge:pw@rabbit:5671/ \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.WebhookSecretFile, c.Sink, c.Rabbitmq.URLFile = secretFile, "rabbitmq", urlFile
	// BRIDGE_RABBITMQ_URL set but empty is not set.
	if err := c.Validate(env(map[string]string{"BRIDGE_RABBITMQ_URL": ""})); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Secrets(), "|"); got != "secret,with,commas-0123|short" {
		t.Errorf("secrets %q", got)
	}
	if c.ShortSecrets() != 1 {
		t.Errorf("ShortSecrets = %d, want 1", c.ShortSecrets())
	}
	if c.Rabbitmq.URL != "amqp://bridge:pw@rabbit:5671/" || c.SinkVariables()["URL"] != "BRIDGE_RABBITMQ_URL_FILE" {
		t.Errorf("URL %q from %s", c.Rabbitmq.URL, c.SinkVariables()["URL"])
	}

	n := config.Default()
	n.WebhookSecret, n.Nats.EmbeddedSync = testSecret, "1s"
	if err := n.Validate(nil); err != nil {
		t.Fatal(err)
	}
	if n.NATSSyncInterval().String() != "1s" || n.SinkVariables()["URL"] != "BRIDGE_NATS_URL" {
		t.Errorf("sync %s, URL from %s", n.NATSSyncInterval(), n.SinkVariables()["URL"])
	}
}
