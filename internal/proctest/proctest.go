// Package proctest builds the module's commands and runs them as real processes, for the
// tests of cmd/mnist, cmd/classify and cmd/quantize (like net/http/httptest, a test helper in
// a package of its own): a command is built once per test into a temporary directory, run
// with its exit status, stdout and stderr returned, and its -json results read back.
package proctest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build compiles the command pkg (an import path, or "." for the test's own package) into a
// temporary directory as name and returns its path.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Run runs bin with args and returns its exit status, stdout and stderr.
func Run(t testing.TB, bin string, args ...string) (int, string, string) {
	t.Helper()
	return RunIn(t, bin, "", nil, args...)
}

// RunIn is Run in dir (the test's directory if ""), with env added to the environment.
func RunIn(t testing.TB, bin, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// Accuracies reads the results of a cmd/mnist -json file as row name -> accuracy.
func Accuracies(t testing.TB, path string) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Name     string  `json:"name"`
			Accuracy float64 `json:"accuracy"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m := map[string]float64{}
	for _, r := range doc.Results {
		m[r.Name] = r.Accuracy
	}
	return m
}
