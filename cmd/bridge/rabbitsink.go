package main

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/rabbitmq"
)

// rabbitSettings are the BRIDGE_RABBITMQ_* values after validation.
type rabbitSettings struct {
	urlVar string // where the URL came from, to name in errors about it
}

// validateRabbitMQ checks the RabbitMQ variables that envconfig cannot, and reads
// BRIDGE_RABBITMQ_URL_FILE. The TLS files are read by the sink, which reads them
// again before every reconnection.
func (c *Config) validateRabbitMQ() error {
	r := &c.Rabbitmq
	c.rabbit.urlVar = "BRIDGE_RABBITMQ_URL"
	if r.URLFile != "" {
		// BRIDGE_RABBITMQ_URL has a default, so only the environment tells whether
		// the operator set it too.
		if v, ok := os.LookupEnv("BRIDGE_RABBITMQ_URL"); ok && v != "" {
			return badVar("BRIDGE_RABBITMQ_URL_FILE", "and BRIDGE_RABBITMQ_URL are both set: keep one")
		}
		data, err := os.ReadFile(r.URLFile)
		if err != nil {
			return badVar("BRIDGE_RABBITMQ_URL_FILE", "cannot read it: %v", err)
		}
		r.URL = strings.TrimSpace(string(data))
		if r.URL == "" {
			return badVar("BRIDGE_RABBITMQ_URL_FILE", "%s is empty", r.URLFile)
		}
		c.rabbit.urlVar = "BRIDGE_RABBITMQ_URL_FILE"
	}
	if r.Exchange == "" {
		return badVar("BRIDGE_RABBITMQ_EXCHANGE", "must not be empty")
	}
	if t := r.QueueType; t != "classic" && t != "quorum" {
		return badVar("BRIDGE_RABBITMQ_QUEUE_TYPE", "%q: want classic or quorum", t)
	}
	if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
		return badVar("BRIDGE_RABBITMQ_TLS_CERT_FILE", "and BRIDGE_RABBITMQ_TLS_KEY_FILE must be set together")
	}
	return nil
}

func openRabbitMQ(ctx context.Context, c *Config, log *slog.Logger, metrics *sinks.Metrics) (sinks.Sink, error) {
	r := c.Rabbitmq
	s, err := rabbitmq.New(ctx, rabbitmq.Config{
		URL:       r.URL,
		Exchange:  r.Exchange,
		Queue:     r.Queue,
		QueueType: r.QueueType,
		TLS: rabbitmq.TLS{
			CAFile:     r.TLS.CAFile,
			CertFile:   r.TLS.CertFile,
			KeyFile:    r.TLS.KeyFile,
			ServerName: r.TLS.ServerName,
		},
		Logger:  log.With("sink", "rabbitmq"),
		Metrics: metrics,
	})
	return s, sinkError(err, map[string]string{
		"URL":            c.rabbit.urlVar,
		"Exchange":       "BRIDGE_RABBITMQ_EXCHANGE",
		"Queue":          "BRIDGE_RABBITMQ_QUEUE",
		"TLS.CAFile":     "BRIDGE_RABBITMQ_TLS_CA_FILE",
		"TLS.CertFile":   "BRIDGE_RABBITMQ_TLS_CERT_FILE",
		"TLS.KeyFile":    "BRIDGE_RABBITMQ_TLS_KEY_FILE",
		"TLS.ServerName": "BRIDGE_RABBITMQ_TLS_SERVER_NAME",
	})
}
