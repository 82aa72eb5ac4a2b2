// Package config is the bridge's configuration: the BRIDGE_* variables of
// docs/configuration.md as one struct. Load reads them from the environment (the
// only place that does) and checks them with Validate, whose errors (*Error) name
// the variable at fault. Tests and embedders build a Config from Default, set
// fields, and call Validate with a lookup of their own: nothing here depends on the
// process environment except Load.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// Prefix is what every variable of Config starts with (followed by _).
const Prefix = "BRIDGE"

// Config is the bridge's whole configuration: docs/configuration.md. Nested structs
// give BRIDGE_RABBITMQ_*, BRIDGE_NATS_*, … without `envconfig:"…"` tags, because
// such a tag makes envconfig fall back to the bare variable (RABBITMQ_URL) when the
// prefixed one is unset.
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
	ForwardSignature  bool          `split_words:"true" default:"true" desc:"false leaves the audiospliter-signature header out of every message (a body and its signature read from the queue could be sent again as a new delivery)"`
	SendersFile       string        `split_words:"true" desc:"YAML file of several senders, each with its path, scheme (audiospliter, standard-webhooks, github, stripe, hmac), secret_file and route; replaces BRIDGE_WEBHOOK_SECRET, _SECRET_FILE and _PATH (see below)"`

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
		// Flat rather than a nested TLS struct: BRIDGE_NATS_EMBEDDED_TLS is no prefix
		// of other settings.
		EmbeddedTLSCertFile string `split_words:"true" desc:"certificate the embedded server serves TLS with (with BRIDGE_NATS_EMBEDDED_TLS_KEY_FILE), so the token never crosses the network in clear"`
		EmbeddedTLSKeyFile  string `split_words:"true" desc:"private key of BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE"`
		TLS                 struct {
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

	// Set by Validate.
	secrets          []string
	senders          []senders.Sender
	logLevel         slog.Level
	natsSyncInterval time.Duration // 0: fsync before every PubAck
	natsURLVar       string        // the variable the NATS URL came from
	rabbitURLVar     string        // the variable the RabbitMQ URL came from
}

// Load reads the BRIDGE_* variables of the environment and validates the result.
func Load() (*Config, error) {
	var c Config
	if err := envconfig.Process(Prefix, &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, Errorf(pe.KeyName, "cannot parse %q as %s: %v", pe.Value, pe.TypeName, pe.Err)
		}
		return nil, err
	}
	if err := c.Validate(os.LookupEnv); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default returns the configuration of an environment that sets no variable: every
// field at the default of its tag, as Load would read it. It is not validated.
func Default() *Config {
	var c Config
	if err := setDefaults(reflect.ValueOf(&c).Elem()); err != nil {
		// The tags are literals: a failure here is a programming error that every
		// test of this package shows.
		panic("config: " + err.Error())
	}
	return &c
}

// setDefaults sets every exported field of the struct v that has a default tag, as
// envconfig parses it, for the kinds Config uses.
func setDefaults(v reflect.Value) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			if err := setDefaults(fv); err != nil {
				return err
			}
			continue
		}
		def, ok := f.Tag.Lookup("default")
		if !ok {
			continue
		}
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			d, err := time.ParseDuration(def)
			if err != nil {
				return fmt.Errorf("default of %s: %w", f.Name, err)
			}
			fv.SetInt(int64(d))
		case f.Type.Kind() == reflect.String:
			fv.SetString(def)
		case f.Type.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(def)
			if err != nil {
				return fmt.Errorf("default of %s: %w", f.Name, err)
			}
			fv.SetBool(b)
		case f.Type.Kind() == reflect.Int || f.Type.Kind() == reflect.Int64:
			n, err := strconv.ParseInt(def, 0, f.Type.Bits())
			if err != nil {
				return fmt.Errorf("default of %s: %w", f.Name, err)
			}
			fv.SetInt(n)
		default:
			return fmt.Errorf("default of %s: kind %s not handled", f.Name, f.Type.Kind())
		}
	}
	return nil
}

// Secrets are the webhook secrets in service at start, from BRIDGE_WEBHOOK_SECRET or
// its file. Nil before Validate, and with a senders file.
func (c *Config) Secrets() []string { return c.secrets }

// Senders are the senders of BRIDGE_SENDERS_FILE, loaded by Validate: each with
// its checked settings, its secrets read and its scheme built (Verifier). Nil
// without the file.
func (c *Config) Senders() []senders.Sender { return c.senders }

// Level is BRIDGE_LOG_LEVEL, parsed by Validate.
func (c *Config) Level() slog.Level { return c.logLevel }

// NATSSyncInterval is BRIDGE_NATS_EMBEDDED_SYNC, parsed by Validate: 0 is always
// (fsync before every acknowledgement).
func (c *Config) NATSSyncInterval() time.Duration { return c.natsSyncInterval }

// ShortSecrets returns how many secrets are shorter than 16 bytes: still accepted,
// but worth a warning.
func (c *Config) ShortSecrets() int { return CountShort(c.secrets) }

// CountShort returns how many of secrets are shorter than 16 bytes.
func CountShort(secrets []string) int {
	n := 0
	for _, s := range secrets {
		if len(s) < 16 {
			n++
		}
	}
	return n
}
