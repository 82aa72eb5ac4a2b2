package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's command for what `go test -v` skipped (`awk -f .ci/skips.awk`) names
// each skipped test, subtests and parallel ones included, with the reason it gave:
// run on a module of its own whose tests skip that way.
func TestSkipsCommandShowsSubtestReasons(t *testing.T) {
	t.Parallel()
	awk, err := exec.LookPath("awk")
	if err != nil {
		t.Skip("no awk on this machine")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module skipdemo\n\ngo 1.22\n",
		"skip_test.go": `package skipdemo

import "testing"

func TestTop(t *testing.T) { t.Skip("top-level reason") }

func TestParent(t *testing.T) {
	t.Run("serial", func(t *testing.T) { t.Skip("serial reason") })
	for _, n := range []string{"a", "b"} {
		t.Run(n, func(t *testing.T) {
			t.Parallel()
			t.Skip("parallel reason " + n)
		})
	}
	t.Run("passes", func(t *testing.T) {})
}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gobin, err := goTool()
	if err != nil {
		t.Fatal(err)
	}
	gotest := exec.Command(gobin, "test", "-v", "./...")
	gotest.Dir = dir
	gotest.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	verbose, err := gotest.CombinedOutput()
	if err != nil {
		t.Fatalf("go test -v: %v\n%s", err, verbose)
	}
	filter := exec.Command(awk, "-f", filepath.Join(repoRoot, ".ci", "skips.awk"))
	filter.Stdin = strings.NewReader(string(verbose))
	out, err := filter.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for name, reason := range map[string]string{
		"TestTop": "top-level reason", "TestParent/serial": "serial reason",
		"TestParent/a": "parallel reason a", "TestParent/b": "parallel reason b",
	} {
		i := strings.Index(got, "SKIP "+name+"\n")
		if i < 0 {
			t.Errorf("%s not listed:\n%s", name, got)
			continue
		}
		next := strings.Index(got[i+1:], "SKIP ")
		block := got[i:]
		if next >= 0 {
			block = got[i : i+1+next]
		}
		if !strings.Contains(block, reason) {
			t.Errorf("%s listed without its reason %q:\n%s", name, reason, got)
		}
	}
	if strings.Contains(got, "passes") {
		t.Errorf("a test that passed is listed:\n%s", got)
	}
}
