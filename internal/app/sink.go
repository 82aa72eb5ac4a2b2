package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
)

// startupTimeout bounds connecting to the broker and declaring its topology.
const startupTimeout = 15 * time.Second

// openSink builds the configured sink. A failure is reported as a *config.Error that
// names the variable behind the sink's field at fault.
func openSink(ctx context.Context, c *config.Config, log *slog.Logger, metrics *sinks.Metrics) (sinks.Sink, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	var (
		s   sinks.Sink
		err error
	)
	switch c.Sink {
	case "nats":
		s, err = natsjs.New(ctx, natsConfig(c, log, metrics))
		if errors.Is(err, natsjs.ErrListenTaken) {
			// Often a NATS server already runs there: the bridge can use it instead.
			return nil, config.Errorf("BRIDGE_NATS_EMBEDDED_LISTEN",
				"%v; give the embedded server another address, or set BRIDGE_NATS_URL to use the server already listening there", err)
		}
	case "rabbitmq":
		s, err = rabbitmq.New(ctx, rabbitConfig(c, log, metrics))
	case "sqs":
		s, err = awssqs.New(ctx, sqsConfig(c, log, metrics))
	default:
		return nil, config.Errorf("BRIDGE_SINK", "unknown sink %q", c.Sink)
	}
	if err != nil {
		return nil, sinkError(err, c.SinkVariables())
	}
	return s, nil
}

// CheckSink checks the configured broker as `bridge check` does, with the
// configuration the bridge would use, publishing nothing (each sink's Check). A
// failure that a sink blames on one of its fields becomes a *config.Error naming
// the variable.
func CheckSink(ctx context.Context, c *config.Config) []sinks.CheckResult {
	log := slog.New(slog.DiscardHandler)
	var results []sinks.CheckResult
	switch c.Sink {
	case "nats":
		results = natsjs.Check(ctx, natsConfig(c, log, nil))
	case "rabbitmq":
		results = rabbitmq.Check(ctx, rabbitConfig(c, log, nil))
	case "sqs":
		results = awssqs.Check(ctx, sqsConfig(c, log, nil))
	default:
		return []sinks.CheckResult{sinks.Failed("broker", config.Errorf("BRIDGE_SINK", "unknown sink %q", c.Sink))}
	}
	vars := c.SinkVariables()
	for i := range results {
		if results[i].Err != nil {
			results[i].Err = sinkError(results[i].Err, vars)
		}
	}
	return results
}

func natsConfig(c *config.Config, log *slog.Logger, metrics *sinks.Metrics) natsjs.Config {
	return natsjs.Config{
		URL:                  c.Nats.URL,
		Stream:               c.Nats.Stream,
		SubjectPrefix:        c.Nats.SubjectPrefix,
		EmbeddedListen:       c.Nats.EmbeddedListen,
		EmbeddedToken:        c.Nats.EmbeddedToken,
		EmbeddedTLSCertFile:  c.Nats.EmbeddedTLSCertFile,
		EmbeddedTLSKeyFile:   c.Nats.EmbeddedTLSKeyFile,
		EmbeddedSyncInterval: c.NATSSyncInterval(),
		DataDir:              c.DataDir,
		DuplicateWindow:      max(c.DedupTTL, 2*time.Minute),
		MaxPayload:           int32(min(c.MaxBodyBytes, 64<<20) + 64<<10),
		Logger:               log.With("sink", "nats"),
		Metrics:              metrics,
		TLSCAFile:            c.Nats.TLS.CAFile,
		TLSCertFile:          c.Nats.TLS.CertFile,
		TLSKeyFile:           c.Nats.TLS.KeyFile,
		CredsFile:            c.Nats.CredsFile,
		NkeyFile:             c.Nats.NkeyFile,
		Replicas:             c.Nats.Replicas,
	}
}

func rabbitConfig(c *config.Config, log *slog.Logger, metrics *sinks.Metrics) rabbitmq.Config {
	r := c.Rabbitmq
	return rabbitmq.Config{
		URL:             r.URL,
		Exchange:        r.Exchange,
		SenderExchanges: senderExchanges(c.Senders()),
		Queue:           r.Queue,
		QueueType:       r.QueueType,
		TLS: rabbitmq.TLS{
			CAFile:     r.TLS.CAFile,
			CertFile:   r.TLS.CertFile,
			KeyFile:    r.TLS.KeyFile,
			ServerName: r.TLS.ServerName,
		},
		Logger:  log.With("sink", "rabbitmq"),
		Metrics: metrics,
	}
}

func sqsConfig(c *config.Config, log *slog.Logger, metrics *sinks.Metrics) awssqs.Config {
	return awssqs.Config{
		QueueURL:     c.Sqs.QueueURL,
		Endpoint:     c.Sqs.Endpoint,
		SenderQueues: senderQueues(c.Senders()),
		Logger:       log.With("sink", "sqs"),
		Metrics:      metrics,
	}
}

// sinkError turns a sink's *sinks.ConfigError into a *config.Error naming the
// variable; any other start-up failure is blamed on BRIDGE_SINK's broker as a whole.
// An error that already names its variable is kept.
func sinkError(err error, vars map[string]string) error {
	var named *config.Error
	if errors.As(err, &named) {
		return err
	}
	var ce *sinks.ConfigError
	if errors.As(err, &ce) {
		if v, ok := vars[ce.Field]; ok {
			var also []string
			for _, f := range ce.Also {
				if a, ok := vars[f]; ok {
					also = append(also, a)
				}
			}
			if len(also) > 0 {
				return config.Errorf(v, "%v (settings: %s, %s)", ce.Err, v, strings.Join(also, ", "))
			}
			return config.Errorf(v, "%v", ce.Err)
		}
	}
	return config.Errorf("BRIDGE_SINK", "%v", fmt.Errorf("broker not usable: %w", err))
}
