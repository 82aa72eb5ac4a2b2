package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

// writeSenders writes a senders file and a secret file beside it; it returns the
// senders file's path.
func writeSenders(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stripe.secret"), []byte("whsec_test_0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "senders.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const oneSender = `senders:
  - name: billing
    path: /webhooks/stripe
    scheme: stripe
    secret_file: stripe.secret
`

// BRIDGE_SENDERS_FILE is loaded by Validate: the senders with their schemes,
// secrets read, and no single-sender secret.
func TestSendersFileLoaded(t *testing.T) {
	t.Parallel()
	c := config.Default()
	c.SendersFile = writeSenders(t, oneSender)
	if err := c.Validate(env(map[string]string{"BRIDGE_SENDERS_FILE": c.SendersFile})); err != nil {
		t.Fatal(err)
	}
	ss := c.Senders()
	if len(ss) != 1 || ss[0].Name != "billing" || ss[0].Verifier == nil || ss[0].Route.String() != "{sender}.{event}" {
		t.Fatalf("Senders() = %+v", ss)
	}
	if c.Secrets() != nil {
		t.Errorf("Secrets() = %v with a senders file, want none", c.Secrets())
	}
	if v := c.SinkVariables()["SenderExchanges"]; v != "BRIDGE_SENDERS_FILE" {
		t.Errorf("a sender's exchange is blamed on %q", v)
	}
}

// The single sender's variables beside the senders file stop the start naming
// both: "set" is present in the environment, also with BRIDGE_WEBHOOK_PATH's own
// default value, or (for a caller that passes no lookup) a field set.
func TestSendersFileExcludesTheSingleSender(t *testing.T) {
	t.Parallel()
	path := writeSenders(t, oneSender)
	for _, c := range []struct {
		name   string
		env    map[string]string
		edit   func(*config.Config)
		naming string
	}{
		{"secret in the environment", map[string]string{"BRIDGE_WEBHOOK_SECRET": "x"}, func(c *config.Config) { c.WebhookSecret = "x" }, "BRIDGE_WEBHOOK_SECRET"},
		{"secret set empty", map[string]string{"BRIDGE_WEBHOOK_SECRET": ""}, nil, "BRIDGE_WEBHOOK_SECRET"},
		{"secret file", map[string]string{"BRIDGE_WEBHOOK_SECRET_FILE": "/x"}, func(c *config.Config) { c.WebhookSecretFile = "/x" }, "BRIDGE_WEBHOOK_SECRET_FILE"},
		{"path /x", map[string]string{"BRIDGE_WEBHOOK_PATH": "/x"}, func(c *config.Config) { c.WebhookPath = "/x" }, "BRIDGE_WEBHOOK_PATH"},
		{"path at its default", map[string]string{"BRIDGE_WEBHOOK_PATH": "/webhooks"}, nil, "BRIDGE_WEBHOOK_PATH"},
		{"a field, no lookup", nil, func(c *config.Config) { c.WebhookSecret = "x" }, "BRIDGE_WEBHOOK_SECRET"},
	} {
		cfg := config.Default()
		cfg.SendersFile = path
		if c.edit != nil {
			c.edit(cfg)
		}
		lookup := env(c.env)
		if c.env == nil {
			lookup = nil
		}
		err := cfg.Validate(lookup)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Variable != "BRIDGE_SENDERS_FILE" || !strings.Contains(err.Error(), c.naming) {
			t.Errorf("%s: Validate = %v, want BRIDGE_SENDERS_FILE naming %s", c.name, err, c.naming)
		}
	}
}

// A mistake in the file is an error of BRIDGE_SENDERS_FILE that names the sender
// and the field (and the line), never a secret.
func TestSendersFileMistakes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, content string
		want          []string
	}{
		{"unknown scheme", strings.Replace(oneSender, "scheme: stripe", "scheme: paypal", 1), []string{`sender "billing"`, "scheme", "line 4"}},
		{"unknown key", oneSender + "    colour: blue\n", []string{`sender "billing"`, "colour"}},
		{"missing secret file", strings.Replace(oneSender, "stripe.secret", "nowhere.secret", 1), []string{`sender "billing"`, "secret_file"}},
		{"tolerance on github", strings.Replace(oneSender, "scheme: stripe", "scheme: github", 1) + "    tolerance: 5m\n", []string{`sender "billing"`, "tolerance"}},
		{"a route with {job}", oneSender + "    route: \"{job}\"\n", []string{`sender "billing"`, "route"}},
		{"a path with a trailing slash", strings.Replace(oneSender, "/webhooks/stripe", "/webhooks/stripe/", 1), []string{`sender "billing"`, "path"}},
	} {
		cfg := config.Default()
		cfg.SendersFile = writeSenders(t, c.content)
		err := cfg.Validate(nil)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Variable != "BRIDGE_SENDERS_FILE" {
			t.Errorf("%s: Validate = %v, want an error of BRIDGE_SENDERS_FILE", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %s", c.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "whsec_test_0123456789") {
			t.Errorf("%s: the error quotes the secret", c.name)
		}
	}
}
