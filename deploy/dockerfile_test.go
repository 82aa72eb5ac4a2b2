package deploy

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// dockerfile is what the checks need from the Dockerfile.
type dockerfile struct {
	stages                     int
	goImage, finalUser         string
	copies                     []string // build-context sources of COPY (not --from)
	env                        map[string]string
	exposes                    []string
	buildOK, healthOK, entryOK bool
}

// parseDockerfile reads the Dockerfile's instructions: comments are dropped before
// line continuations are joined, as Docker's parser does.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := dockerfile{env: map[string]string{}}
	var continued string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			continued += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line = continued + line
		continued = ""
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			d.stages++
			d.finalUser = ""
			d.env = map[string]string{} // ENV does not cross stages
			if strings.HasPrefix(fields[1], "golang:") {
				d.goImage = fields[1]
			}
		case "USER":
			d.finalUser = fields[1]
		case "COPY":
			if !strings.HasPrefix(fields[1], "--from") {
				d.copies = append(d.copies, fields[1:len(fields)-1]...)
			}
		case "RUN":
			if strings.Contains(line, "CGO_ENABLED=0") && strings.Contains(line, "./cmd/bridge") {
				d.buildOK = true
			}
		case "HEALTHCHECK":
			d.healthOK = d.stages > 1 && strings.Contains(line, `CMD ["/bridge", "healthcheck"]`)
		case "ENTRYPOINT":
			d.entryOK = line == `ENTRYPOINT ["/bridge"]`
		case "ENV":
			for _, kv := range fields[1:] {
				k, v, _ := strings.Cut(kv, "=")
				d.env[k] = v
			}
		case "EXPOSE":
			d.exposes = append(d.exposes, fields[1:]...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDockerfile: a multi-stage static build that runs as non-root, checks its
// health with the binary itself, and sets only variables the binary reads.
func TestDockerfile(t *testing.T) {
	known := bridgeVariables(t)
	d := parseDockerfile(t)
	if d.stages < 2 {
		t.Error("not a multi-stage build")
	}
	if u := d.finalUser; u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("final stage runs as %q, want a non-root user", u)
	}
	if !d.buildOK || !d.healthOK || !d.entryOK {
		t.Errorf("static build %v, health check by `bridge healthcheck` %v, entrypoint /bridge %v", d.buildOK, d.healthOK, d.entryOK)
	}
	for k := range d.env {
		if strings.HasPrefix(k, "BRIDGE_") {
			if _, ok := known[k]; !ok {
				t.Errorf("Dockerfile sets %s, which `bridge -h` does not list", k)
			}
		}
		if strings.Contains(k, "TOKEN") || strings.Contains(k, "SECRET") {
			t.Errorf("Dockerfile sets %s: a secret baked into an image is no secret", k)
		}
	}
	port := d.env["BRIDGE_LISTEN_ADDR"][strings.LastIndex(d.env["BRIDGE_LISTEN_ADDR"], ":")+1:]
	if !slices.Contains(d.exposes, port) {
		t.Errorf("listens on %q but exposes %v", d.env["BRIDGE_LISTEN_ADDR"], d.exposes)
	}
	goMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	if goLine == nil || !strings.HasPrefix(d.goImage, "golang:"+string(goLine[1])) {
		t.Errorf("build image %q does not match go.mod's go line", d.goImage)
	}
}

// TestDockerBuildContext applies .dockerignore with the pattern matcher Docker's
// build uses: everything the image build copies and compiles is in the context, and
// the rest (Node packages, the embedded server's data, the deploy module, docs) is not.
func TestDockerBuildContext(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatalf("no .dockerignore: %v", err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(rel string) bool {
		ex, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		return ex
	}

	// What the build needs: the COPY sources, and every Go file of every package of
	// this module that cmd/bridge is built from.
	need := []string{}
	for _, c := range parseDockerfile(t).copies {
		if _, err := os.Stat(filepath.Join(repoRoot, c)); err != nil {
			t.Errorf("COPY %s: not in the repository", c)
		}
		if !strings.HasSuffix(c, "/") && !isDir(filepath.Join(repoRoot, c)) {
			need = append(need, c)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{range .EmbedFiles}} {{.}}{{end}}{{end}}`, "./cmd/bridge")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root := mustAbs(t, repoRoot)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		rel, err := filepath.Rel(root, f[0])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		for _, name := range f[1:] {
			need = append(need, filepath.Join(rel, name))
		}
	}
	if len(need) < 10 {
		t.Fatalf("found only %v to build the bridge from", need)
	}
	for _, n := range need {
		if excluded(n) {
			t.Errorf(".dockerignore leaves out %s, which the image build needs", n)
		}
		if !slices.ContainsFunc(parseDockerfile(t).copies, func(c string) bool {
			c = strings.TrimSuffix(c, "/")
			return n == c || strings.HasPrefix(n, c+"/")
		}) {
			t.Errorf("no COPY brings %s into the build", n)
		}
	}

	// What it must not carry, and how big the context is.
	for _, p := range []string{"node_modules", ".ci/fauxqs/node_modules", "examples/node/node_modules", "data", "deploy", "docs", ".git", "README.md"} {
		if !excluded(p) {
			t.Errorf("the build context includes %s", p)
		}
	}
	var size, files int64
	_ = filepath.WalkDir(repoRoot, func(path string, e fs.DirEntry, err error) error { // errors are skipped inside
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(repoRoot, path)
		if rel == "." {
			return nil
		}
		if e.IsDir() {
			// Docker still walks an excluded directory when a later "!" pattern may
			// bring part of it back; this file's patterns only re-include top-level
			// entries, so an excluded directory can be skipped.
			if excluded(rel) && !slices.ContainsFunc(pm.Patterns(), func(p *patternmatcher.Pattern) bool {
				return p.Exclusion() && strings.HasPrefix(p.String(), rel+"/")
			}) {
				return filepath.SkipDir
			}
			return nil
		}
		if !excluded(rel) {
			if info, err := e.Info(); err == nil {
				size += info.Size()
				files++
			}
		}
		return nil
	})
	t.Logf("build context: %d files, %d KiB", files, size>>10)
	if size > 4<<20 {
		t.Errorf("the build context is %d KiB: .dockerignore lets through more than the Go source", size>>10)
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// TestDockerRunCommentsPaste: each `docker run` in the Dockerfile's comments pastes
// into a shell as it is: every line but the last ends with a continuation, no
// placeholder (…) stands in it, every -e names a variable the bridge reads, and the
// image comes after the options.
func TestDockerRunCommentsPaste(t *testing.T) {
	known := bridgeVariables(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var commands [][]string
	var cmd []string
	for _, line := range strings.Split(string(raw), "\n") {
		text, ok := strings.CutPrefix(line, "#   ")
		if !ok {
			if cmd != nil {
				t.Errorf("docker run ends without a last line: %q", strings.Join(cmd, " "))
				cmd = nil
			}
			continue
		}
		text = strings.TrimSpace(text)
		if cmd == nil && !strings.HasPrefix(text, "docker run ") {
			continue
		}
		if strings.HasSuffix(text, " \\") {
			cmd = append(cmd, strings.TrimSuffix(text, " \\"))
			continue
		}
		cmd = append(cmd, text)
		commands = append(commands, strings.Fields(strings.Join(cmd, " ")))
		cmd = nil
	}
	if len(commands) < 2 {
		t.Fatalf("found %d docker run commands in the Dockerfile's comments, want the broker's and the embedded server's", len(commands))
	}
	for _, words := range commands {
		line := strings.Join(words, " ")
		if strings.Contains(line, "…") || strings.Contains(line, "...") {
			t.Errorf("%q has a placeholder: it does not paste", line)
		}
		image := -1
		for i := 2; i < len(words); i++ {
			switch {
			case words[i] == "-e":
				i++
				name, _, _ := strings.Cut(words[i], "=")
				if _, ok := known[name]; !ok {
					t.Errorf("%q sets %s, which `bridge -h` does not list", line, name)
				}
			case words[i] == "-p" || words[i] == "-v" || words[i] == "--env-file":
				i++
			case strings.HasPrefix(words[i], "-"):
			default:
				image = i
				i = len(words)
			}
		}
		if image < 0 || words[image] != "audiospliter-bridge" {
			t.Errorf("%q: the image audiospliter-bridge does not follow the options", line)
		}
		if rest := words[image+1:]; len(rest) > 0 && !slices.Equal(rest, []string{"check"}) {
			t.Errorf("%q: after the image comes a command the bridge has: %v", line, rest)
		}
	}
}
