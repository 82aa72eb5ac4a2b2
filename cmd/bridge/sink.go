package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/awssqs"
)

// startupTimeout bounds connecting to the broker and declaring its topology.
const startupTimeout = 15 * time.Second

// openSink builds the configured sink. A failure is reported as a configError that
// names the variable behind the sink's field at fault.
func openSink(ctx context.Context, c *Config, log *slog.Logger, metrics *sinks.Metrics) (sinks.Sink, error) {
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	switch c.Sink {
	case "nats":
		return openNATS(ctx, c, log, metrics)
	case "rabbitmq":
		return openRabbitMQ(ctx, c, log, metrics)
	case "sqs":
		s, err := awssqs.New(ctx, awssqs.Config{
			QueueURL: c.Sqs.QueueURL,
			Endpoint: c.Sqs.Endpoint,
			Logger:   log.With("sink", "sqs"),
			Metrics:  metrics,
		})
		return s, sinkError(err, map[string]string{
			"QueueURL":    "BRIDGE_SQS_QUEUE_URL",
			"Endpoint":    "BRIDGE_SQS_ENDPOINT",
			"Region":      "AWS_REGION",
			"Credentials": "AWS_ACCESS_KEY_ID",
			"Profile":     "AWS_PROFILE",
		})
	}
	return nil, badVar("BRIDGE_SINK", "unknown sink %q", c.Sink)
}

// sinkError turns a sink's *sinks.ConfigError into a configError naming the variable;
// any other start-up failure is blamed on BRIDGE_SINK's broker as a whole.
func sinkError(err error, vars map[string]string) error {
	if err == nil {
		return nil
	}
	var ce *sinks.ConfigError
	if errors.As(err, &ce) {
		if v, ok := vars[ce.Field]; ok {
			return badVar(v, "%v", ce.Err)
		}
	}
	return badVar("BRIDGE_SINK", "%v", fmt.Errorf("broker not usable: %w", err))
}
