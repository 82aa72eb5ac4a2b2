package test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// markdownFiles returns the repository's Markdown files, relative to repoRoot,
// leaving out installed packages and the embedded store.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && skippedDir(d.Name()) && path != repoRoot {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".md") {
			rel, _ := filepath.Rel(repoRoot, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func skippedDir(name string) bool {
	return name == "node_modules" || name == "data" || (strings.HasPrefix(name, ".") && name != ".ci")
}

// mdLink matches inline links and images: [text](target) or [text](target "title").
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// mdHeading matches an ATX heading.
var mdHeading = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)

// proseLines returns the lines of a Markdown file outside fenced code blocks.
func proseLines(text string) []string {
	var lines []string
	fenced := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			lines = append(lines, l)
		}
	}
	return lines
}

// anchors returns the heading anchors of a Markdown file, as GitHub derives them:
// lower case, punctuation dropped, spaces to hyphens.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, l := range proseLines(text) {
		m := mdHeading.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

// Every relative link in the docs must reach a file (and heading) inside the
// repository: the docs are all a user has.
func TestDocsLinksResolve(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files := markdownFiles(t)
	for _, want := range []string{"README.md", "docs/contract.md", "docs/configuration.md"} {
		found := false
		for _, f := range files {
			found = found || filepath.ToSlash(f) == want
		}
		if !found {
			t.Fatalf("%s not found among %v", want, files)
		}
	}
	for _, file := range files {
		text, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range proseLines(string(text)) {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				dest := filepath.Join(root, file)
				if path != "" {
					dest = filepath.Join(filepath.Dir(dest), filepath.FromSlash(path))
				}
				if rel, err := filepath.Rel(root, dest); err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s: link %s leaves the repository", file, target)
					continue
				}
				st, err := os.Stat(dest)
				if err != nil {
					t.Errorf("%s: link %s: %v", file, target, err)
					continue
				}
				if anchor == "" || st.IsDir() {
					continue
				}
				if !strings.HasSuffix(dest, ".md") {
					continue
				}
				destText, err := os.ReadFile(dest)
				if err != nil {
					t.Fatal(err)
				}
				if !anchors(string(destText))[anchor] {
					t.Errorf("%s: link %s: no heading with anchor #%s", file, target, anchor)
				}
			}
		}
	}
}

// outsideRefs are ways of pointing at the planning files this project was specified
// in, which a user of the repository does not have. Built from pieces so that this
// file does not match itself.
var outsideRefs = []string{"SPEC" + ".md", "SPEC" + " §", "../" + "shared", "shared" + "/services", "shared" + "/STYLE", "planning" + " repo", "/work" + "/"}

// Nothing in the repository refers to a file outside it.
func TestNothingRefersOutsideTheRepository(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skippedDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !textFile(d.Name()) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		for i, line := range strings.Split(string(b), "\n") {
			for _, ref := range outsideRefs {
				if strings.Contains(line, ref) {
					t.Errorf("%s:%d refers outside the repository (%q): %s", rel, i+1, ref, strings.TrimSpace(line))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func textFile(name string) bool {
	switch filepath.Ext(name) {
	case ".go", ".md", ".yml", ".yaml", ".json", ".mjs", ".js", ".tpl", ".txt", ".sh", ".toml", ".conf":
		return true
	}
	return name == "Dockerfile" || name == "run" || name == ".gitignore" || name == ".dockerignore" || name == "Makefile"
}

// docBlock returns the fenced code block that follows the line `<!-- test: name -->`
// in a Markdown file of the repository: the commands and configuration the docs
// give, which tests run as they are written.
func docBlock(t *testing.T, file, name string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "<!-- test: "+name+" -->" {
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("%s: the marker %q is not followed by a fenced block", file, name)
		}
		for j := i + 2; j < len(lines); j++ {
			if strings.HasPrefix(lines[j], "```") {
				return strings.Join(lines[i+2:j], "\n") + "\n"
			}
		}
		t.Fatalf("%s: the block after %q does not end", file, name)
	}
	t.Fatalf("%s: no block marked <!-- test: %s -->", file, name)
	return ""
}

// shellWords splits a command line as sh does for plain words, 'single' and
// "double" quoted ones (no expansions), joining lines continued with a backslash.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	line = strings.ReplaceAll(line, "\\\n", " ")
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				t.Fatalf("unterminated quote in %q", line)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
