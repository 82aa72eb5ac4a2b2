package natsjs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// probeEvent is the event whose subject Check probes for publish permission: the
// seed's, which every AudioSpliter deployment sends.
const probeEvent = "job.completed"

// Check checks what the sink needs, with cfg as New would use it: the TLS and
// credential files, the connection and authentication, JetStream for the account,
// the stream and the subjects it captures, and the permission to publish there. It
// creates no stream and stores nothing: the publish probe carries a
// Nats-Expected-Stream that JetStream refuses after the server's permission
// check. With no URL it checks what the embedded server needs.
func Check(ctx context.Context, cfg Config) []sinks.CheckResult {
	cfg = withDefaults(cfg)
	if cfg.URL == "" {
		return []sinks.CheckResult{checkEmbeddedServer(cfg)}
	}
	var out []sinks.CheckResult
	if files := securityFiles(cfg); files != "" {
		if _, err := securityOptions(cfg); err != nil {
			return append(out, sinks.Failed("TLS and credential files", err))
		}
		out = append(out, sinks.Passed("TLS and credential files", files))
	}
	connName := "connect " + sinks.RedactURL(cfg.URL)
	s, err := connect(cfg)
	if err != nil {
		return append(out, sinks.Failed(connName, err))
	}
	defer s.closeConn()
	tls := s.nc.TLSRequired() || cfg.TLSCAFile != ""
	at := ""
	if strings.Contains(cfg.URL, ",") { // which of the servers listed
		at = " at " + sinks.RedactURL(s.nc.ConnectedUrl())
	}
	out = append(out, sinks.Passed(connName, fmt.Sprintf("server %s (nats-server %s)%s, TLS %v, auth %s",
		s.nc.ConnectedServerName(), s.nc.ConnectedServerVersion(), at, tls, authKind(cfg))))

	watched, w := s.refusals.watch(ctx, "$JS.API.>")
	done := func() { s.refusals.end(w) }
	defer done()
	api := func(err error) error {
		if r := refused(watched); r != nil {
			return &sinks.ConfigError{Field: credsField(cfg), Err: r}
		}
		return err
	}

	acct, err := s.js.AccountInfo(watched)
	switch {
	case api(nil) != nil:
		return append(out, sinks.Failed("jetstream", api(nil)))
	case errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return append(out, sinks.Failed("jetstream", &sinks.ConfigError{Field: credsField(cfg), Err: fmt.Errorf(
			"natsjs: the account these credentials log in to has no JetStream (enable it for the account on the server, or use credentials of an account that has it): %w", err)}))
	case err != nil:
		return append(out, sinks.Failed("jetstream", &sinks.ConfigError{Field: "URL", Err: fmt.Errorf(
			"natsjs: no JetStream answers on this server (it runs without JetStream, or its cluster has not formed yet): %w", err)}))
	}
	out = append(out, sinks.Passed("jetstream", fmt.Sprintf("the account has JetStream: %d streams, %d bytes stored on file", acct.Streams, acct.Store)))

	streamName := "stream " + cfg.Stream
	info, err := s.lookupStream(watched)
	switch {
	case api(err) != nil:
		return append(out, sinks.Failed(streamName, api(err)))
	case info == nil:
		if other, err := s.js.StreamNameBySubject(watched, cfg.SubjectPrefix+".>"); err == nil && other != "" && other != cfg.Stream {
			return append(out, sinks.Failed(streamName, s.takenError(other, nil)))
		}
		out = append(out, sinks.Passed(streamName, fmt.Sprintf("missing: the bridge creates it at start with subjects %s.>, file storage, %d replica(s)",
			cfg.SubjectPrefix, cfg.Replicas)))
	default:
		out = append(out, sinks.Passed(streamName, fmt.Sprintf("subjects %s, %d replica(s), %s storage, %d messages",
			quoteList(info.Config.Subjects), info.Config.Replicas, info.Config.Storage, info.State.Msgs)))
	}

	subject := s.Subject(probeEvent)
	if err := s.Probe(ctx, subject); err != nil {
		if errors.Is(err, sinks.ErrRefused) {
			err = &sinks.ConfigError{Field: credsField(cfg), Also: []string{"SubjectPrefix"}, Err: err}
		}
		return append(out, sinks.Failed("publish to "+subject, err))
	}
	return append(out, sinks.Passed("publish to "+subject, "allowed (the probe was refused by JetStream: nothing stored)"))
}

// securityFiles names the TLS and credential files cfg sets, for the check line.
func securityFiles(cfg Config) string {
	var files []string
	for _, f := range []struct{ what, path string }{
		{"CA", cfg.TLSCAFile}, {"client certificate", cfg.TLSCertFile}, {".creds", cfg.CredsFile}, {"NKey seed", cfg.NkeyFile},
	} {
		if f.path != "" {
			files = append(files, f.what+" "+f.path)
		}
	}
	return strings.Join(files, ", ")
}

// checkEmbeddedServer checks what the embedded server needs: an address it may
// listen on, free now, and a data directory it can write.
func checkEmbeddedServer(cfg Config) sinks.CheckResult {
	const name = "embedded server"
	if _, _, err := checkEmbedded(cfg); err != nil {
		return sinks.Failed(name, err)
	}
	f, err := os.CreateTemp(cfg.DataDir, ".bridge-check-*")
	if err != nil {
		return sinks.Failed(name, &sinks.ConfigError{Field: "DataDir", Err: fmt.Errorf("natsjs: the data directory is not writable: %w", err)})
	}
	f.Close()
	os.Remove(f.Name())
	dir, _ := filepath.Abs(cfg.DataDir)
	return sinks.Passed(name, fmt.Sprintf("can listen on %s (token required: %v) and store under %s", cfg.EmbeddedListen, cfg.EmbeddedToken != "", dir))
}
