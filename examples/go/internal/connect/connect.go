// Package connect is how the Go consumer examples connect to a broker: the same
// settings, under the same names, as the Node examples (examples/node/connect.mjs).
// Every setting is a flag whose default comes from an environment variable, so one
// set of variables configures an example in either language:
//
//	NATS_URL, NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE,
//	NATS_CREDS_FILE, NATS_NKEY_FILE;
//	RABBITMQ_URL, RABBITMQ_TLS_CA_FILE, RABBITMQ_TLS_CERT_FILE, RABBITMQ_TLS_KEY_FILE;
//	SQS_QUEUE_URL, SQS_ENDPOINT (and the AWS SDK's own AWS_* variables);
//	CONNECT_TIMEOUT, TIMEOUT.
//
// The names are the bridge's own (BRIDGE_NATS_TLS_CA_FILE, …) without BRIDGE_. A
// connection that cannot be made within CONNECT_TIMEOUT is an error that names the
// broker and its URL, with any password or token replaced by xxxxx.
package connect

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Env returns the variable's value, or def when it is unset or empty.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// String registers -flag with its default from the variable env (else def).
func String(fs *flag.FlagSet, p *string, name, env, def, usage string) {
	fs.StringVar(p, name, Env(env, def), usage+" ($"+env+")")
}

// Duration registers -flag with its default from the variable env (a Go duration
// such as 10s, else def). A value that does not parse stops the program.
func Duration(fs *flag.FlagSet, p *time.Duration, name, env string, def time.Duration, usage string) {
	d := def
	if v := os.Getenv(env); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			fmt.Fprintf(os.Stderr, "%s=%q: want a duration such as 10s or 500ms\n", env, v)
			os.Exit(1)
		}
	}
	fs.DurationVar(p, name, d, usage+" ($"+env+")")
}

// Common are the settings every example has: how long to wait for the broker to
// connect, and for a message.
type Common struct {
	ConnectTimeout time.Duration
	Timeout        time.Duration
}

// Flags registers -connect-timeout and -timeout.
func (c *Common) Flags(fs *flag.FlagSet) {
	Duration(fs, &c.ConnectTimeout, "connect-timeout", "CONNECT_TIMEOUT", 5*time.Second, "how long to wait for the broker to answer a connection")
	Duration(fs, &c.Timeout, "timeout", "TIMEOUT", 10*time.Second, "how long to wait for a message")
}

// Redact returns a broker URL (or several, comma-separated) with passwords and
// tokens replaced by xxxxx, for error messages.
func Redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.User == nil {
			if err != nil {
				parts[i] = "(a URL that does not parse)"
			}
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx") // a token
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
