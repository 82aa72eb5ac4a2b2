package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// No Docker engine runs where these tests do: they read docker-compose.yml and the
// Dockerfile and check them against the bridge itself.

type composeFile struct {
	Services map[string]struct {
		Image       string
		Build       any
		Profiles    []string
		Ports       []string
		Environment map[string]string
		Volumes     []string
		Healthcheck *struct{ Test []string }
		DependsOn   map[string]struct {
			Condition string
			Required  *bool
		} `yaml:"depends_on"`
	}
	Volumes map[string]any
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

var interpolation = regexp.MustCompile(`\$\{([A-Z_]+)(?::?[-?]([^}]*))?\}`)

// expand resolves ${VAR:-default} as compose would with VAR unset, and
// ${VAR:?message} with the value given.
func expand(v string, given map[string]string) string {
	return interpolation.ReplaceAllStringFunc(v, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		if g, ok := given[sub[1]]; ok {
			return g
		}
		if strings.Contains(m, ":?") {
			return ""
		}
		return sub[2]
	})
}

// containerPorts lists the container side of "host:container" port mappings.
func containerPorts(ports []string) []string {
	var out []string
	for _, p := range ports {
		out = append(out, p[strings.LastIndex(p, ":")+1:])
	}
	return out
}

func TestComposeFile(t *testing.T) {
	c := readCompose(t)
	bridge, ok := c.Services["bridge"]
	if !ok {
		t.Fatal("no bridge service")
	}
	if bridge.Build == nil {
		t.Error("the bridge is not built from the Dockerfile")
	}

	// Every BRIDGE_* variable it sets is one the bridge reads.
	for k := range bridge.Environment {
		if strings.HasPrefix(k, "BRIDGE_") && !slices.Contains(specVariables, k) {
			t.Errorf("compose sets %s, which the bridge does not read", k)
		}
	}

	// Every service it depends on exists, healthy first.
	for name, dep := range bridge.DependsOn {
		svc, ok := c.Services[name]
		if !ok {
			t.Errorf("depends_on names %s, which is not a service", name)
			continue
		}
		if dep.Condition != "service_healthy" {
			t.Errorf("depends_on %s: condition %q, want service_healthy", name, dep.Condition)
		}
		if svc.Healthcheck == nil && !strings.HasPrefix(svc.Image, "kibertoad/fauxqs") {
			t.Errorf("%s has no health check (only the fauxqs image brings its own)", name)
		}
		if len(svc.Profiles) > 0 && (dep.Required == nil || *dep.Required) {
			t.Errorf("depends_on %s must be required: false: it only runs under profile %v", name, svc.Profiles)
		}
	}

	// The ports line up: the bridge listens where it publishes, and each broker URL
	// names a service and a port that service exposes.
	env := map[string]string{}
	for k, v := range bridge.Environment {
		env[k] = expand(v, map[string]string{"BRIDGE_WEBHOOK_SECRET": "compose-test-secret-000"})
	}
	_, listenPort, _ := net.SplitHostPort(env["BRIDGE_LISTEN_ADDR"])
	if !slices.Contains(containerPorts(bridge.Ports), listenPort) {
		t.Errorf("bridge listens on %s but publishes %v", listenPort, bridge.Ports)
	}
	for _, v := range []string{"BRIDGE_RABBITMQ_URL", "BRIDGE_NATS_URL", "BRIDGE_SQS_ENDPOINT"} {
		u, err := url.Parse(env[v])
		if err != nil || u.Host == "" {
			t.Errorf("%s = %q is not a URL", v, env[v])
			continue
		}
		svc, ok := c.Services[u.Hostname()]
		if !ok {
			t.Errorf("%s points at %s, which is not a service", v, u.Hostname())
			continue
		}
		if !slices.Contains(containerPorts(svc.Ports), u.Port()) {
			t.Errorf("%s uses port %s; service %s exposes %v", v, u.Port(), u.Hostname(), svc.Ports)
		}
		if _, ok := bridge.DependsOn[u.Hostname()]; !ok {
			t.Errorf("the bridge does not wait for %s", u.Hostname())
		}
	}

	// Named volumes are declared, so data survives down/up.
	for name, svc := range c.Services {
		for _, v := range svc.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat("../../" + src); err != nil {
					t.Errorf("%s mounts %s, which is not in the repository", name, src)
				}
				continue
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s uses volume %s, not declared under volumes", name, src)
			}
		}
	}
	for _, broker := range []string{"rabbitmq", "nats"} {
		if len(c.Services[broker].Volumes) == 0 {
			t.Errorf("%s keeps no data in a volume", broker)
		}
	}

	// The SQS emulator creates the queue the bridge is pointed at.
	raw, err := os.ReadFile("../../.ci/fauxqs/init.json")
	if err != nil {
		t.Fatal(err)
	}
	var init struct{ Queues []struct{ Name string } }
	if err := json.Unmarshal(raw, &init); err != nil {
		t.Fatal(err)
	}
	queue := env["BRIDGE_SQS_QUEUE_URL"][strings.LastIndex(env["BRIDGE_SQS_QUEUE_URL"], "/")+1:]
	if !slices.ContainsFunc(init.Queues, func(q struct{ Name string }) bool { return q.Name == queue }) {
		t.Errorf("init.json does not create %s", queue)
	}

	// With each sink chosen by environment, the configuration is valid.
	for _, sink := range []string{"rabbitmq", "nats", "sqs"} {
		env["BRIDGE_SINK"] = sink
		setEnv(t, env)
		if _, err := loadConfig(); err != nil {
			t.Errorf("BRIDGE_SINK=%s with the compose environment: %v", sink, err)
		}
	}
}

func TestDockerfile(t *testing.T) {
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages     int
		finalUser  string
		copies     []string
		healthOK   bool
		entryOK    bool
		buildOK    bool
		goImage    string
		envListen  string
		exposes    []string
		continued  string
		finalStage bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, "\\") {
			continued += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line = continued + line
		continued = ""
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			stages++
			finalStage = stages > 1
			finalUser = ""
			if strings.HasPrefix(fields[1], "golang:") {
				goImage = fields[1]
			}
		case "USER":
			finalUser = fields[1]
		case "COPY":
			if !strings.HasPrefix(fields[1], "--from") {
				copies = append(copies, fields[1:len(fields)-1]...)
			}
		case "RUN":
			if strings.Contains(line, "CGO_ENABLED=0") && strings.Contains(line, "./cmd/bridge") {
				buildOK = true
			}
		case "HEALTHCHECK":
			healthOK = finalStage && strings.Contains(line, `CMD ["/bridge", "healthcheck"]`)
		case "ENTRYPOINT":
			entryOK = line == `ENTRYPOINT ["/bridge"]`
		case "ENV":
			for _, kv := range fields[1:] {
				k, v, _ := strings.Cut(kv, "=")
				if strings.HasPrefix(k, "BRIDGE_") && !slices.Contains(specVariables, k) {
					t.Errorf("Dockerfile sets %s, which the bridge does not read", k)
				}
				if k == "BRIDGE_LISTEN_ADDR" {
					envListen = v
				}
			}
		case "EXPOSE":
			exposes = append(exposes, fields[1:]...)
		}
	}
	if stages < 2 {
		t.Error("not a multi-stage build")
	}
	if finalUser == "" || finalUser == "root" || finalUser == "0" || strings.HasPrefix(finalUser, "0:") {
		t.Errorf("final stage runs as %q, want a non-root user", finalUser)
	}
	if !buildOK || !healthOK || !entryOK {
		t.Errorf("static build %v, health check by `bridge healthcheck` %v, entrypoint /bridge %v", buildOK, healthOK, entryOK)
	}
	for _, src := range copies {
		if _, err := os.Stat("../../" + src); err != nil {
			t.Errorf("COPY %s: not in the repository", src)
		}
	}
	_, port, _ := net.SplitHostPort(envListen)
	if !slices.Contains(exposes, port) {
		t.Errorf("listens on %q but exposes %v", envListen, exposes)
	}
	goMod, _ := os.ReadFile("../../go.mod")
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goLine == nil || !strings.HasPrefix(goImage, "golang:"+string(goLine[1])) {
		t.Errorf("build image %q does not match go.mod's go %s", goImage, goLine[1])
	}
}
