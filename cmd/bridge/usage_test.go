package main

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestHelpListsEveryVariableAndExitsZero(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help", "help"} {
		t.Run(arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cli([]string{arg}, &stdout, &stderr, func() int { t.Fatal("help ran the bridge"); return 0 })
			if code != exitOK {
				t.Errorf("bridge %s exited %d, want 0", arg, code)
			}
			if stderr.Len() != 0 {
				t.Errorf("bridge %s wrote to stderr: %s", arg, stderr.String())
			}
			got := helpVariables(t, stdout.String())
			for _, v := range specVariables {
				if _, ok := got[v]; !ok {
					t.Errorf("bridge %s does not list %s", arg, v)
				}
			}
			if !strings.Contains(stdout.String(), "healthcheck") {
				t.Errorf("bridge %s does not list the healthcheck command:\n%s", arg, stdout.String())
			}
			if got["BRIDGE_LISTEN_ADDR"] != ":8080" || got["BRIDGE_RABBITMQ_QUEUE"] != "audiospliter.events" {
				t.Errorf("bridge %s shows wrong defaults: %v", arg, got)
			}
		})
	}
}

func TestUnknownArgumentExitsTwoWithUsage(t *testing.T) {
	for _, args := range [][]string{{"--verbose"}, {"serve"}, {"healthcheck", "now"}} {
		var stdout, stderr bytes.Buffer
		code := cli(args, &stdout, &stderr, func() int { t.Fatal("a bad argument ran the bridge"); return 0 })
		if code != exitConfig {
			t.Errorf("bridge %v exited %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "usage: bridge") || !strings.Contains(stderr.String(), "healthcheck") ||
			!strings.Contains(stderr.String(), "bridge -h") || !strings.Contains(stderr.String(), args[0]) {
			t.Errorf("bridge %v printed no usage on stderr:\n%s", args, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("bridge %v wrote to stdout: %s", args, stdout.String())
		}
	}
}

func TestNoArgumentRunsTheBridge(t *testing.T) {
	ran := false
	if code := cli(nil, &bytes.Buffer{}, &bytes.Buffer{}, func() int { ran = true; return 7 }); code != 7 || !ran {
		t.Fatalf("bridge with no argument: ran=%v code=%d, want the bridge's own status", ran, code)
	}
}

// The configuration page and `bridge -h` must list the same variables with the same
// defaults: the page is what users read, the help is what the binary does.
func TestConfigurationDocMatchesHelp(t *testing.T) {
	var out bytes.Buffer
	usage(&out)
	binary := helpVariables(t, out.String())
	docs := docsVariables(t, "../../docs/configuration.md")
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
