package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// No container engine runs where these tests do. docker-compose.yml is loaded with
// compose-go, the loader `docker compose` itself is built on (interpolation, YAML
// merge keys, profiles, the compose schema and its consistency checks), once per
// profile, and the result is checked against the bridge binary.

const composeFile = "../docker-compose.yml"

// composeProfiles maps each profile to the services it must start, and to its bridge.
var composeProfiles = map[string]struct {
	services []string
	bridge   string
	sink     string
}{
	"rabbitmq": {[]string{"bridge-rabbitmq", "rabbitmq"}, "bridge-rabbitmq", "rabbitmq"},
	"nats":     {[]string{"bridge-nats", "nats"}, "bridge-nats", "nats"},
	"sqs":      {[]string{"bridge-sqs", "sqs"}, "bridge-sqs", "sqs"},
	"embedded": {[]string{"bridge-embedded"}, "bridge-embedded", "nats"},
	"senders":  {[]string{"bridge-senders", "nats"}, "bridge-senders", "nats"},
}

// composeEnv is the shell environment of a user who followed the file's header.
var composeEnv = map[string]string{
	"BRIDGE_WEBHOOK_SECRET":      "compose-test-webhook-secret-0001",
	"BRIDGE_NATS_EMBEDDED_TOKEN": "compose-test-embedded-token-0001",
	"STRIPE_WEBHOOK_SECRET":      "whsec_compose_test_stripe_0001",
}

// loadCompose loads the compose file as `docker compose --profile … config` would,
// with env as the only environment (no .env file, not this process's environment).
func loadCompose(t *testing.T, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory(repoRoot),
		cli.WithEnv(list),
		cli.WithProfiles(profiles),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	return opts.LoadProject(context.Background())
}

func mustLoadCompose(t *testing.T, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	p, err := loadCompose(t, env, profiles...)
	if err != nil {
		t.Fatalf("docker compose --profile %v config: %v", profiles, err)
	}
	return p
}

// TestComposeProfiles: each profile starts its broker and one bridge configured for
// it, and nothing else: --profile nats or sqs never starts RabbitMQ.
func TestComposeProfiles(t *testing.T) {
	for profile, want := range composeProfiles {
		t.Run(profile, func(t *testing.T) {
			p := mustLoadCompose(t, composeEnv, profile)
			got := slices.Sorted(maps.Keys(p.Services))
			if !slices.Equal(got, slices.Sorted(slices.Values(want.services))) {
				t.Errorf("--profile %s starts %v, want %v", profile, got, want.services)
			}
			checkComposeBridge(t, p, want.bridge, want.sink)
		})
	}
	// Without a profile nothing starts: there is no default broker to guess.
	if p := mustLoadCompose(t, composeEnv); len(p.Services) != 0 {
		t.Errorf("without a profile compose starts %v", slices.Sorted(maps.Keys(p.Services)))
	}
}

// checkComposeBridge checks one profile's bridge service against the binary.
func checkComposeBridge(t *testing.T, p *types.Project, name, sink string) {
	t.Helper()
	known := bridgeVariables(t)
	svc, ok := p.Services[name]
	if !ok {
		t.Fatalf("no service %s", name)
	}
	if svc.Build == nil || filepath.Clean(svc.Build.Context) != mustAbs(t, repoRoot) {
		t.Errorf("%s is not built from the repository's Dockerfile: %+v", name, svc.Build)
	}
	env := map[string]string{}
	for k, v := range svc.Environment {
		if v == nil {
			t.Errorf("%s: %s has no value", name, k)
			continue
		}
		env[k] = *v
	}
	for k := range env {
		if strings.HasPrefix(k, "BRIDGE_") {
			if _, ok := known[k]; !ok {
				t.Errorf("%s sets %s, which `bridge -h` does not list", name, k)
			}
		}
	}
	if env["BRIDGE_SINK"] != sink {
		t.Errorf("%s: BRIDGE_SINK = %q, want %q", name, env["BRIDGE_SINK"], sink)
	}

	// Secrets: files granted by compose `secrets:`, never plain environment.
	if _, ok := env["BRIDGE_WEBHOOK_SECRET"]; ok {
		t.Errorf("%s passes the webhook secret as plain environment (docker inspect shows it)", name)
	}
	switch {
	case env["BRIDGE_SENDERS_FILE"] != "" && (env["BRIDGE_WEBHOOK_SECRET_FILE"] != "" || env["BRIDGE_WEBHOOK_PATH"] != ""):
		t.Errorf("%s: BRIDGE_SENDERS_FILE beside BRIDGE_WEBHOOK_SECRET_FILE or _PATH: the bridge refuses that", name)
	case env["BRIDGE_SENDERS_FILE"] == "" && env["BRIDGE_WEBHOOK_SECRET_FILE"] == "":
		t.Errorf("%s: no BRIDGE_WEBHOOK_SECRET_FILE", name)
	}
	for k, v := range env {
		if strings.HasSuffix(k, "_FILE") {
			secretFile(t, p, svc, k, v) // fails when no granted secret puts a file there
		}
	}
	plain := maps.Clone(env)
	// The one secret still in plain environment: the binary reads the embedded
	// server's token only from BRIDGE_NATS_EMBEDDED_TOKEN (it has no _FILE form).
	// It must come from the user's shell, never from the file itself.
	if tok, ok := plain["BRIDGE_NATS_EMBEDDED_TOKEN"]; ok {
		if tok != composeEnv["BRIDGE_NATS_EMBEDDED_TOKEN"] {
			t.Errorf("%s: BRIDGE_NATS_EMBEDDED_TOKEN does not come from the shell's variable", name)
		}
		delete(plain, "BRIDGE_NATS_EMBEDDED_TOKEN")
	}
	// The local SQS server accepts any key: these are placeholders, allowed only
	// when the bridge talks to that local server.
	if env["BRIDGE_SQS_ENDPOINT"] == "http://sqs:4566" {
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if plain[k] == "local" {
				delete(plain, k)
			}
		}
	}
	checkNoInlineSecret(t, plain)
	for k, v := range env {
		for _, secret := range []string{"BRIDGE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET"} {
			if strings.Contains(v, composeEnv[secret]) {
				t.Errorf("%s: the value of %s appears in %s", name, secret, k)
			}
		}
	}

	// The bridge publishes the port it listens on.
	_, port, err := net.SplitHostPort(env["BRIDGE_LISTEN_ADDR"])
	if err != nil {
		t.Fatalf("%s: BRIDGE_LISTEN_ADDR = %q: %v", name, env["BRIDGE_LISTEN_ADDR"], err)
	}
	if !slices.ContainsFunc(svc.Ports, func(pc types.ServicePortConfig) bool { return fmt.Sprint(pc.Target) == port }) {
		t.Errorf("%s listens on %s but publishes %+v", name, port, svc.Ports)
	}

	// Every broker port reaches the host on loopback only (RabbitMQ's guest/guest,
	// an unauthenticated NATS, a local SQS): only the bridge's HTTP port is open.
	for sname, s := range p.Services {
		for _, pc := range s.Ports {
			if sname == name && fmt.Sprint(pc.Target) == port {
				continue
			}
			if pc.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %d on %q, want 127.0.0.1", sname, pc.Target, pc.HostIP)
			}
		}
	}

	// Each broker it is pointed at is a service of this profile that it waits for,
	// healthy first, on a port that service listens on.
	for _, v := range []string{"BRIDGE_RABBITMQ_URL", "BRIDGE_NATS_URL", "BRIDGE_SQS_ENDPOINT"} {
		raw := env[v]
		if f := env[v+"_FILE"]; f != "" {
			raw = secretFile(t, p, svc, v+"_FILE", f)
		}
		if raw == "" {
			continue
		}
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Host == "" {
			t.Errorf("%s: %s is not a URL", name, v)
			continue
		}
		broker, ok := p.Services[u.Hostname()]
		if !ok {
			t.Errorf("%s: %s points at %s, not a service of this profile", name, v, u.Hostname())
			continue
		}
		if !slices.ContainsFunc(broker.Ports, func(pc types.ServicePortConfig) bool { return fmt.Sprint(pc.Target) == u.Port() }) {
			t.Errorf("%s: %s uses port %s; %s publishes %+v", name, v, u.Port(), u.Hostname(), broker.Ports)
		}
		dep, ok := svc.DependsOn[u.Hostname()]
		if !ok || dep.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s does not wait for %s to be healthy (%+v)", name, u.Hostname(), dep)
		}
		if broker.HealthCheck == nil && !strings.HasPrefix(broker.Image, "kibertoad/fauxqs:") {
			t.Errorf("%s has no health check (only the fauxqs image brings its own)", u.Hostname())
		}
		if u.Hostname() != "sqs" && len(broker.Volumes) == 0 {
			t.Errorf("%s keeps its data in no volume", u.Hostname())
		}
	}
	if sink == "sqs" {
		checkSQSQueue(t, env["BRIDGE_SQS_QUEUE_URL"])
	}
	if name == "bridge-embedded" {
		if env["BRIDGE_NATS_URL"] != "" {
			t.Errorf("%s sets BRIDGE_NATS_URL: it would not run the embedded server", name)
		}
		if !slices.ContainsFunc(svc.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type == "volume" && v.Target == "/data" }) {
			t.Errorf("%s keeps the embedded stream in no named volume at /data", name)
		}
	}
}

// secretFile checks that the file a *_FILE variable names is a compose secret
// granted to the service, and returns its content (read from the file or the shell
// variable that compose would copy into the container).
func secretFile(t *testing.T, p *types.Project, svc types.ServiceConfig, variable, path string) string {
	t.Helper()
	for _, s := range svc.Secrets {
		target := s.Target
		if target == "" {
			target = s.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		if target != path {
			continue
		}
		def, ok := p.Secrets[s.Source]
		if !ok {
			t.Errorf("%s: secret %s is not declared", svc.Name, s.Source)
			return ""
		}
		switch {
		case def.Environment != "":
			return def.Content // compose-go resolved it from the environment
		case def.File != "":
			b, err := os.ReadFile(def.File)
			if err != nil {
				t.Errorf("%s: secret %s: %v", svc.Name, s.Source, err)
			}
			return string(b)
		}
		t.Errorf("%s: secret %s has neither file nor environment", svc.Name, s.Source)
		return ""
	}
	t.Errorf("%s: %s = %s, but no secret granted to the service is mounted there", svc.Name, variable, path)
	return ""
}

// checkSQSQueue: the local SQS server creates the queue the bridge is pointed at.
func checkSQSQueue(t *testing.T, queueURL string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".ci/fauxqs/init.json"))
	if err != nil {
		t.Fatal(err)
	}
	var init struct{ Queues []struct{ Name string } }
	if err := json.Unmarshal(raw, &init); err != nil {
		t.Fatal(err)
	}
	queue := queueURL[strings.LastIndex(queueURL, "/")+1:]
	if !slices.ContainsFunc(init.Queues, func(q struct{ Name string }) bool { return q.Name == queue }) {
		t.Errorf("init.json does not create %q", queue)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestComposeWebhookSecretRequired: without the secret in the shell, compose
// refuses to start anything and names the variable.
func TestComposeWebhookSecretRequired(t *testing.T) {
	for profile := range composeProfiles {
		env := maps.Clone(composeEnv)
		delete(env, "BRIDGE_WEBHOOK_SECRET")
		_, err := loadCompose(t, env, profile)
		if err == nil || !strings.Contains(err.Error(), "BRIDGE_WEBHOOK_SECRET") {
			t.Errorf("--profile %s without BRIDGE_WEBHOOK_SECRET: err = %v, want one naming it", profile, err)
		}
	}
}

// TestComposeHostPorts: every published host port can be moved by a variable.
func TestComposeHostPorts(t *testing.T) {
	moved := map[string]string{
		"HOST_PORT_BRIDGE": "18080", "HOST_PORT_RABBITMQ": "15673", "HOST_PORT_RABBITMQ_UI": "15674",
		"HOST_PORT_NATS": "14222", "HOST_PORT_SQS": "14566",
	}
	env := maps.Clone(composeEnv)
	maps.Copy(env, moved)
	for profile := range composeProfiles {
		p := mustLoadCompose(t, env, profile)
		for name, s := range p.Services {
			for _, pc := range s.Ports {
				if !slices.Contains(slices.Collect(maps.Values(moved)), pc.Published) {
					t.Errorf("--profile %s: %s publishes %d on host port %q, which no HOST_PORT_* variable moves", profile, name, pc.Target, pc.Published)
				}
			}
		}
	}
}
