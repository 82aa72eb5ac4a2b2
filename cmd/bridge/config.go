package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Config is the bridge's whole configuration: docs/configuration.md, read from BRIDGE_* variables
// in this one place. Nested structs give BRIDGE_RABBITMQ_*, BRIDGE_NATS_*, … without
// `envconfig:"…"` tags, because such a tag makes envconfig fall back to the bare
// variable (RABBITMQ_URL) when the prefixed one is unset.
type Config struct {
	WebhookSecret     string        `split_words:"true" desc:"webhook secret; several separated by commas, any may match (required unless BRIDGE_WEBHOOK_SECRET_FILE)"`
	WebhookSecretFile string        `split_words:"true" desc:"file with one secret per line (# comments, blank lines ignored); re-read on change and on SIGHUP"`
	ListenAddr        string        `split_words:"true" default:":8080" desc:"HTTP listen address"`
	WebhookPath       string        `split_words:"true" default:"/webhooks" desc:"path that receives webhooks"`
	Sink              string        `default:"nats" desc:"broker: rabbitmq, nats or sqs"`
	MaxBodyBytes      int64         `split_words:"true" default:"1048576" desc:"larger bodies get 413"`
	PublishTimeout    time.Duration `split_words:"true" default:"10s" desc:"total time for one publish, retries included"`
	MaxInFlight       int           `split_words:"true" default:"1024" desc:"concurrent publishes before 503"`
	DedupTTL          time.Duration `split_words:"true" default:"10m" desc:"how long confirmed delivery ids are remembered (0 disables)"`
	ShutdownTimeout   time.Duration `split_words:"true" default:"30s" desc:"on SIGTERM/SIGINT: time to finish in-flight publishes before exit"`
	LogLevel          string        `split_words:"true" default:"info" desc:"debug, info, warn or error (JSON logs on stderr)"`
	TLSCertFile       string        `split_words:"true" desc:"certificate file; with BRIDGE_TLS_KEY_FILE serves HTTPS (re-read on change)"`
	TLSKeyFile        string        `split_words:"true" desc:"private key file of BRIDGE_TLS_CERT_FILE"`
	DataDir           string        `split_words:"true" default:"./data" desc:"where the embedded NATS server stores its data"`

	Rabbitmq struct {
		URL       string `default:"amqp://guest:guest@localhost:5672/" desc:"AMQP URL, or the nodes of a cluster separated by commas; amqps:// for TLS"`
		URLFile   string `split_words:"true" desc:"instead of BRIDGE_RABBITMQ_URL: a file holding it"`
		Exchange  string `default:"audiospliter" desc:"durable topic exchange the bridge declares and publishes to"`
		Queue     string `default:"audiospliter.events" desc:"durable queue declared and bound with #; empty declares none"`
		QueueType string `split_words:"true" default:"classic" desc:"classic or quorum"`
		TLS       struct {
			CAFile     string `split_words:"true" desc:"CA certificates that verify the broker (default: system roots)"`
			CertFile   string `split_words:"true" desc:"client certificate; without a user in the URL the bridge authenticates with SASL EXTERNAL"`
			KeyFile    string `split_words:"true" desc:"private key of BRIDGE_RABBITMQ_TLS_CERT_FILE"`
			ServerName string `split_words:"true" desc:"name to verify in the broker's certificate (default: the URL's host)"`
		}
	}
	Nats struct {
		URL            string `desc:"NATS URL, or the servers of a cluster separated by commas; empty runs the embedded server"`
		URLFile        string `split_words:"true" desc:"instead of BRIDGE_NATS_URL: a file holding it"`
		CredsFile      string `split_words:"true" desc:".creds file (user JWT and NKey seed)"`
		NkeyFile       string `split_words:"true" desc:"file with an NKey seed"`
		Replicas       int    `default:"1" desc:"replicas of the stream when the bridge creates it"`
		Stream         string `default:"AUDIOSPLITER" desc:"JetStream stream, created if missing"`
		SubjectPrefix  string `split_words:"true" default:"audiospliter" desc:"messages go to <prefix>.<event>"`
		EmbeddedListen string `split_words:"true" default:"127.0.0.1:4222" desc:"address of the embedded server"`
		EmbeddedSync   string `split_words:"true" default:"always" desc:"embedded server: always fsync before the ack, or a sync interval such as 1s"`
		EmbeddedToken  string `split_words:"true" desc:"token consumers present to the embedded server; required beyond loopback"`
		TLS            struct {
			CAFile   string `split_words:"true" desc:"CA certificates that verify the servers; enables TLS"`
			CertFile string `split_words:"true" desc:"client certificate"`
			KeyFile  string `split_words:"true" desc:"private key of BRIDGE_NATS_TLS_CERT_FILE"`
		}
	}
	Sqs struct {
		QueueURL string `split_words:"true" desc:"queue URL (required with BRIDGE_SINK=sqs)"`
		Endpoint string `desc:"endpoint of an SQS-compatible server, for local use"`
	}
	Ce struct {
		Source     string `default:"audiospliter" desc:"CloudEvents source of every message"`
		TypePrefix string `split_words:"true" default:"com.audiospliter." desc:"prefix of the CloudEvents type; the event follows it"`
	}

	secrets  []string
	logLevel slog.Level
	nats     natsSettings
	rabbit   rabbitSettings
}

// configError is a configuration problem; its text names the variable.
type configError struct {
	variable, problem string
}

func (e *configError) Error() string { return e.variable + ": " + e.problem }

func badVar(variable, format string, args ...any) error {
	return &configError{variable: variable, problem: fmt.Sprintf(format, args...)}
}

// reservedPaths are served by the bridge itself and cannot be the webhook path.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics"}

// loadConfig reads the environment and validates the result.
func loadConfig() (*Config, error) {
	var c Config
	if err := envconfig.Process("BRIDGE", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, badVar(pe.KeyName, "cannot parse %q as %s: %v", pe.Value, pe.TypeName, pe.Err)
		}
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// validate checks what envconfig cannot: presence of values that have no default,
// ranges, and the closed sets of values.
func (c *Config) validate() error {
	if c.WebhookSecretFile != "" {
		if c.WebhookSecret != "" {
			return badVar("BRIDGE_WEBHOOK_SECRET_FILE", "and BRIDGE_WEBHOOK_SECRET are both set: use one of them")
		}
		secrets, err := readSecretFile(c.WebhookSecretFile)
		if err != nil {
			return badVar("BRIDGE_WEBHOOK_SECRET_FILE", "%v", err)
		}
		c.secrets = secrets
	} else {
		if strings.TrimSpace(c.WebhookSecret) == "" {
			return badVar("BRIDGE_WEBHOOK_SECRET", "is required: set one secret, or several separated by commas (or BRIDGE_WEBHOOK_SECRET_FILE)")
		}
		for _, s := range strings.Split(c.WebhookSecret, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				return badVar("BRIDGE_WEBHOOK_SECRET", "has an empty secret in its comma-separated list")
			}
			c.secrets = append(c.secrets, s)
		}
	}
	switch c.Sink {
	case "nats":
	case "rabbitmq":
		if err := c.validateRabbitMQ(); err != nil {
			return err
		}
	case "sqs":
		if c.Sqs.QueueURL == "" {
			return badVar("BRIDGE_SQS_QUEUE_URL", "is required with BRIDGE_SINK=sqs")
		}
	default:
		return badVar("BRIDGE_SINK", "unknown sink %q: want rabbitmq, nats or sqs", c.Sink)
	}
	if c.ListenAddr == "" {
		return badVar("BRIDGE_LISTEN_ADDR", "must not be empty")
	}
	if !strings.HasPrefix(c.WebhookPath, "/") {
		return badVar("BRIDGE_WEBHOOK_PATH", "%q must start with /", c.WebhookPath)
	}
	for _, p := range reservedPaths {
		if c.WebhookPath == p {
			return badVar("BRIDGE_WEBHOOK_PATH", "%q is served by the bridge itself", c.WebhookPath)
		}
	}
	if c.MaxBodyBytes <= 0 {
		return badVar("BRIDGE_MAX_BODY_BYTES", "must be positive, got %d", c.MaxBodyBytes)
	}
	if c.PublishTimeout <= 0 {
		return badVar("BRIDGE_PUBLISH_TIMEOUT", "must be positive, got %s", c.PublishTimeout)
	}
	if c.MaxInFlight <= 0 {
		return badVar("BRIDGE_MAX_IN_FLIGHT", "must be positive, got %d", c.MaxInFlight)
	}
	if c.DedupTTL < 0 || c.DedupTTL > maxDedupTTL {
		return badVar("BRIDGE_DEDUP_TTL", "must be between 0 (disables) and %s, got %s", maxDedupTTL, c.DedupTTL)
	}
	if c.ShutdownTimeout <= 0 {
		return badVar("BRIDGE_SHUTDOWN_TIMEOUT", "must be positive, got %s", c.ShutdownTimeout)
	}
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil || !knownLevel(c.LogLevel) {
		return badVar("BRIDGE_LOG_LEVEL", "%q: want debug, info, warn or error", c.LogLevel)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return badVar("BRIDGE_TLS_CERT_FILE", "and BRIDGE_TLS_KEY_FILE must be set together")
	}
	if c.Sink == "nats" {
		if err := c.validateNats(); err != nil {
			return err
		}
	}
	return nil
}

// maxDedupTTL bounds BRIDGE_DEDUP_TTL: senders give up retrying within days, and
// the JetStream duplicate window follows it.
const maxDedupTTL = 7 * 24 * time.Hour

func knownLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// shortSecrets returns how many secrets are shorter than 16 bytes: still accepted,
// but worth a warning.
func (c *Config) shortSecrets() int { return countShort(c.secrets) }

func countShort(secrets []string) int {
	n := 0
	for _, s := range secrets {
		if len(s) < 16 {
			n++
		}
	}
	return n
}
