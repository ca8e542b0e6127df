package moduletest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goStatement matches a Go statement in a package comment's code block: a short variable
// declaration or an error check. Such snippets are never compiled (two of them did not
// compile), so code belongs in Example functions, which go test compiles and runs, and the
// package documentation names them.
var goStatement = regexp.MustCompile(`:=|\berr\b`)

// TestDocsHaveNoGoSnippets checks every package's doc.go for Go code in its comment.
func TestDocsHaveNoGoSnippets(t *testing.T) {
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() != "doc.go" {
			return nil
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "//\t") && goStatement.MatchString(line) {
				t.Errorf("%s:%d: Go code in the package documentation (make it an Example): %s", path, i+1, line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("%d doc.go files under %s, want the packages' (at least 10)", n, root)
	}
}
