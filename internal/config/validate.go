package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// Error is a configuration problem; its text names the variable at fault. Every
// error of Load and Validate is one, and so is every start-up failure the bridge
// blames on its configuration (an unreachable broker, a listen address in use): the
// command exits 2 on it.
type Error struct {
	Variable string // BRIDGE_SINK, OTEL_TRACES_SAMPLER, AWS_ACCESS_KEY_ID, …; empty: none in particular
	Problem  string
}

func (e *Error) Error() string {
	if e.Variable == "" {
		return e.Problem
	}
	return e.Variable + ": " + e.Problem
}

// Errorf returns an *Error about variable.
func Errorf(variable, format string, args ...any) error {
	return &Error{Variable: variable, Problem: fmt.Sprintf(format, args...)}
}

// reservedPaths are served by the bridge itself and cannot be the webhook path.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics"}

// maxDedupTTL bounds BRIDGE_DEDUP_TTL: senders give up retrying within days, and
// the JetStream duplicate window follows it.
const maxDedupTTL = 7 * 24 * time.Hour

// Validate checks what envconfig cannot: presence of values that have no default,
// ranges, and the closed sets of values. It reads the files that stand for a value
// (BRIDGE_WEBHOOK_SECRET_FILE, BRIDGE_NATS_URL_FILE, BRIDGE_RABBITMQ_URL_FILE) and
// sets what the accessors return. Whether a variable is set at all, where a default
// hides it, comes from lookup (os.LookupEnv for the process; nil: nothing is set).
// Call it once.
func (c *Config) Validate(lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	c.secrets, c.senders = nil, nil
	if c.SendersFile != "" {
		if err := c.loadSenders(lookup); err != nil {
			return err
		}
	} else if c.WebhookSecretFile != "" {
		if c.WebhookSecret != "" {
			return Errorf("BRIDGE_WEBHOOK_SECRET_FILE", "and BRIDGE_WEBHOOK_SECRET are both set: use one of them")
		}
		secrets, err := ReadSecretFile(c.WebhookSecretFile)
		if err != nil {
			return Errorf("BRIDGE_WEBHOOK_SECRET_FILE", "%v", err)
		}
		c.secrets = secrets
	} else {
		if strings.TrimSpace(c.WebhookSecret) == "" {
			return Errorf("BRIDGE_WEBHOOK_SECRET", "is required: set one secret, or several separated by commas (or BRIDGE_WEBHOOK_SECRET_FILE)")
		}
		for _, s := range strings.Split(c.WebhookSecret, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				return Errorf("BRIDGE_WEBHOOK_SECRET", "has an empty secret in its comma-separated list")
			}
			c.secrets = append(c.secrets, s)
		}
	}
	switch c.Sink {
	case "nats":
	case "rabbitmq":
		if err := c.validateRabbitMQ(lookup); err != nil {
			return err
		}
	case "sqs":
		if c.Sqs.QueueURL == "" {
			return Errorf("BRIDGE_SQS_QUEUE_URL", "is required with BRIDGE_SINK=sqs")
		}
	default:
		return Errorf("BRIDGE_SINK", "unknown sink %q: want rabbitmq, nats or sqs", c.Sink)
	}
	if c.ListenAddr == "" {
		return Errorf("BRIDGE_LISTEN_ADDR", "must not be empty")
	}
	if c.senders == nil && !strings.HasPrefix(c.WebhookPath, "/") {
		return Errorf("BRIDGE_WEBHOOK_PATH", "%q must start with /", c.WebhookPath)
	}
	for _, p := range reservedPaths {
		if c.senders == nil && c.WebhookPath == p {
			return Errorf("BRIDGE_WEBHOOK_PATH", "%q is served by the bridge itself", c.WebhookPath)
		}
	}
	if c.MaxBodyBytes <= 0 {
		return Errorf("BRIDGE_MAX_BODY_BYTES", "must be positive, got %d", c.MaxBodyBytes)
	}
	if c.PublishTimeout <= 0 {
		return Errorf("BRIDGE_PUBLISH_TIMEOUT", "must be positive, got %s", c.PublishTimeout)
	}
	if c.MaxInFlight <= 0 {
		return Errorf("BRIDGE_MAX_IN_FLIGHT", "must be positive, got %d", c.MaxInFlight)
	}
	if c.DedupTTL < 0 || c.DedupTTL > maxDedupTTL {
		return Errorf("BRIDGE_DEDUP_TTL", "must be between 0 (disables) and %s, got %s", maxDedupTTL, c.DedupTTL)
	}
	if c.ShutdownTimeout <= 0 {
		return Errorf("BRIDGE_SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	}
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil || !knownLevel(c.LogLevel) {
		return Errorf("BRIDGE_LOG_LEVEL", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return Errorf("BRIDGE_TLS_CERT_FILE", "and BRIDGE_TLS_KEY_FILE must be set together")
	}
	if c.Sink == "nats" {
		if err := c.validateNats(); err != nil {
			return err
		}
	}
	return nil
}

// loadSenders reads BRIDGE_SENDERS_FILE (internal/senders: strict YAML, the rules
// of the senders section, every secret file read), which replaces the single
// sender's variables: one of them set beside it ("set" is present in the
// environment, whatever its value, as lookup tells; or a field set by a caller
// that passes no lookup) is a mistake to point out, not to guess about.
func (c *Config) loadSenders(lookup func(string) (string, bool)) error {
	for _, v := range []struct {
		name string
		set  bool
	}{
		{"BRIDGE_WEBHOOK_SECRET", c.WebhookSecret != ""},
		{"BRIDGE_WEBHOOK_SECRET_FILE", c.WebhookSecretFile != ""},
		{"BRIDGE_WEBHOOK_PATH", c.WebhookPath != defaultWebhookPath},
	} {
		if _, present := lookup(v.name); present || v.set {
			return Errorf("BRIDGE_SENDERS_FILE", "and %s are both set: the senders file gives each sender its path and secret_file; unset %s", v.name, v.name)
		}
	}
	ss, err := senders.Load(c.SendersFile)
	if err != nil {
		return Errorf("BRIDGE_SENDERS_FILE", "%v", err)
	}
	c.senders = ss
	return nil
}

// defaultWebhookPath is BRIDGE_WEBHOOK_PATH's default, as its tag says.
var defaultWebhookPath = func() string {
	f, _ := reflect.TypeFor[Config]().FieldByName("WebhookPath")
	return f.Tag.Get("default")
}()

func knownLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// validateNats checks the NATS variables that envconfig cannot, and reads
// BRIDGE_NATS_URL_FILE.
func (c *Config) validateNats() error {
	c.natsURLVar = "BRIDGE_NATS_URL"
	if c.Nats.URLFile != "" {
		if c.Nats.URL != "" {
			return Errorf("BRIDGE_NATS_URL_FILE", "and BRIDGE_NATS_URL are both set: give one")
		}
		b, err := os.ReadFile(c.Nats.URLFile)
		if err != nil {
			return Errorf("BRIDGE_NATS_URL_FILE", "%v", err)
		}
		// Never echo the content: it holds the password.
		if c.Nats.URL = strings.TrimSpace(string(b)); c.Nats.URL == "" {
			return Errorf("BRIDGE_NATS_URL_FILE", "%s holds no URL", c.Nats.URLFile)
		}
		c.natsURLVar = "BRIDGE_NATS_URL_FILE"
	}
	if c.Nats.URL == "" {
		// The embedded server knows only its token and its own certificate.
		for _, v := range []struct{ name, value string }{
			{"BRIDGE_NATS_CREDS_FILE", c.Nats.CredsFile}, {"BRIDGE_NATS_NKEY_FILE", c.Nats.NkeyFile},
			{"BRIDGE_NATS_TLS_CA_FILE", c.Nats.TLS.CAFile}, {"BRIDGE_NATS_TLS_CERT_FILE", c.Nats.TLS.CertFile},
			{"BRIDGE_NATS_TLS_KEY_FILE", c.Nats.TLS.KeyFile},
		} {
			if v.value != "" {
				return Errorf(v.name, "applies to a server given in BRIDGE_NATS_URL, which is empty (the embedded server takes BRIDGE_NATS_EMBEDDED_TOKEN and BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE)")
			}
		}
	} else {
		for _, v := range []struct{ name, value string }{
			{"BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE", c.Nats.EmbeddedTLSCertFile}, {"BRIDGE_NATS_EMBEDDED_TLS_KEY_FILE", c.Nats.EmbeddedTLSKeyFile},
		} {
			if v.value != "" {
				return Errorf(v.name, "applies to the embedded server, which does not run: BRIDGE_NATS_URL is set (its TLS is BRIDGE_NATS_TLS_*)")
			}
		}
	}
	if (c.Nats.EmbeddedTLSCertFile == "") != (c.Nats.EmbeddedTLSKeyFile == "") {
		return Errorf("BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE", "and BRIDGE_NATS_EMBEDDED_TLS_KEY_FILE must be set together")
	}
	if c.Nats.CredsFile != "" && c.Nats.NkeyFile != "" {
		return Errorf("BRIDGE_NATS_CREDS_FILE", "and BRIDGE_NATS_NKEY_FILE are both set: give one")
	}
	if (c.Nats.TLS.CertFile == "") != (c.Nats.TLS.KeyFile == "") {
		return Errorf("BRIDGE_NATS_TLS_CERT_FILE", "and BRIDGE_NATS_TLS_KEY_FILE must be set together")
	}
	if c.Nats.Replicas < 1 || c.Nats.Replicas > 5 {
		return Errorf("BRIDGE_NATS_REPLICAS", "must be 1 to 5 (JetStream's limit), got %d", c.Nats.Replicas)
	}
	switch c.Nats.EmbeddedSync {
	case "always":
		c.natsSyncInterval = 0
	default:
		d, err := time.ParseDuration(c.Nats.EmbeddedSync)
		if err != nil || d <= 0 {
			return Errorf("BRIDGE_NATS_EMBEDDED_SYNC", "%q: want always, or a positive sync interval such as 1s", c.Nats.EmbeddedSync)
		}
		c.natsSyncInterval = d
	}
	if c.Nats.Stream == "" {
		return Errorf("BRIDGE_NATS_STREAM", "must not be empty")
	}
	if c.Nats.SubjectPrefix == "" {
		return Errorf("BRIDGE_NATS_SUBJECT_PREFIX", "must not be empty")
	}
	if c.Nats.URL == "" && c.DataDir == "" {
		return Errorf("BRIDGE_DATA_DIR", "must not be empty with the embedded NATS server")
	}
	return nil
}

// validateRabbitMQ checks the RabbitMQ variables that envconfig cannot, and reads
// BRIDGE_RABBITMQ_URL_FILE. The TLS files are read by the sink, which reads them
// again before every reconnection.
func (c *Config) validateRabbitMQ(lookup func(string) (string, bool)) error {
	r := &c.Rabbitmq
	c.rabbitURLVar = "BRIDGE_RABBITMQ_URL"
	if r.URLFile != "" {
		// BRIDGE_RABBITMQ_URL has a default, so only the environment tells whether
		// the operator set it too.
		if v, ok := lookup("BRIDGE_RABBITMQ_URL"); ok && v != "" {
			return Errorf("BRIDGE_RABBITMQ_URL_FILE", "and BRIDGE_RABBITMQ_URL are both set: keep one")
		}
		data, err := os.ReadFile(r.URLFile)
		if err != nil {
			return Errorf("BRIDGE_RABBITMQ_URL_FILE", "cannot read it: %v", err)
		}
		r.URL = strings.TrimSpace(string(data))
		if r.URL == "" {
			return Errorf("BRIDGE_RABBITMQ_URL_FILE", "%s is empty", r.URLFile)
		}
		c.rabbitURLVar = "BRIDGE_RABBITMQ_URL_FILE"
	}
	if r.Exchange == "" {
		return Errorf("BRIDGE_RABBITMQ_EXCHANGE", "must not be empty")
	}
	if t := r.QueueType; t != "classic" && t != "quorum" {
		return Errorf("BRIDGE_RABBITMQ_QUEUE_TYPE", "%q: want classic or quorum", t)
	}
	if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
		return Errorf("BRIDGE_RABBITMQ_TLS_CERT_FILE", "and BRIDGE_RABBITMQ_TLS_KEY_FILE must be set together")
	}
	return nil
}
