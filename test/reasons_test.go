package test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Every reason the bridge gives (bridge/reasons.go) is in the contract's table of
// reasons, and the table names no other: operators alert on them.
func TestContractListsEveryReason(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot, "bridge", "reasons.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			v, _ := strconv.Unquote(lit.Value)
			reasons[v] = true
		}
		return true
	})
	if len(reasons) < 20 {
		t.Fatalf("found %d reasons in bridge/reasons.go", len(reasons))
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "contract.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "### Reasons")
	if start < 0 {
		t.Fatal("docs/contract.md has no Reasons section")
	}
	section := doc[start:]
	if end := strings.Index(section[1:], "\n#"); end >= 0 {
		section = section[:end+1]
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if name, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ = strings.Cut(name, "`")
			listed[name] = true
		}
	}
	for r := range reasons {
		if r == "confirmed" || r == "duplicate" {
			if !strings.Contains(section, "`"+r+"`") {
				t.Errorf("the Reasons section does not mention %s", r)
			}
			continue
		}
		if !listed[r] {
			t.Errorf("reason %s is not in the contract's table", r)
		}
	}
	for r := range listed {
		if r != "reason" && !reasons[r] {
			t.Errorf("the contract's table lists %s, which the bridge never gives", r)
		}
	}
}
