package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

// repoRoot is the product's module, one level up from this one.
const repoRoot = ".."

// The deployment files are checked against the bridge itself, not against a list
// copied into this module: the binary is built from the product's source once per
// test run (Go's build cache makes later runs cheap) and asked for its variables with
// `bridge -h`, the same list its unknown-variable warning and docs check use.
var (
	buildOnce  sync.Once
	bridgeBin  string
	buildErr   error
	buildDir   string
	varsOnce   sync.Once
	knownVars  map[string]string // name -> default ("" when none)
	varsErr    error
	helpOutput []byte
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// bridgeBinary builds cmd/bridge from the repository and returns its path.
func bridgeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "deploy-bridge-")
		if buildErr != nil {
			return
		}
		bridgeBin = filepath.Join(buildDir, "bridge")
		cmd := exec.Command("go", "build", "-o", bridgeBin, "./cmd/bridge")
		cmd.Dir = repoRoot
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = &buildError{err: err, out: out.String()}
		}
	})
	if buildErr != nil {
		t.Fatalf("building the bridge from %s: %v", repoRoot, buildErr)
	}
	return bridgeBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// helpVariable matches a variable line of `bridge -h`:
//
//	BRIDGE_LISTEN_ADDR (default ":8080")
var helpVariable = regexp.MustCompile(`^  (BRIDGE_[A-Z0-9_]+)(?: \(default "(.*)"\))?$`)

// bridgeVariables returns every BRIDGE_* variable the binary reads, with its default.
func bridgeVariables(t *testing.T) map[string]string {
	t.Helper()
	bin := bridgeBinary(t)
	varsOnce.Do(func() {
		cmd := exec.Command(bin, "-h")
		cmd.Env = []string{} // the help must not depend on the caller's environment
		helpOutput, varsErr = cmd.Output()
		if varsErr != nil {
			return
		}
		knownVars = map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(helpOutput))
		for sc.Scan() {
			if m := helpVariable.FindStringSubmatch(sc.Text()); m != nil {
				knownVars[m[1]] = m[2]
			}
		}
	})
	if varsErr != nil {
		t.Fatalf("bridge -h: %v", varsErr)
	}
	// A help text that lost its format must not make every check vacuous.
	for _, v := range []string{"BRIDGE_WEBHOOK_SECRET_FILE", "BRIDGE_SHUTDOWN_TIMEOUT", "BRIDGE_SINK", "BRIDGE_NATS_EMBEDDED_TOKEN"} {
		if _, ok := knownVars[v]; !ok {
			t.Fatalf("bridge -h does not list %s; its output was:\n%s", v, helpOutput)
		}
	}
	return knownVars
}
