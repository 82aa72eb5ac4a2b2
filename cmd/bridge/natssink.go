package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/audiospliter/audiospliter-bridge/sinks"
	"github.com/audiospliter/audiospliter-bridge/sinks/natsjs"
)

// natsSettings are the BRIDGE_NATS_* values after validation.
type natsSettings struct {
	syncInterval time.Duration // 0: fsync before every PubAck
	urlVar       string        // the variable the URL came from
}

// validateNats checks the NATS variables that envconfig cannot, and reads
// BRIDGE_NATS_URL_FILE.
func (c *Config) validateNats() error {
	if c.Nats.URLFile != "" {
		if c.Nats.URL != "" {
			return badVar("BRIDGE_NATS_URL_FILE", "and BRIDGE_NATS_URL are both set: give one")
		}
		b, err := os.ReadFile(c.Nats.URLFile)
		if err != nil {
			return badVar("BRIDGE_NATS_URL_FILE", "%v", err)
		}
		// Never echo the content: it holds the password.
		if c.Nats.URL = strings.TrimSpace(string(b)); c.Nats.URL == "" {
			return badVar("BRIDGE_NATS_URL_FILE", "%s holds no URL", c.Nats.URLFile)
		}
		c.nats.urlVar = "BRIDGE_NATS_URL_FILE"
	}
	if c.Nats.URL == "" {
		// The embedded server speaks plain TCP on loopback and knows only its token.
		for _, v := range []struct{ name, value string }{
			{"BRIDGE_NATS_CREDS_FILE", c.Nats.CredsFile}, {"BRIDGE_NATS_NKEY_FILE", c.Nats.NkeyFile},
			{"BRIDGE_NATS_TLS_CA_FILE", c.Nats.TLS.CAFile}, {"BRIDGE_NATS_TLS_CERT_FILE", c.Nats.TLS.CertFile},
			{"BRIDGE_NATS_TLS_KEY_FILE", c.Nats.TLS.KeyFile},
		} {
			if v.value != "" {
				return badVar(v.name, "applies to a server given in BRIDGE_NATS_URL, which is empty (the embedded server takes BRIDGE_NATS_EMBEDDED_TOKEN)")
			}
		}
	}
	if c.Nats.CredsFile != "" && c.Nats.NkeyFile != "" {
		return badVar("BRIDGE_NATS_CREDS_FILE", "and BRIDGE_NATS_NKEY_FILE are both set: give one")
	}
	if (c.Nats.TLS.CertFile == "") != (c.Nats.TLS.KeyFile == "") {
		return badVar("BRIDGE_NATS_TLS_CERT_FILE", "and BRIDGE_NATS_TLS_KEY_FILE must be set together")
	}
	if c.Nats.Replicas < 1 || c.Nats.Replicas > 5 {
		return badVar("BRIDGE_NATS_REPLICAS", "must be 1 to 5 (JetStream's limit), got %d", c.Nats.Replicas)
	}
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
func (c *Config) natsVars() map[string]string {
	url := "BRIDGE_NATS_URL"
	if c.nats.urlVar != "" {
		url = c.nats.urlVar
	}
	return map[string]string{
		"URL":            url,
		"Stream":         "BRIDGE_NATS_STREAM",
		"EmbeddedListen": "BRIDGE_NATS_EMBEDDED_LISTEN",
		"EmbeddedToken":  "BRIDGE_NATS_EMBEDDED_TOKEN",
		"DataDir":        "BRIDGE_DATA_DIR",
		"TLSCAFile":      "BRIDGE_NATS_TLS_CA_FILE",
		"TLSCertFile":    "BRIDGE_NATS_TLS_CERT_FILE",
		"CredsFile":      "BRIDGE_NATS_CREDS_FILE",
		"NkeyFile":       "BRIDGE_NATS_NKEY_FILE",
		"Replicas":       "BRIDGE_NATS_REPLICAS",
	}
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
		MaxPayload:           int32(min(c.MaxBodyBytes, 64<<20) + 64<<10),
		Logger:               log.With("sink", "nats"),
		Metrics:              metrics,
		TLSCAFile:            c.Nats.TLS.CAFile,
		TLSCertFile:          c.Nats.TLS.CertFile,
		TLSKeyFile:           c.Nats.TLS.KeyFile,
		CredsFile:            c.Nats.CredsFile,
		NkeyFile:             c.Nats.NkeyFile,
		Replicas:             c.Nats.Replicas,
	})
	if errors.Is(err, natsjs.ErrListenTaken) {
		// Often a NATS server already runs there: the bridge can use it instead.
		return nil, badVar("BRIDGE_NATS_EMBEDDED_LISTEN",
			"%v; give the embedded server another address, or set BRIDGE_NATS_URL to use the server already listening there", err)
	}
	if err != nil {
		return nil, sinkError(err, c.natsVars())
	}
	return s, nil
}
