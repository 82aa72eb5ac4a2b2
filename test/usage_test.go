package test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
	"github.com/audiospliter/audiospliter-bridge/internal/senders"
)

// A bridge's environment would start it: help must not.
var startable = map[string]string{"BRIDGE_WEBHOOK_SECRET": testSecret, "BRIDGE_LISTEN_ADDR": "127.0.0.1:0", "BRIDGE_NATS_EMBEDDED_LISTEN": "127.0.0.1:0"}

func TestHelpListsEveryVariableAndExitsZero(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "-help", "help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, startable, arg)
			if code != 0 {
				t.Errorf("bridge %s exited %d, want 0", arg, code)
			}
			if stderr != "" {
				t.Errorf("bridge %s wrote to stderr: %s", arg, stderr)
			}
			got := helpVariables(t, stdout)
			for _, v := range specVariables {
				if _, ok := got[v]; !ok {
					t.Errorf("bridge %s does not list %s", arg, v)
				}
			}
			if !strings.Contains(stdout, "healthcheck") {
				t.Errorf("bridge %s does not list the healthcheck command:\n%s", arg, stdout)
			}
			if got["BRIDGE_LISTEN_ADDR"] != ":8080" || got["BRIDGE_RABBITMQ_QUEUE"] != "audiospliter.events" {
				t.Errorf("bridge %s shows wrong defaults: %v", arg, got)
			}
		})
	}
}

func TestUnknownArgumentExitsTwoWithUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--verbose"}, {"serve"}, {"healthcheck", "now"}} {
		code, stdout, stderr := run(t, startable, args...)
		if code != 2 {
			t.Errorf("bridge %v exited %d, want 2", args, code)
		}
		if !strings.Contains(stderr, "usage: bridge") || !strings.Contains(stderr, "healthcheck") ||
			!strings.Contains(stderr, "bridge -h") || !strings.Contains(stderr, args[0]) {
			t.Errorf("bridge %v printed no usage on stderr:\n%s", args, stderr)
		}
		if strings.Contains(stderr, `"msg":"listening"`) {
			t.Errorf("bridge %v ran the bridge", args)
		}
		if stdout != "" {
			t.Errorf("bridge %v wrote to stdout: %s", args, stdout)
		}
	}
}

// The configuration page and `bridge -h` must list the same variables with the same
// defaults: the page is what users read, the help is what the binary does.
func TestConfigurationDocMatchesHelp(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "-h")
	if code != 0 {
		t.Fatalf("bridge -h exited %d", code)
	}
	binary := helpVariables(t, out)
	docs := docsVariables(t, filepath.Join(repoRoot, "docs", "configuration.md"))
	for name, def := range binary {
		d, ok := docs[name]
		switch {
		case !ok:
			t.Errorf("docs/configuration.md has no row for %s", name)
		case d != def:
			t.Errorf("%s: docs/configuration.md says default %q, bridge -h says %q", name, d, def)
		}
	}
	for name := range docs {
		if _, ok := binary[name]; !ok {
			t.Errorf("docs/configuration.md documents %s, which the bridge does not read", name)
		}
	}
}

var helpLine = regexp.MustCompile(`^  (BRIDGE_[A-Z0-9_]+)(?: \(default "(.*)"\))?$`)

// helpVariables parses `bridge -h`: variable name → default ("" for none).
func helpVariables(t *testing.T, help string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		if m := helpLine.FindStringSubmatch(sc.Text()); m != nil {
			vars[m[1]] = m[2]
		}
	}
	if len(vars) == 0 {
		t.Fatalf("no variables in the help:\n%s", help)
	}
	return vars
}

var docsRow = regexp.MustCompile("^\\| `(BRIDGE_[A-Z0-9_]+)` \\| ([^|]*) \\|")

// docsVariables parses the variables table of the configuration page: one row per
// variable, the default either `value` or words (empty, required…) meaning none.
func docsVariables(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		m := docsRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := vars[m[1]]; dup {
			t.Errorf("%s: two rows for %s", path, m[1])
		}
		def := strings.TrimSpace(m[2])
		if strings.HasPrefix(def, "`") {
			def = strings.Trim(def, "`")
		} else {
			def = ""
		}
		vars[m[1]] = def
	}
	if len(vars) == 0 {
		t.Fatalf("%s: no variable table", path)
	}
	return vars
}

// specVariables is the table of docs/configuration.md.
var specVariables = []string{
	"BRIDGE_WEBHOOK_SECRET", "BRIDGE_WEBHOOK_SECRET_FILE", "BRIDGE_LISTEN_ADDR", "BRIDGE_WEBHOOK_PATH", "BRIDGE_SINK",
	"BRIDGE_MAX_BODY_BYTES", "BRIDGE_PUBLISH_TIMEOUT", "BRIDGE_MAX_IN_FLIGHT", "BRIDGE_DEDUP_TTL",
	"BRIDGE_SHUTDOWN_TIMEOUT", "BRIDGE_LOG_LEVEL", "BRIDGE_TLS_CERT_FILE", "BRIDGE_TLS_KEY_FILE",
	"BRIDGE_RABBITMQ_URL", "BRIDGE_RABBITMQ_URL_FILE", "BRIDGE_RABBITMQ_TLS_CA_FILE", "BRIDGE_RABBITMQ_TLS_CERT_FILE",
	"BRIDGE_RABBITMQ_TLS_KEY_FILE", "BRIDGE_RABBITMQ_TLS_SERVER_NAME",
	"BRIDGE_RABBITMQ_EXCHANGE", "BRIDGE_RABBITMQ_QUEUE", "BRIDGE_RABBITMQ_QUEUE_TYPE",
	"BRIDGE_NATS_URL", "BRIDGE_NATS_URL_FILE", "BRIDGE_NATS_CREDS_FILE", "BRIDGE_NATS_NKEY_FILE",
	"BRIDGE_NATS_TLS_CA_FILE", "BRIDGE_NATS_TLS_CERT_FILE", "BRIDGE_NATS_TLS_KEY_FILE", "BRIDGE_NATS_REPLICAS",
	"BRIDGE_NATS_EMBEDDED_SYNC", "BRIDGE_NATS_EMBEDDED_TOKEN",
	"BRIDGE_NATS_STREAM", "BRIDGE_NATS_SUBJECT_PREFIX", "BRIDGE_NATS_EMBEDDED_LISTEN",
	"BRIDGE_DATA_DIR", "BRIDGE_SQS_QUEUE_URL", "BRIDGE_SQS_ENDPOINT", "BRIDGE_CE_SOURCE", "BRIDGE_CE_TYPE_PREFIX",
	"BRIDGE_FORWARD_SIGNATURE", "BRIDGE_NATS_EMBEDDED_TLS_CERT_FILE", "BRIDGE_NATS_EMBEDDED_TLS_KEY_FILE",
	"BRIDGE_SENDERS_FILE",
}

// configVariables lists the variables Config reads, as envconfig derives them.
func configVariables(t *testing.T) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := envconfig.Usagef(config.Prefix, &config.Config{}, &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, v := range strings.Fields(buf.String()) {
		switch v {
		case "BRIDGE_RABBITMQ", "BRIDGE_RABBITMQ_TLS", "BRIDGE_NATS", "BRIDGE_NATS_TLS", "BRIDGE_SQS", "BRIDGE_CE": // the nested structs themselves
			continue
		}
		vars = append(vars, v)
	}
	return vars
}

func TestConfigReadsExactlyTheSpecVariables(t *testing.T) {
	t.Parallel()
	got := configVariables(t)
	want := slices.Clone(specVariables)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Config reads\n%v\ndocs/configuration.md lists\n%v", got, want)
	}
}

func TestDocsDocumentEveryVariable(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range specVariables {
		if !bytes.Contains(doc, []byte("`"+v+"`")) {
			t.Errorf("docs/configuration.md does not document %s", v)
		}
	}
}

// `bridge -h` and docs/configuration.md show the same complete senders file, the
// one internal/senders decodes in its tests.
func TestSendersExampleInHelpAndDocs(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "-h")
	if code != 0 {
		t.Fatalf("bridge -h exited %d", code)
	}
	if !strings.Contains(out, senders.Example) {
		t.Errorf("bridge -h does not show the senders file example:\n%s", out)
	}
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```yaml\n"+senders.Example+"```\n") {
		t.Error("docs/configuration.md does not show the senders file example of bridge -h")
	}
}
