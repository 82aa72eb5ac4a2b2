package natsjs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/audiospliter/audiospliter-bridge/sinks"
)

// securityOptions turns the TLS and credential files into nats.go's own options
// (RootCAs, ClientCert, UserCredentials, NkeyOptionFromSeed). nats.go reads the
// .creds and seed files again on every reconnect, so a rotated file is picked up
// without a restart. Each file is tried once here, so an unreadable or malformed
// one is a start-up error that names its field rather than a failed connect.
func securityOptions(cfg Config) ([]nats.Option, error) {
	if cfg.CredsFile != "" && cfg.NkeyFile != "" {
		return nil, &sinks.ConfigError{Field: "NkeyFile", Err: errors.New("natsjs: give a .creds file or an NKey seed, not both")}
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, &sinks.ConfigError{Field: "TLSCertFile", Err: errors.New("natsjs: a client certificate needs both its certificate and key files")}
	}
	var opts []nats.Option
	var probe nats.Options
	add := func(field string, opt nats.Option) error {
		if err := opt(&probe); err != nil {
			return &sinks.ConfigError{Field: field, Err: fmt.Errorf("natsjs: %w", err)}
		}
		opts = append(opts, opt)
		return nil
	}
	if cfg.TLSCAFile != "" {
		if err := add("TLSCAFile", nats.RootCAs(cfg.TLSCAFile)); err != nil {
			return nil, err
		}
	}
	if cfg.TLSCertFile != "" {
		if err := add("TLSCertFile", nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile)); err != nil {
			return nil, err
		}
	}
	if cfg.CredsFile != "" {
		opt := nats.UserCredentials(cfg.CredsFile)
		if err := add("CredsFile", opt); err != nil {
			return nil, err
		}
		// The option reads the file only when connecting: ask it for the JWT and a
		// signature now, so that a bad file is named as such.
		if _, err := probe.UserJWT(); err != nil {
			return nil, credsError(cfg.CredsFile)
		}
		if _, err := probe.SignatureCB([]byte("probe")); err != nil {
			return nil, credsError(cfg.CredsFile)
		}
	}
	if cfg.NkeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(cfg.NkeyFile)
		if err != nil {
			if openErr := canOpen(cfg.NkeyFile); openErr != nil {
				err = openErr
			} else {
				err = errors.New("holds no valid NKey user seed")
			}
			return nil, &sinks.ConfigError{Field: "NkeyFile", Err: fmt.Errorf("natsjs: NKey seed file %s: %w", cfg.NkeyFile, err)}
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

// credsError describes a .creds file that cannot be used without echoing what
// nats.go or nkeys said about its content: only whether it can be read.
func credsError(path string) error {
	err := canOpen(path)
	if err == nil {
		err = errors.New("is not a .creds file with a user JWT and an NKey seed")
	}
	return &sinks.ConfigError{Field: "CredsFile", Err: fmt.Errorf("natsjs: creds file %s: %w", path, err)}
}

func canOpen(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// connectError names the setting behind a failed first connect: the CA when the
// server's certificate does not verify, the client certificate when the server
// refuses it, the credentials when the server refuses them, else the URL.
func connectError(cfg Config, url string, err error) error {
	// nats.go quotes a URL it cannot parse whole, password and all.
	err = sinks.RedactError(err, url)
	field := "URL"
	var (
		unknownCA *x509.UnknownAuthorityError
		verify    *tls.CertificateVerificationError
		hostname  x509.HostnameError
		alert     tls.AlertError
	)
	switch {
	case errors.As(err, &hostname):
		// The certificate is not for the name dialled: the URL's host is at fault.
		err = fmt.Errorf("the server's certificate does not carry the host name of the URL: %w", err)
	case errors.As(err, &unknownCA), errors.As(err, &verify), strings.Contains(err.Error(), "x509: "):
		field = "TLSCAFile"
		if cfg.TLSCAFile != "" {
			err = fmt.Errorf("the server's certificate does not verify against %s: %w", cfg.TLSCAFile, err)
		} else {
			err = fmt.Errorf("the server's certificate does not verify against the system's CA certificates (give the CA that signed it): %w", err)
		}
	case errors.As(err, &alert), errors.Is(err, nats.ErrTLS), strings.Contains(err.Error(), "remote error: tls"):
		// The server verified us and hung up (with TLS 1.3 the client sees the
		// connection close after its handshake, which nats.go reports as ErrTLS):
		// a client certificate it does not accept, or none where it wants one.
		field = "TLSCertFile"
		err = fmt.Errorf("the server refused the TLS connection (its CA does not accept our client certificate, or it wants one): %w", err)
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		field = credsField(cfg)
		if field == "URL" && !strings.Contains(url, "@") {
			err = fmt.Errorf("the server wants credentials and none are set (a .creds file, an NKey seed, or a user or token in the URL): %w", err)
		} else {
			err = fmt.Errorf("the server refused the credentials: %w", err)
		}
	}
	return &sinks.ConfigError{Field: field, Err: fmt.Errorf("natsjs: connect to %s: %w", sinks.RedactURL(url), err)}
}

// checkURLs parses each server of the comma-separated list raw as nats.go will
// (a URL without a scheme gets nats://), so that one it cannot parse is a start-up
// error of our own words: nats.go's would quote the URL, password and all.
func checkURLs(raw string) error {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue // nats.go skips empty entries
		}
		if !strings.Contains(p, "://") {
			p = "nats://" + p
		}
		if u, err := neturl.Parse(p); err == nil && u.Host != "" && u.Opaque == "" {
			continue
		}
		which := "the URL"
		if len(parts) > 1 {
			which = fmt.Sprintf("server %d of %d in the URL list", i+1, len(parts))
		}
		return &sinks.ConfigError{Field: "URL", Err: fmt.Errorf("natsjs: %s does not parse as nats://[user:password@]host:port (or tls://; a password with reserved characters must be percent-encoded)", which)}
	}
	return nil
}

// credsField is the setting that chose the account the bridge logs in to.
func credsField(cfg Config) string {
	switch {
	case cfg.CredsFile != "":
		return "CredsFile"
	case cfg.NkeyFile != "":
		return "NkeyFile"
	}
	return "URL"
}

// throttle lets a repeating log line through at most once per interval and counts
// what it held back.
type throttle struct {
	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (t *throttle) allow(now time.Time, every time.Duration) (ok bool, skipped int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < every {
		t.skipped++
		return false, 0
	}
	t.last, skipped, t.skipped = now, t.skipped, 0
	return true, skipped
}
