package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
)

// natsSettings are the BRIDGE_NATS_* values after validation.
type natsSettings struct {
	syncInterval time.Duration // 0: fsync before every PubAck
}

// validateNats checks the NATS variables that envconfig cannot.
func (c *Config) validateNats() error {
	switch c.Nats.EmbeddedSync {
	case "always":
		c.nats.syncInterval = 0
	default:
		d, err := time.ParseDuration(c.Nats.EmbeddedSync)
		if err != nil || d <= 0 {
			return badVar("BRIDGE_NATS_EMBEDDED_SYNC", "%q: want always, or a positive sync interval such as 1s", c.Nats.EmbeddedSync)
		}
		c.nats.syncInterval = d
	}
	if c.Nats.Stream == "" {
		return badVar("BRIDGE_NATS_STREAM", "must not be empty")
	}
	if c.Nats.SubjectPrefix == "" {
		return badVar("BRIDGE_NATS_SUBJECT_PREFIX", "must not be empty")
	}
	if c.Nats.URL == "" && c.DataDir == "" {
		return badVar("BRIDGE_DATA_DIR", "must not be empty with the embedded NATS server")
	}
	return nil
}

// natsVars names the variable behind each natsjs.Config field.
var natsVars = map[string]string{
	"URL":            "BRIDGE_NATS_URL",
	"Stream":         "BRIDGE_NATS_STREAM",
	"EmbeddedListen": "BRIDGE_NATS_EMBEDDED_LISTEN",
	"EmbeddedToken":  "BRIDGE_NATS_EMBEDDED_TOKEN",
	"DataDir":        "BRIDGE_DATA_DIR",
}

func openNATS(ctx context.Context, c *Config, log *slog.Logger, metrics *sinks.Metrics) (sinks.Sink, error) {
	s, err := natsjs.New(ctx, natsjs.Config{
		URL:                  c.Nats.URL,
		Stream:               c.Nats.Stream,
		SubjectPrefix:        c.Nats.SubjectPrefix,
		EmbeddedListen:       c.Nats.EmbeddedListen,
		EmbeddedToken:        c.Nats.EmbeddedToken,
		EmbeddedSyncInterval: c.nats.syncInterval,
		DataDir:              c.DataDir,
		DuplicateWindow:      max(c.DedupTTL, 2*time.Minute),
		MaxPayload:           int32(min(c.MaxBodyBytes+64<<10, 64<<20)),
		Logger:               log.With("sink", "nats"),
		Metrics:              metrics,
	})
	if errors.Is(err, natsjs.ErrListenTaken) {
		// Often a NATS server already runs there: the bridge can use it instead.
		return nil, badVar("BRIDGE_NATS_EMBEDDED_LISTEN",
			"%v; give the embedded server another address, or set BRIDGE_NATS_URL to use the server already listening there", err)
	}
	if err != nil {
		return nil, sinkError(err, natsVars)
	}
	return s, nil
}
